"""Foley: a layered stereo soundtrack for a silent video from what it shows, with stems and an editable cue
sheet.

``pixelsound foley make SILENT.mp4 -o OUT.mp4 [--say "TEXT@SECONDS"]`` runs three stages, each readable on
its own:

1. **detect** (:func:`detect`) -> a cue sheet (a plain dict, saved as ``OUT.cues.json``; its schema and
   validation: :mod:`pixelsound.cues`):

   * *objects* (:mod:`pixelsound.events`): regions where something moves, from the per-pixel colour
     distance to the rest pose (the median frame, :func:`pixelsound.events.displacement`), thresholded,
     accumulated over time and split into connected components (pieces that stay in place and move in step
     are merged); each keeps a box per frame;
   * *events* per object (:func:`pixelsound.events.object_events`): a thing that travels across the frame
     (a ball, a box) is followed by its colours and gets an event at every contact, the smallest hops
     included, timed from its trajectory at sub-frame precision, with a strength from the change of
     velocity; a thing that moves about a place (an instrument that bounces, tilts, swells or kicks on each
     note, and may sway) gets an event where its motion starts abruptly, placed between frames;
   * *what it is*: with a model, the clip vector of a crop around the region (:func:`region_features`) is
     looked up in a sound bank (:mod:`pixelsound.bank`: nearest visual prototype) and compared with the
     release's category prototypes; otherwise a material is guessed from the region's colour and its size
     from its box, for modal synthesis;
   * *environment*: a room preset (``dry``, ``room``, ``hall``, ``outdoor``) from the scene's rest pose (sky,
     darkness, a plain backdrop) unless ``--room`` says, and an ambience bed from the room and the scene's
     statistics (:func:`pixelsound.ambience.choose`) unless ``--ambience`` says;
   * *voice*: the ``--say`` lines, as given;

2. **choose sounds and render** (:func:`render`): per object, the bank prototype's event-aligned snippets
   (the one closest in strength for each event, cut at the next event) or modal impacts
   (:mod:`pixelsound.modal`: material, size, speed from the event's strength); the tracks are layered by
   :func:`pixelsound.mixdown.mixdown` (constant-power pan from the horizontal position, gain from the size on
   screen, the room's shared reverb) with the ambience bed (:mod:`pixelsound.ambience`, levelled under the
   objects) and the voice (:mod:`pixelsound.voice`, espeak-ng), everything else ducked while it speaks, and
   BS.1770 loudness to -16 LUFS with true peaks under -1 dBTP;

3. **write** (:meth:`FoleyResult.write`): the video with a stereo AAC soundtrack, ``OUT_stems/*.wav`` (one per
   object, the reverb return, the ambience bed, the voice) and ``OUT.cues.json``, all named after the output.
   A person can edit the cue sheet -- move, add or delete events, change a material, pan, gain or the room,
   mute an object, point a sound at a wav file, swap the ambience, move or add a voice line -- and
   ``pixelsound foley render OUT.cues.json -o OUT2.mp4`` renders it again; rendering is a pure function of
   the cue sheet.

Python API, mirroring the verbs::

    from pixelsound.foley import foley, render
    result = foley("silent.mp4", "dubbed.mp4", say=[{"text": "Here it comes", "start": 1.0}])
    result.cues["objects"][0]["pan"] = -0.9; render(result.cues).write("dubbed2.mp4")
"""

from __future__ import annotations

import argparse
import colorsys
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import ambience, events, mixdown, modal, voice
from pixelsound.cues import CueError, safe_name, validate

log = logging.getLogger(__name__)

CUES_VERSION = 1
SIZE_UNIT = 0.18  # a thing whose larger side is this fraction of the frame height has modal size 1
CROP_MARGIN = 1.2  # an object's crop for its visual vector is this much larger than its region's box
VIEWS = 4  # an object's visual vector is the mean clip vector of this many moments spread over the clip


@dataclass(frozen=True)
class FoleyConfig:
    """Settings of detection and rendering.

    Attributes:
        sample_rate: soundtrack rate.
        target_lufs: integrated loudness of the soundtrack.
        peak_db: true-peak ceiling, dBTP.
        analysis_side: analysis frames are scaled so their longer side is at most this (pixels).
        max_objects: most objects kept (the most active first).
        min_area: a region must cover this fraction of the frame.
        active: displacement (grey level, 0..1) above which a pixel counts as moving.
        prominence: motion-onset peaks must stand this fraction of the curve's range above their surroundings.
        min_interval: seconds between two events of one object at least.
        seed: seed of sound variations (snippet choice, modal seeds, reverb).
        threads: torch threads while detecting and rendering (0: leave as is). Foley is long 1-D signal
            work that gains little from more threads and loses much when they compete on a busy machine.
        ambience_db: loudness of the ambience bed relative to the objects, LU (None: the bed's default).
        voice_db: loudness of a voice line at 0 dB gain relative to the objects, LU.
        duck_db: how far everything else drops while a voice speaks.
    """

    sample_rate: int = 44100
    target_lufs: float = -16.0
    peak_db: float = -1.0
    analysis_side: int = 256
    max_objects: int = 4
    min_area: float = 0.002
    active: float = 0.08
    prominence: float = 0.2
    min_interval: float = 0.08
    seed: int = 0
    threads: int = 1
    ambience_db: float | None = None
    voice_db: float = 3.0
    duck_db: float = 10.0


# ================================================================================================ detection


def analysis_frames(frames: Tensor, side: int) -> Tensor:
    """Frames scaled so their longer side is at most ``side``. ``(V, 3, H, W) -> (V, 3, h, w)``."""
    from pixelsound.io import resize_frames

    h, w = frames.shape[-2:]
    scale = min(1.0, side / max(h, w))
    return (
        resize_frames(frames, (max(8, round(h * scale)), max(8, round(w * scale)))) if scale < 1 else frames
    )


@dataclass(frozen=True)
class ObjectEvents:
    """Events of one object: how they were found, times (s) and speeds in [0, 1]."""

    detector: str
    times: np.ndarray
    speeds: np.ndarray


def object_events(
    track: events.Track, frames: Tensor, maps: np.ndarray, times: np.ndarray, cfg: FoleyConfig
) -> ObjectEvents:
    """Impacts of a travelling thing or note onsets of a thing moving about a place
    (:func:`pixelsound.events.object_events`), with strengths for the sounds.

    Args:
        track: the region.
        frames: analysis frames, uint8 ``(V, 3, h, w)``.
        maps: :func:`pixelsound.events.displacement` maps ``(V, h, w)``.
        times: timestamp of each analysis frame, ``(V,)``.
        cfg: the moving-pixel threshold.
    """
    fps = (len(times) - 1) / max(times[-1] - times[0], 1e-9) if len(times) > 1 else 25.0
    detector, found = events.object_events(track, frames, maps, fps, active=cfg.active, t0=float(times[0]))
    return ObjectEvents(detector, found.times, found.strengths)


def guess_room(rest: Tensor) -> str:
    """A room preset from a scene's rest pose (uint8 ``(3, h, w)``): sky in the upper third -> ``outdoor``; a
    plain backdrop -> ``dry``; a dark scene -> ``hall``; else ``room``."""
    rgb = rest.permute(1, 2, 0).numpy().astype(np.float64) / 255  # (h, w, 3)
    hsv = np.stack(np.vectorize(colorsys.rgb_to_hsv)(rgb[..., 0], rgb[..., 1], rgb[..., 2]), -1)
    top = hsv[: max(1, len(hsv) // 3)]
    sky = (top[..., 0] > 0.5) & (top[..., 0] < 0.7) & (top[..., 1] > 0.25) & (top[..., 2] > 0.6)
    if sky.mean() > 0.5:
        return "outdoor"
    plain = np.abs(rgb - np.median(rgb.reshape(-1, 3), 0)).max(-1) < 0.05
    if plain.mean() > 0.9:  # nine tenths of the scene within 5 % of one colour
        return "dry"
    if hsv[..., 2].mean() < 0.35:
        return "hall"
    return "room"


# ================================================================================================ what it is


@torch.inference_mode()
def region_features(model, frames: Tensor, masks: list[np.ndarray]) -> list[Tensor]:
    """Visual vector of each region: the model's clip vector of a square crop around it.

    The crop is CROP_MARGIN times the region's box (moved inside the frame where needed), resized to the
    model's frame size, so each object is seen as training showed things: one instrument filling much of
    the frame; the vector is the mean of the clip vectors of VIEWS moments spread over the clip. (Pooling
    per-pixel features over the region instead gave 6 of 15 solo and 8 of 30 duet instruments the right
    category with the first bundled model (recipe v1); crops gave 14 of 15 and 26 of 30; the margin was
    chosen on a separate data set.)

    Args:
        model: a :class:`pixelsound.model.SoundOfPixels`.
        frames: uint8 ``(V, 3, H, W)``.
        masks: region masks ``(h_a, w_a)`` on any grid with the frames' aspect (scaled to the frames).

    Returns:
        ``(K,)`` per region.
    """
    from pixelsound.io import resize_frames

    cfg = model.cfg
    v = cfg.frames.num_frames
    picks = torch.linspace(0, len(frames) - 1, VIEWS * v).round().long()  # VIEWS clips of v frames each
    h, w = frames.shape[-2:]
    out = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        scale = w / mask.shape[1]
        side = min(
            h, w, int(round(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * scale * CROP_MARGIN))
        )
        y0 = int(np.clip((ys.min() + ys.max() + 1) / 2 * scale - side / 2, 0, h - side))
        x0 = int(np.clip((xs.min() + xs.max() + 1) / 2 * scale - side / 2, 0, w - side))
        crops = resize_frames(frames[picks, :, y0 : y0 + side, x0 : x0 + side], cfg.frames.size)
        views = crops.unflatten(0, (VIEWS, 1, v))  # (VIEWS, 1, V, 3, S, S): a few moments of the clip
        out.append(model.encode_frames(views)[:, 0].mean(0))
    return out


def _category_prototypes(model_path: str | Path | None) -> dict[str, Tensor] | None:
    """Category prototypes stored with a release (``info.prototypes``), if any."""
    if model_path is None:
        return None
    try:
        from pixelsound.objects import release_prototypes
    except ImportError:  # pragma: no cover - objects is part of the package
        return None
    return release_prototypes(model_path)


def _nearest_category(feature: Tensor, prototypes: dict[str, Tensor]) -> tuple[str, float]:
    names = list(prototypes)
    bank = torch.stack([prototypes[n].float() for n in names])  # (C, K)
    sims = torch.nn.functional.cosine_similarity(bank, feature.float()[None], dim=1)
    best = int(sims.argmax())
    return names[best], float(sims[best])


# ================================================================================================ cue sheet


def _json_box(box: np.ndarray, scale: float) -> list[float]:
    return [round(float(v) * scale, 1) for v in box]


def object_cue(
    k: int, track: events.Track, found: ObjectEvents, grid: tuple[int, int], scale: float, seed: int
) -> dict[str, Any]:
    """The cue-sheet entry of one object: where it is, its events and (so far) a modal sound.

    Args:
        k: object number.
        track: its region.
        found: its events.
        grid: analysis frame ``(h, w)``.
        scale: analysis pixels -> video pixels.
        seed: the sound seed.
    """
    h, w = grid
    ys, xs = np.nonzero(track.mask)
    seen = track.boxes[~np.isnan(track.boxes[:, 0])]
    size = (
        float(np.median(np.maximum(seen[:, 2] - seen[:, 0], seen[:, 3] - seen[:, 1]))) if len(seen) else 1.0
    )
    area = (
        float(np.median((seen[:, 2] - seen[:, 0]) * (seen[:, 3] - seen[:, 1]))) / (h * w)
        if len(seen)
        else 0.0
    )
    x = float((xs.min() + xs.max() + 1) / 2 / w)
    material, confidence = events.material_from_look(track.colour)
    return {
        "id": f"object{k}",
        "label": material,
        "category": None,
        "box": _json_box(np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]), scale),
        "x": round(x, 4),
        "area": round(area, 5),
        "colour": [round(c, 3) for c in track.colour],
        "detector": found.detector,
        "pan": round(float(mixdown.pan_from_x(x)), 3),
        "gain_db": round(float(mixdown.distance_gain(area)), 2),
        "mute": False,
        "sound": {
            "kind": "modal",
            "material": material,
            "material_confidence": confidence,  # from its look: correct "material" where this is low
            "size": round(size / (SIZE_UNIT * h), 3),
            "seed": seed,
        },
        "events": [
            {"time": round(float(t), 4), "strength": round(float(s), 3)}
            for t, s in zip(found.times, found.speeds, strict=True)
        ],
    }


def _attach_identity(cue: dict, feature: Tensor | None, bank, prototypes: dict | None, rng) -> None:
    """Name an object and, when the bank has a prototype its look matches, give it that prototype's sounds.

    The category comes from the release's category prototypes when it has them (then the bank prototype is
    looked for among that category's, and a category the bank lacks keeps modal sounds), else from the bank
    prototype; a look farther from the prototype than its radius keeps modal sounds too.
    """
    if feature is None:
        return
    if prototypes:
        cue["category"], _ = _nearest_category(feature, prototypes)
        cue["label"] = cue["category"]
    if bank is None or (prototypes and cue["category"] not in bank.categories):
        return  # no bank, or no bank prototype of this category: better an impact than another's sound
    proto, dist = bank.nearest(feature, cue["category"])
    if not bank.accepts(proto, dist):
        return
    cue["category"] = bank.categories[proto] or cue["category"]
    cue["sound"] = {"kind": "bank", "prototype": proto, "distance": round(dist, 4)}
    for event in cue["events"]:
        event["snippet"] = bank.choose(proto, event["strength"], rng)
    cue["label"] = cue["category"] or f"prototype{proto}"


@dataclass
class Video:
    """Decoded frames and their timestamps (and the file they came from, if any)."""

    frames: Tensor  # uint8 (V, 3, H, W)
    times: np.ndarray  # (V,) seconds
    fps: float
    path: str | None = None

    @property
    def duration(self) -> float:
        return float(self.times[-1] + 1 / self.fps) if len(self.times) else 0.0


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` torch threads (0: unchanged), restoring the previous count after."""
    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_video(video: str | Path | Tensor | Video, fps: float | None = None) -> Video:
    """Decode a video file (all frames), or wrap frames ``(V, 3, H, W)`` given with their ``fps``.

    Raises:
        MediaError: the file cannot be read or has no video stream.
        ValueError: frames without fps, or of the wrong shape.
    """
    if isinstance(video, Video):
        return video
    if isinstance(video, Tensor):
        if fps is None or fps <= 0 or video.dim() != 4 or video.shape[1] != 3 or video.dtype != torch.uint8:
            raise ValueError(
                f"foley: frames must be uint8 (V, 3, H, W) with fps > 0, got {tuple(video.shape)}, fps={fps}"
            )
        return Video(video, np.arange(len(video)) / fps, float(fps))
    from pixelsound import io

    info = io.probe(video)
    if not info.has_video:
        raise io.MediaError(video, "no video stream")
    frames, used = io.read_frames(video)
    if len(frames) < 3:
        raise io.MediaError(video, f"too short for Foley: {len(frames)} frames")
    return Video(frames, used.numpy(), info.fps, str(Path(video).resolve()))


def _load_model(model: Any):
    """A model in eval mode from a path (release or checkpoint) or as given; None stays None."""
    if model is None or not isinstance(model, (str, Path)):
        return model.eval() if model is not None else None
    from pixelsound.checkpoint import load_release

    return load_release(model)[0]


def _load_bank(bank: Any):
    if bank is None or not isinstance(bank, (str, Path)):
        return bank
    from pixelsound.bank import Bank

    return Bank.load(bank)


def detect(
    video: str | Path | Tensor | Video,
    *,
    model: Any = None,
    bank: Any = None,
    room: str | None = None,
    config: FoleyConfig | None = None,
    fps: float | None = None,
    bed: str | None = None,
) -> dict[str, Any]:
    """Find the sounding objects, their events and the room of a silent video: the cue sheet.

    Args:
        video: a video file, a :class:`Video`, or frames uint8 ``(V, 3, H, W)`` (then ``fps`` is needed).
        model: release folder / checkpoint path or a loaded SoundOfPixels (optional): region visual vectors
            for the bank and categories. Default with a bank: the bank's model.
        bank: bank folder or :class:`pixelsound.bank.Bank` (optional): learned sounds.
        room: a room preset; None picks one from the scene.
        config: detection settings.
        fps: frame rate of tensor frames.
        bed: an ambience bed (:mod:`pixelsound.ambience`, or ``none``); None picks one from the scene.

    Returns:
        The cue sheet (JSON-ready dict), see the module docstring.
    """
    cfg = config or FoleyConfig()
    clip = load_video(video, fps)
    bank = _load_bank(bank)
    if model is None and bank is not None and bank.info.get("model"):
        model = bank.info["model"]
    model_path = str(model) if isinstance(model, (str, Path)) else None
    net = _load_model(model)
    small = analysis_frames(clip.frames, cfg.analysis_side)  # (V, 3, h, w)
    maps = events.displacement(small)  # (V, h, w)
    tracks = events.find_tracks(
        small, maps, active=cfg.active, min_area=cfg.min_area, max_objects=cfg.max_objects
    )
    scale = clip.frames.shape[-1] / small.shape[-1]
    cues = []
    short = clip.duration < 60  # progress bars for long videos only
    for k, track in enumerate(tqdm(tracks, desc="foley: events", unit="object", disable=short)):
        found = object_events(track, small, maps, clip.times, cfg)
        cues.append(object_cue(k, track, found, tuple(small.shape[-2:]), scale, cfg.seed * 100 + k))
    features = (
        region_features(net, clip.frames, [t.mask for t in tracks]) if net is not None and tracks else []
    )
    rng = np.random.default_rng(cfg.seed)
    prototypes = _category_prototypes(model_path)
    for cue, feature in zip(cues, features, strict=False):
        _attach_identity(cue, feature, bank, prototypes, rng)
    rest = torch.from_numpy(np.median(small.numpy(), 0)).round().to(torch.uint8)  # (3, h, w)
    chosen = mixdown.room(room).name if room else guess_room(rest)
    for cue in cues:  # sub-frame timing may land a hair outside the clip; the cue sheet's range is [0, end]
        for event in cue["events"]:
            event["time"] = min(max(event["time"], 0.0), round(clip.duration, 4))
    scene = ambience.scene_stats(rest, float((maps > cfg.active).mean()))
    return {
        "version": CUES_VERSION,
        "video": clip.path,
        "duration": round(clip.duration, 4),
        "fps": round(clip.fps, 4),
        "width": int(clip.frames.shape[-1]),
        "height": int(clip.frames.shape[-2]),
        "sample_rate": cfg.sample_rate,
        "room": chosen,
        "room_source": "argument" if room else "scene",
        "target_lufs": cfg.target_lufs,
        "peak_db": cfg.peak_db,
        "seed": cfg.seed,
        "model": model_path,
        "bank": bank.info.get("path") if bank is not None else None,
        "objects": cues,
        "scene": scene,
        "ambience": ambience_cue(bed, chosen, scene, cfg),
        "voice": [],
        "voice_db": cfg.voice_db,
        "duck": {"depth_db": cfg.duck_db},
    }


def ambience_cue(bed: str | None, room: str, scene: dict, cfg: FoleyConfig) -> dict[str, Any] | None:
    """The cue sheet's ambience: ``bed`` (``none``: no bed) or one chosen from the scene
    (:func:`pixelsound.ambience.choose`), at its default level unless ``cfg.ambience_db`` says."""
    name = bed or ambience.choose(room, scene)
    if name == ambience.NONE:
        return None
    spec = ambience.spec(name)
    return {
        "name": name,
        "source": "argument" if bed else "scene",
        "level_db": spec.level_db if cfg.ambience_db is None else cfg.ambience_db,
        "width": 0.8,
        "seed": cfg.seed,
        "params": {k: v[0] for k, v in spec.params.items()},
    }


# ================================================================================================ rendering


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base is None else base / p


def _event_times(obj: dict, where: str) -> tuple[list[float], list[float]]:
    times, strengths = [], []
    for j, event in enumerate(obj.get("events", [])):
        try:
            times.append(float(event["time"]))
            strengths.append(float(np.clip(float(event.get("strength", 0.7)), 0.0, 1.5)))
        except (KeyError, TypeError, ValueError):
            raise CueError(f"{where}: event {j} needs a numeric 'time' (got {event!r})") from None
    return times, strengths


def _sample_track(sounds: list[tuple[float, Tensor]], length: int, sample_rate: int) -> Tensor:
    """Place sounds at their times, each cut (with a 20 ms fade) where the next one starts. ``-> (L,)``."""
    ordered = sorted(sounds, key=lambda s: s[0])
    placed = []
    for i, (t, wave) in enumerate(ordered):
        if i + 1 < len(ordered):
            room_left = max(1, int(round((ordered[i + 1][0] - t) * sample_rate)))
            if len(wave) > room_left:
                wave = wave[:room_left].clone()
                fade = min(len(wave), int(0.02 * sample_rate))
                wave[len(wave) - fade :] *= torch.linspace(1, 0, fade)
        placed.append((t, wave))
    return modal.place(placed, length, sample_rate)


def _peak_normalized(wave: Tensor) -> Tensor:
    return wave / wave.abs().max().clamp_min(1e-9)


def object_track(obj: dict, length: int, sample_rate: int, bank, base: Path | None, where: str) -> Tensor:
    """One object's mono track from its cue: modal impacts, bank snippets or a sample file at its events.

    Shapes:
        -> ``(length,)``
    """
    import torchaudio.functional as AF

    times, strengths = _event_times(obj, where)
    sound = obj.get("sound") or {"kind": "modal"}
    kind = sound.get("kind", "modal")
    if obj.get("mute") or not times:
        return torch.zeros(length)
    if kind == "modal":
        try:
            return modal.impact_track(
                times,
                strengths,
                sound.get("material", "plastic"),
                float(sound.get("size", 1.0)),
                length,
                sample_rate=sample_rate,
                seed=int(sound.get("seed", 0)),
            )
        except ValueError as err:
            raise CueError(f"{where}: {err}") from None
    if kind == "file":
        from pixelsound.io import read_audio

        wave = _peak_normalized(read_audio(_resolve(sound["path"], base), sample_rate)[0])
        return _sample_track(
            [(t, wave * (0.3 + 0.7 * s)) for t, s in zip(times, strengths, strict=True)], length, sample_rate
        )
    if kind == "bank":
        if bank is None:
            raise CueError(f"{where}: a bank sound needs the cue sheet's 'bank' folder")
        proto = int(sound["prototype"])
        rng = np.random.default_rng(int(sound.get("seed", 0)))
        sounds = []
        for event, t, s in zip(obj["events"], times, strengths, strict=True):
            index = event.get("snippet")
            index = bank.choose(proto, s, rng) if index is None else int(index)
            wave = AF.resample(bank.snippets[index][None], bank.sample_rate, sample_rate)[0]
            sounds.append((t, _peak_normalized(wave) * (0.3 + 0.7 * s)))
        return _sample_track(sounds, length, sample_rate)
    raise CueError(f"{where}: unknown sound kind {kind!r} (known: modal, bank, file)")


@dataclass
class FoleyResult:
    """A rendered soundtrack and what made it.

    Attributes:
        audio: the stereo master, float32 ``(2, L)``.
        sample_rate: Hz.
        stems: each object's panned track at master gain (and ducking), ``(N, 2, L)``.
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
    stems: Tensor
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
        from pixelsound import io

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
        from pixelsound import io

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        inside = folder.resolve()
        paths = []
        waves = [*self.stems, self.reverb, *self.layers.values()]
        for name, wave in zip(self.stem_names(), waves, strict=True):
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
        tracks = object_tracks(cues, length, base)  # (N, L)
        spoken = voice.voice_track(cues["voice"], length, sr, tts) if cues["voice"] else None
        layers = _layers(cues, length, base, video, spoken)
        d = cues["duck"]
        mix = mixdown.mixdown(
            tracks,
            torch.tensor([o["pan"] for o in cues["objects"]]),
            torch.tensor([o["gain_db"] for o in cues["objects"]]),
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
            mix.stems,
            mix.reverb,
            cues,
            mix.loudness,
            mix.true_peak,
            {"render": round(time.monotonic() - start, 3)},
            video,
            _resolve(cues["video"], base) if cues.get("video") else None,
            mix.layers,
            mix.duck,
            mix.gain_db,
            spoken.spans if spoken else [],
        )


def object_tracks(cues: dict, length: int, base: Path | None) -> Tensor:
    """Every object's mono track, into one preallocated tensor, with progress on large cue sheets.

    Shapes:
        -> ``(N, length)``
    """
    objects = cues["objects"]
    bank = None
    if any(o["sound"]["kind"] == "bank" for o in objects):
        from pixelsound.bank import Bank

        if not cues.get("bank"):
            raise CueError("cue sheet: a 'bank' sound needs the cue sheet's 'bank' folder")
        bank = Bank.load(_resolve(cues["bank"], base))
    tracks = torch.zeros(len(objects), length)
    total = sum(len(o["events"]) for o in objects)
    with tqdm(total=total, desc="foley", unit="event", disable=len(objects) < 8 and total < 5000) as bar:
        for i, obj in enumerate(objects):
            tracks[i] = object_track(
                obj, length, cues["sample_rate"], bank, base, f"objects[{i}] ({obj['id']})"
            )
            bar.update(len(obj["events"]))
    return tracks


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
    from pixelsound import io

    path = (video.path if video is not None else None) or (
        _resolve(cues["video"], base) if cues.get("video") else None
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


def foley(
    video: str | Path | Tensor,
    out: str | Path | None = None,
    *,
    model: Any = None,
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
        model: release path or SoundOfPixels (optional; see :func:`detect`).
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
    from pixelsound import io

    return clip.path is not None and io.probe(clip.path, scan=False).has_audio


# ================================================================================================ CLI


class _Actions(Mapping):
    """The sub-verbs as argparse checks them: a file name (an existing file, or a word with an extension)
    passes too, as ``make``'s video, so the short form ``pixelsound foley SILENT.mp4 -o OUT.mp4`` keeps
    working while ``pixelsound foley nonsense`` is still an invalid choice."""

    def __init__(self, parsers: dict):
        self.parsers = parsers

    def __getitem__(self, word: str):
        return self.parsers[word]

    def __iter__(self):
        return iter(self.parsers)

    def __len__(self) -> int:
        return len(self.parsers)

    def __contains__(self, word: object) -> bool:
        if word in self.parsers:
            return True
        return (
            isinstance(word, str)
            and not word.startswith("-")
            and bool(Path(word).suffix or Path(word).exists())
        )


class _MakeByDefault(argparse._SubParsersAction):
    """Sub-verb parsing that reads ``foley SILENT.mp4 ...`` as ``foley make SILENT.mp4 ...``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.choices = _Actions(self._name_parser_map)

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] not in self._name_parser_map:
            values = ["make", *values]
        super().__call__(parser, namespace, values, option_string)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`pixelsound foley [make] SILENT.mp4 -o OUT.mp4 ...`, `pixelsound foley render cues.json -o OUT.mp4`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True, action=_MakeByDefault)
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
    make.add_argument("--model", type=Path, help="release folder or checkpoint (regions' visual vectors)")
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
