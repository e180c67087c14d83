"""A cue sheet rendered into a layered stereo soundtrack, and written out (video, stems, cue sheet).

:func:`render` is a pure function of the cue sheet (checked first as a whole by
:func:`pixelsound.cues.validate`):

* per object (:func:`pixelsound.objectsound.object_track`), the bank prototype's snippets, modal impacts or a
  sample file at its events, panned and summed one object at a time
  (:class:`pixelsound.objectsound.ObjectSounds`: memory ``O(L)`` however many objects);
* the objects' bus mixed by :func:`pixelsound.mixdown.mix_bus` (the room's shared reverb) with the ambience
  bed (:mod:`pixelsound.ambience`, levelled under the objects), the voice (:mod:`pixelsound.voice`) and
  optionally the video's own sound, everything else ducked while the voice speaks, and BS.1770 loudness to
  the target with true peaks under the ceiling; each object's stem is rendered again when written
  (:class:`pixelsound.objectsound.Stems`).

:meth:`FoleyResult.write` writes the video with a stereo AAC soundtrack, ``OUT_stems/*.wav`` (one per
object, the reverb return, the ambience bed, the voice) and ``OUT.cues.json``, all named after the output.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import ambience, io, mixdown, voice
from pixelsound.cues import CueError, safe_name, validate
from pixelsound.objectsound import ObjectSounds, Stems, resolve, torch_threads
from pixelsound.spotting import Video, load_video


@dataclass
class FoleyResult:
    """A rendered soundtrack and what made it.

    Attributes:
        audio: the stereo master, float32 ``(2, L)``.
        sample_rate: Hz.
        stems: each object's panned track at master gain (and ducking), ``(2, L)`` per object, rendered when
            asked for (:class:`Stems`; ``stems.stack()`` gives ``(N, 2, L)``).
        reverb: the shared reverb return, ``(2, L)``.
        cues: the cue sheet that was rendered (defaults filled in, see :mod:`pixelsound.cues`).
        loudness: integrated loudness of ``audio``, LUFS.
        true_peak: estimated true peak of ``audio``, dBTP.
        seconds: wall time of each stage (detect, render, write).
        video: the decoded video when it is in memory (else :meth:`write` decodes ``source``).
        source: the video file the cue sheet names, resolved against the cue sheet's folder.
        layers: the other stems at master gain, ``name -> (2, L)``: ``ambience``, ``voice``, ``original``.
        duck: the ducking gain on everything but the voice, ``(L,)`` (None without a voice).
        gain_db: the master gain.
        spans: ``(start, end)`` seconds of each voice line as placed.
    """

    audio: Tensor
    sample_rate: int
    stems: Stems
    reverb: Tensor
    cues: dict[str, Any]
    loudness: float
    true_peak: float
    seconds: dict[str, float] = field(default_factory=dict)
    video: Video | None = None
    source: Path | None = None
    layers: dict[str, Tensor] = field(default_factory=dict)
    duck: Tensor | None = None
    gain_db: float = 0.0
    spans: list[tuple[float, float]] = field(default_factory=list)

    def write(
        self,
        out: str | Path | None = None,
        *,
        stems_dir: str | Path | None = None,
        cues: str | Path | None = None,
        write_cues: bool = True,
    ) -> dict[str, Any]:
        """Write the dubbed video, the stems and the cue sheet, named after the output so that two renders
        into one folder keep their own.

        Args:
            out: output video (mp4: h264 + stereo AAC); None writes no video.
            stems_dir: folder for ``<id>_<label>.wav`` per object, ``reverb.wav``, ``ambience_<name>.wav``,
                ``voice.wav`` (default: ``OUT_stems/`` next to ``out``).
            cues: cue sheet path (default: ``OUT.cues.json`` next to ``out``).
            write_cues: False leaves the cue sheet unwritten (re-rendering an edited one).

        Returns:
            Paths written: ``{"video": ..., "stems": [...], "cues": ...}``.
        """
        start = time.monotonic()
        stems_dir, cues = default_paths(out, stems_dir, cues)
        written: dict[str, Any] = {}
        if out is not None and self.video is None and self.source is None:
            raise CueError("the cue sheet names no video to put the soundtrack on ('video' is empty)")
        if stems_dir is not None:  # stems and cues first: a video the encoder refuses does not lose them
            written["stems"] = self._write_stems(stems_dir)
        if cues is not None and write_cues:
            Path(cues).parent.mkdir(parents=True, exist_ok=True)
            Path(cues).write_text(dump_cues(self.cues))
            written["cues"] = str(cues)
        if out is not None:
            clip = self.video or load_video(self.source)
            regular = np.allclose(
                clip.times - clip.times[0], np.arange(len(clip.times)) / clip.fps, atol=1e-3
            )
            times = None if regular else (clip.times - clip.times[0]).tolist()
            io.write_video(out, clip.frames, clip.fps, self.audio, self.sample_rate, times=times)
            written["video"] = str(out)
        self.seconds["write"] = round(time.monotonic() - start, 3)
        return written

    def stem_names(self) -> list[str]:
        """File names of the stems (made safe from the cue sheet, never a path, unique), in the order of
        ``stems`` then ``reverb`` then ``layers``."""
        names = [
            f"{safe_name(o['id'])}_{safe_name(o.get('label') or 'sound', 'sound')}"
            for o in self.cues["objects"]
        ]
        names.append("reverb")
        bed = (self.cues.get("ambience") or {}).get("name", "")
        names += [f"ambience_{safe_name(bed, 'bed')}" if k == "ambience" else k for k in self.layers]
        seen: dict[str, int] = {}
        out = []
        for name in names:
            seen[name] = seen.get(name, 0) + 1
            out.append(f"{name}-{seen[name]}.wav" if seen[name] > 1 else f"{name}.wav")
        return out

    def _write_stems(self, folder: str | Path) -> list[str]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        inside = folder.resolve()
        paths = []
        waves = itertools.chain(
            self.stems, [self.reverb], self.layers.values()
        )  # one stem in memory at a time
        names = self.stem_names()
        for name, wave in zip(
            tqdm(names, desc="stems", unit="stem", disable=len(names) < 64), waves, strict=True
        ):
            path = folder / name
            if path.resolve().parent != inside:  # safe_name makes this impossible; kept as a guard
                raise CueError(f"stem name {name!r} would be written outside {folder}")
            io.write_audio(path, wave.clamp(-1, 1), self.sample_rate)
            paths.append(str(path))
        return paths


def default_paths(
    out: str | Path | None, stems_dir: str | Path | None, cues: str | Path | None
) -> tuple[Path | None, Path | None]:
    """Stems folder and cue sheet path: as given, else ``OUT_stems/`` and ``OUT.cues.json`` beside ``out``."""
    if out is None:
        return (Path(stems_dir) if stems_dir else None), (Path(cues) if cues else None)
    out = Path(out)
    stems = Path(stems_dir) if stems_dir is not None else out.with_name(f"{out.stem}_stems")
    return stems, Path(cues) if cues is not None else out.with_name(f"{out.stem}.cues.json")


def dump_cues(cues: dict[str, Any]) -> str:
    """The cue sheet as JSON for people: two-space indents, with number lists and events on one line each."""
    text = json.dumps(cues, indent=2)
    text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    return re.sub(
        r"\{\s+(\"time\"[^{}\[\]]*?)\s+\}", lambda m: "{" + " ".join(m.group(1).split()) + "}", text
    )


def render(
    cues: dict[str, Any] | str | Path,
    *,
    video: Video | None = None,
    base: str | Path | None = None,
    threads: int = 1,
    tts: voice.Backend | None = None,
) -> FoleyResult:
    """Render a cue sheet into a stereo soundtrack (a pure function of the cue sheet).

    Args:
        cues: the cue sheet, or a path to a cue file (relative paths inside it are relative to its folder).
        video: the decoded video, when already in memory (only used by :meth:`FoleyResult.write`).
        base: folder relative paths in the cue sheet (its video, sample files, bank) refer to (default: the
            cue file's folder).
        threads: torch threads while rendering (see :class:`FoleyConfig`).
        tts: text-to-speech engine for the voice lines (default :class:`pixelsound.voice.EspeakNG`).

    Returns:
        :class:`FoleyResult`.

    Raises:
        CueError: a malformed cue sheet (the message names the file and the key), checked before rendering.
        VoiceError: the voice lines cannot be spoken (no espeak-ng, an unknown voice).
    """
    with torch_threads(threads):
        start = time.monotonic()
        cues, base = _read_cues(cues, base)
        sr = cues["sample_rate"]
        length = max(1, int(round(float(cues["duration"]) * sr)))
        sounds = ObjectSounds.of(cues, length, base, threads)
        bus = sounds.bus()  # (2, L)
        spoken = voice.voice_track(cues["voice"], length, sr, tts) if cues["voice"] else None
        layers = _layers(cues, length, base, video, spoken)
        d = cues["duck"]
        mix = mixdown.mix_bus(
            bus,
            cues["room"],
            sr,
            target_lufs=cues["target_lufs"],
            peak_db=cues["peak_db"],
            seed=cues["seed"],
            layers=layers,
            duck=mixdown.Duck(d["depth_db"], d["attack"], d["release"], d["hold"], d["threshold_db"]),
        )
        return FoleyResult(
            mix.audio,
            sr,
            Stems(sounds, mix),
            mix.reverb,
            cues,
            mix.loudness,
            mix.true_peak,
            {"render": round(time.monotonic() - start, 3)},
            video,
            resolve(cues["video"], base) if cues.get("video") else None,
            mix.layers,
            mix.duck,
            mix.gain_db,
            spoken.spans if spoken else [],
        )


def _layers(cues: dict, length: int, base: Path | None, video: Video | None, spoken) -> list[mixdown.Layer]:
    """The stereo layers beside the objects: ambience bed, voice, the video's own sound."""
    sr, layers = cues["sample_rate"], []
    bed = cues.get("ambience")
    if bed:
        wave = ambience.bed(
            bed["name"], length, sr, seed=bed["seed"], width=bed["width"], params=bed["params"]
        )
        layers.append(mixdown.Layer("ambience", wave, bed["level_db"]))
    if spoken is not None:
        layers.append(mixdown.Layer("voice", spoken.audio, cues["voice_db"], mixdown.LINE_LUFS, False, True))
    if cues.get("original"):
        wave = original_sound(cues, length, base, video)
        layers.append(mixdown.Layer("original", wave, cues["original"]["level_db"]))
    return layers


def original_sound(cues: dict, length: int, base: Path | None, video: Video | None) -> Tensor:
    """The video's own soundtrack at the cue sheet's rate, stereo (mono doubled, more channels downmixed:
    :func:`pixelsound.io.downmix`), cut or padded to ``length``. Shapes: -> ``(2, length)``."""
    path = (video.path if video is not None else None) or (
        resolve(cues["video"], base) if cues.get("video") else None
    )
    if path is None:
        raise CueError("cue sheet: 'original' mixes the video's own sound, but 'video' is empty")
    wave = io.read_audio(path, cues["sample_rate"], mono=False)  # (C, L')
    wave = wave.expand(2, -1) if len(wave) == 1 else io.downmix(wave)
    out = torch.zeros(2, length)
    out[:, : min(length, wave.shape[1])] = wave[:, :length]
    return out


def _read_cues(cues: dict | str | Path, base: str | Path | None) -> tuple[dict, Path | None]:
    """The cue sheet validated as a whole with its defaults filled (:func:`pixelsound.cues.validate`), and
    the folder its paths refer to."""
    if isinstance(cues, (str, Path)):
        path = Path(cues)
        try:
            data = json.loads(path.read_text())
        except OSError as err:
            raise CueError(f"{path}: cannot read the cue sheet ({err.strerror or err})") from None
        except ValueError as err:
            raise CueError(f"{path}: not valid JSON ({err})") from None
        return validate(data, str(path)), Path(base) if base else path.parent.resolve()
    return validate(cues, "cue sheet"), Path(base) if base else None
