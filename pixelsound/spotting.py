"""Spotting a silent video (the film-sound word for deciding what sounds where): its cue sheet.

:func:`detect` finds, on analysis frames (:func:`pixelsound.regions.analysis_frames`):

* *objects* (:func:`pixelsound.events.find_tracks`): regions where something moves, from the per-pixel colour
  distance to the rest pose (the median frame, :func:`pixelsound.events.displacement`), thresholded,
  accumulated over time and split into connected components (pieces that stay in place and move in step are
  merged); each keeps a box per frame;
* *events* per object (:func:`pixelsound.events.object_events`): a thing that travels across the frame (a
  ball, a box) is followed by its colours and gets an event at every contact, timed from its trajectory at
  sub-frame precision, with a strength from the change of velocity; a thing that moves about a place (an
  instrument that bounces, tilts, swells or kicks on each note, and may sway) gets an event where its motion
  starts abruptly, placed between frames;
* *what it is*: with a model, the visual vector of a crop around the region
  (:func:`pixelsound.regions.region_features`) is looked up in a sound bank
  (:mod:`pixelsound.soundbank`: nearest visual prototype) and compared with the release's category
  prototypes; otherwise a material is guessed from the region's colour and its size from its box, for modal
  synthesis;
* *environment*: a room preset (``dry``, ``room``, ``hall``, ``outdoor``) from the scene's rest pose (sky,
  darkness, a plain backdrop) unless given, and an ambience bed from the room and the scene's statistics
  (:func:`pixelsound.ambience.choose`) unless given.

The result is the cue sheet, a plain JSON-ready dict (schema and validation: :mod:`pixelsound.cues`), which
:func:`pixelsound.soundtrack.render` turns into sound.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import ambience, checkpoint, events, io, mixdown
from pixelsound.clip import Clip, FileClip, TensorClip, open_clip
from pixelsound.regions import analysis_frames, nearest_category, region_features
from pixelsound.soundbank import Bank

CUES_VERSION = 1
SIZE_UNIT = 0.18  # a thing whose larger side is this fraction of the frame height has modal size 1


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
    seed: int = 0
    threads: int = 1
    ambience_db: float | None = None
    voice_db: float = 3.0
    duck_db: float = 10.0


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


def _json_box(box: np.ndarray, scale: float) -> list[float]:
    return [round(float(v) * scale, 1) for v in box]


def object_cue(
    k: int,
    track: events.Track,
    detector: str,
    found: events.Found,
    grid: tuple[int, int],
    scale: float,
    seed: int,
) -> dict[str, Any]:
    """The cue-sheet entry of one object: where it is, its events and (so far) a modal sound.

    Args:
        k: object number.
        track: its region.
        detector: how its events were found (``impacts`` or ``motion``).
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
        "detector": detector,
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
            for t, s in zip(found.times, found.strengths, strict=True)
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
        cue["category"], _ = nearest_category(feature, prototypes)
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


Video = TensorClip  # decoded frames, their timestamps ``times`` and the file they came from (``path``)


def load_video(video: str | Path | Tensor | Clip, fps: float | None = None) -> TensorClip:
    """Decode a video file (all frames, :meth:`pixelsound.clip.Clip.decode`), or wrap frames
    ``(V, 3, H, W)`` given with their ``fps``.

    Raises:
        MediaError: the file cannot be read, has no video stream or fewer than 3 frames.
        ValueError: frames without fps, or of the wrong shape.
    """
    clip = open_clip(video, fps)
    if isinstance(clip, FileClip) and not clip.has_video:
        raise io.MediaError(video, "no video stream")
    decoded = clip.decode()
    if isinstance(clip, FileClip) and len(decoded.frames) < 3:
        raise io.MediaError(video, f"too short for Foley: {len(decoded.frames)} frames")
    return decoded


def _load_bank(bank: Any):
    if bank is None or not isinstance(bank, (str, Path)):
        return bank
    return Bank.load(bank)


def detect(
    video: str | Path | Tensor | Video,
    *,
    model: Any = checkpoint.NO_MODEL,
    bank: Any = None,
    room: str | None = None,
    config: FoleyConfig | None = None,
    fps: float | None = None,
    bed: str | None = None,
) -> dict[str, Any]:
    """Find the sounding objects, their events and the room of a silent video: the cue sheet.

    Args:
        video: a video file, a :class:`Video`, or frames uint8 ``(V, 3, H, W)`` (then ``fps`` is needed).
        model: release folder / checkpoint path, a loaded SoundOfPixels, None (the bundled release) or
            ``"none"`` (:data:`pixelsound.checkpoint.NO_MODEL`, the default; with a bank: the bank's model):
            region visual vectors for the bank and categories.
        bank: bank folder or :class:`pixelsound.soundbank.Bank` (optional): learned sounds.
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
    if checkpoint.is_no_model(model) and bank is not None and bank.info.get("model"):
        model = bank.info["model"]
    net = checkpoint.optional_model(model)
    named = net is not None and isinstance(model, str | Path | None)  # a release on disk, not a loaded model
    model_path = str(model or checkpoint.BUNDLED_MODEL) if named else None
    small = analysis_frames(clip.frames, cfg.analysis_side)  # (V, 3, h, w)
    maps = events.displacement(small)  # (V, h, w)
    tracks, cues = object_cues(clip, small, maps, cfg)
    identify(cues, tracks, clip.frames, net, bank, model_path, cfg.seed)
    rest = torch.from_numpy(np.median(small.numpy(), 0)).round().to(torch.uint8)  # (3, h, w)
    chosen = mixdown.room(room).name if room else guess_room(rest)
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


def object_cues(
    clip: Video, small: Tensor, maps: np.ndarray, cfg: FoleyConfig
) -> tuple[list[events.Track], list[dict[str, Any]]]:
    """The moving objects of a clip and their cue-sheet entries (events and a modal sound each).

    Args:
        clip: the video.
        small: its analysis frames, uint8 ``(V, 3, h, w)``.
        maps: :func:`pixelsound.events.displacement` of them, ``(V, h, w)``.
        cfg: detection settings.

    Returns:
        The regions (:func:`pixelsound.events.find_tracks`) and, per region, its :func:`object_cue`.
    """
    tracks = events.find_tracks(
        small, maps, active=cfg.active, min_area=cfg.min_area, max_objects=cfg.max_objects
    )
    times = clip.times
    fps = (len(times) - 1) / max(times[-1] - times[0], 1e-9) if len(times) > 1 else 25.0
    scale = clip.frames.shape[-1] / small.shape[-1]
    cues = []
    short = clip.duration < 60  # progress bars for long videos only
    for k, track in enumerate(tqdm(tracks, desc="foley: events", unit="object", disable=short)):
        detector, found = events.object_events(track, small, maps, fps, active=cfg.active, t0=float(times[0]))
        cue = object_cue(k, track, detector, found, tuple(small.shape[-2:]), scale, cfg.seed * 100 + k)
        for event in cue["events"]:  # sub-frame timing may land a hair outside the clip; keep [0, end]
            event["time"] = min(max(event["time"], 0.0), round(clip.duration, 4))
        cues.append(cue)
    return tracks, cues


def identify(
    cues: list[dict[str, Any]],
    tracks: list[events.Track],
    frames: Tensor,
    net: Any,
    bank: Bank | None,
    model_path: str | None,
    seed: int,
) -> None:
    """Name the objects and give them bank sounds where their looks match (:func:`_attach_identity`), in
    place; without a model they keep their modal sounds.

    Args:
        cues: the objects' cue-sheet entries.
        tracks: their regions.
        frames: the video's frames, uint8 ``(V, 3, H, W)``.
        net: the loaded model, or None.
        bank: the sound bank, or None.
        model_path: the release the model came from (its category prototypes), or None.
        seed: snippet choice.
    """
    features = region_features(net, frames, [t.mask for t in tracks]) if net is not None and tracks else []
    rng = np.random.default_rng(seed)
    prototypes = checkpoint.release_prototypes(model_path) if model_path else None
    for cue, feature in zip(cues, features, strict=False):
        _attach_identity(cue, feature, bank, prototypes, rng)


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
