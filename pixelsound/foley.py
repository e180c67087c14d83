"""Foley: a layered stereo soundtrack for a silent video from what it shows, with stems and an editable cue
sheet -- the ``pixelsound foley`` verb and its Python API.

``pixelsound foley make SILENT.mp4 -o OUT.mp4 [--say "TEXT@SECONDS"]`` (short: ``pixelsound foley SILENT.mp4
-o OUT.mp4``) runs three stages, each in its own module:

1. **spot** (:func:`pixelsound.spotting.detect`): the moving objects, their events (impacts, note onsets),
   what each is (a sound bank prototype or a modal material), the room and an ambience bed -> a cue sheet (a
   plain dict, saved as ``OUT.cues.json``; its schema and validation: :mod:`pixelsound.cues`); the ``--say``
   lines are added as given;
2. **render** (:func:`pixelsound.soundtrack.render`): per object the bank's event-aligned snippets or modal
   impacts, layered with pan, gain and the room's reverb, the ambience bed and the voice (the rest ducked
   while it speaks), levelled to -16 LUFS with true peaks under -1 dBTP; a pure function of the cue sheet;
3. **write** (:meth:`pixelsound.soundtrack.FoleyResult.write`): the video with a stereo AAC soundtrack,
   ``OUT_stems/*.wav`` and ``OUT.cues.json``, all named after the output.

A person can edit the cue sheet -- move, add or delete events, change a material, pan, gain or the room,
mute an object, point a sound at a wav file, swap the ambience, move or add a voice line -- and ``pixelsound
foley render OUT.cues.json -o OUT2.mp4`` renders it again.

Python API, mirroring the verbs::

    from pixelsound.foley import foley, render
    result = foley("silent.mp4", "dubbed.mp4", say=[{"text": "Here it comes", "start": 1.0}])
    result.cues["objects"][0]["pan"] = -0.9; render(result.cues).write("dubbed2.mp4")
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from torch import Tensor

from pixelsound import ambience, checkpoint, io, mixdown, voice
from pixelsound.objectsound import torch_threads
from pixelsound.soundtrack import FoleyResult, render
from pixelsound.spotting import FoleyConfig, Video, detect, load_video

__all__ = ["FoleyConfig", "FoleyResult", "add_arguments", "detect", "foley", "render", "run"]

log = logging.getLogger(__name__)


def foley(
    video: str | Path | Tensor,
    out: str | Path | None = None,
    *,
    model: Any = checkpoint.NO_MODEL,
    bank: Any = None,
    room: str | None = None,
    config: FoleyConfig | None = None,
    fps: float | None = None,
    stems_dir: str | Path | None = None,
    cues_path: str | Path | None = None,
    bed: str | None = None,
    say: list[dict] | None = None,
    mix_original: bool = False,
    tts: voice.Backend | None = None,
) -> FoleyResult:
    """Give a silent video a layered stereo soundtrack: detect, render and (when ``out`` is given) write.

    Args:
        video: a video file, or frames uint8 ``(V, 3, H, W)`` with ``fps``.
        out: output video (h264 + stereo AAC); also writes ``OUT_stems/`` and ``OUT.cues.json`` next to it
            unless ``stems_dir`` / ``cues_path`` say otherwise. None: nothing is written.
        model: release path, SoundOfPixels, None (bundled) or ``"none"`` (the default; see :func:`detect`).
        bank: bank folder or Bank (optional).
        room: room preset (``dry``, ``room``, ``hall``, ``outdoor``); None: from the scene.
        config: :class:`FoleyConfig`.
        fps: frame rate of tensor frames.
        stems_dir, cues_path: where to write stems and the cue sheet.
        bed: ambience bed (:data:`pixelsound.ambience.BEDS` or ``none``); None: from the scene.
        say: voice lines (``{"text", "start"}`` and optionally ``voice``, ``rate``, ``pan``, ``gain_db``).
        mix_original: keep the video's own sound under the new one (else a video with sound gets a warning).
        tts: text-to-speech engine (default espeak-ng).

    Returns:
        :class:`FoleyResult` (``seconds`` holds the time of each stage).
    """
    start = time.monotonic()
    if out is not None:
        io.video_format(out)  # a name no video can be written under fails now, not after the work
    with torch_threads((config or FoleyConfig()).threads):
        clip = load_video(video, fps)
        cues = detect(clip, model=model, bank=bank, room=room, config=config, bed=bed)
        cues["voice"] = [dict(line) for line in say or []]
        if _has_sound(clip):
            if mix_original:
                cues["original"] = {"level_db": 0.0}
            else:
                log.warning(
                    "%s already has sound: the output replaces it (--mix-original keeps it)", clip.path
                )
        detected = round(time.monotonic() - start, 3)
        result = render(cues, video=clip, tts=tts)
        result.seconds["detect"] = detected
        if out is not None:
            result.write(out, stems_dir=stems_dir, cues=cues_path)
    return result


def _has_sound(clip: Video) -> bool:
    """Whether the clip's file has an audio stream (frames in memory have none)."""
    return clip.path is not None and io.probe(clip.path, scan=False).has_audio


# ================================================================================================ CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`pixelsound foley make SILENT.mp4 -o OUT.mp4 ...`, `pixelsound foley render cues.json -o OUT.mp4`.

    ``pixelsound foley SILENT.mp4 ...`` is short for ``foley make SILENT.mp4 ...`` (the verb's
    ``default_action`` in :data:`pixelsound.cli.VERBS`).
    """
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = sub.add_parser("make", help="detect objects and events in a silent video and give it a soundtrack")
    make.add_argument("input", help="a silent video")
    render_ = sub.add_parser("render", help="render an (edited) cue sheet again")
    render_.add_argument("cues_file", help="the cue sheet to render")
    for p in (make, render_):
        p.add_argument("-o", "--out", required=True, type=Path, help="output video (mp4, stereo AAC)")
        p.add_argument("--stems", type=Path, help="stems folder (default: OUT_stems/ next to the output)")
        p.add_argument(
            "--cues", type=Path, help="cue sheet to write (default: OUT.cues.json next to the output)"
        )
    make.add_argument(
        "--model",
        type=Path,
        default=checkpoint.NO_MODEL,
        help="release folder or checkpoint (regions' visual vectors)",
    )
    make.add_argument("--bank", type=Path, help="sound bank folder (`pixelsound bank build`)")
    make.add_argument("--room", choices=sorted(mixdown.ROOMS), help="room preset (default: from the scene)")
    make.add_argument(
        "--ambience",
        choices=[*ambience.BEDS, ambience.NONE],
        help="environment bed (default: from the scene; 'none': no bed)",
    )
    make.add_argument("--ambience-db", type=float, help="bed loudness relative to the objects, LU")
    make.add_argument(
        "--say",
        action="append",
        default=[],
        metavar="TEXT@SECONDS",
        help="a voice line starting at SECONDS (repeatable), e.g. --say 'Here comes the drum@1.0'",
    )
    make.add_argument("--voice", default="", help="espeak-ng voice for --say lines (e.g. en-us, fr, en+f3)")
    make.add_argument("--duck-db", type=float, default=10.0, help="how far the rest drops under speech")
    make.add_argument(
        "--mix-original", action="store_true", help="keep the video's own sound under the new one"
    )
    make.add_argument("--target-lufs", type=float, default=-16.0, help="loudness target (default -16)")
    make.add_argument("--sample-rate", type=int, default=44100, help="soundtrack rate (default 44100)")
    make.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    io.video_format(args.out)  # a name no video can be written under fails now, not after the work
    if args.action == "render":
        result = render(args.cues_file)
        paths = result.write(args.out, stems_dir=args.stems, cues=args.cues, write_cues=args.cues is not None)
        _summary(result, paths.get("video", args.out))
        return 0
    lines = [{**voice.parse_say(s), "voice": args.voice} for s in args.say]
    cfg = FoleyConfig(
        sample_rate=args.sample_rate,
        target_lufs=args.target_lufs,
        seed=args.seed,
        ambience_db=args.ambience_db,
        duck_db=args.duck_db,
    )
    result = foley(
        args.input,
        args.out,
        model=args.model,
        bank=args.bank,
        room=args.room,
        config=cfg,
        stems_dir=args.stems,
        cues_path=args.cues,
        bed=args.ambience,
        say=lines,
        mix_original=args.mix_original,
    )
    _summary(result, args.out)
    return 0


def _summary(result: FoleyResult, written: str | Path) -> None:
    """What was rendered, one log line per layer."""
    cues = result.cues
    for obj in cues["objects"]:
        kind = obj["sound"]["kind"]
        log.info("%s: %s (%s), %d events, pan %+.2f", obj["id"], obj.get("label"), kind, len(obj["events"]),
                 obj["pan"])  # fmt: skip
    if cues.get("ambience"):
        log.info("ambience: %s at %+.0f LU", cues["ambience"]["name"], cues["ambience"]["level_db"])
    for line, (t0, t1) in zip(cues["voice"], result.spans, strict=False):
        log.info("voice: %r %.2f-%.2f s", line["text"], t0, t1)
    log.info(
        "room %s, %.1f LUFS, true peak %.1f dBTP; wrote %s",
        cues["room"], result.loudness, result.true_peak, written,
    )  # fmt: skip
