"""Score silent clips and candidate soundtracks: what sounds, does this audio belong, is it in sync.

``pixelsound score VIDEO [--audio A.wav ...] [--json]`` and ``pixelsound score DIR --csv scores.csv``
(the command line and its report: :mod:`pixelsound.scorecard`).

For a clip (its frames) and any number of soundtracks (its own and/or candidate files):

* **sounding map** ``(h, w)`` in [0, 1]: how likely each region is to make sound -- where things move
  (:mod:`pixelsound.motion`) and, with a model, where the frame net's per-pixel features are active;
* **sounding regions** (reported as sounding objects): active regions whose parts move together (two
  instruments side by side stay apart; :mod:`pixelsound.sounding`), each with a box, its own motion events
  and, when the release stores category prototypes, a category;
* per soundtrack, sub-scores in [0, 1] and the offset:
    - ``attribution`` (needs a model): share of the audio's spectrogram energy the separator's mask gives to
      the clip (:mod:`pixelsound.attribution`) -- does the audio *sound like* what is visible;
    - visual events (:func:`visual_events`): every impact of a thing that travels and every note onset of
      a thing that moves about a place (:mod:`pixelsound.events`, sub-frame times), else the whole frame's
      motion onsets;
    - ``offset_ms`` and ``offset_confidence``: the audio delay from a lag sweep of soft one-to-one matches
      between visual events and audio onsets (:func:`pixelsound.sync.estimate_offset`: the lag with the most
      matches, the one nearest zero where a periodic rhythm makes several beats match about as well,
      refined below a frame; positive: the audio comes late); the lag of the curves' cross-correlation
      (:func:`pixelsound.sync.curve_offset`) when there are too few events;
    - ``rhythm``: the soft match share at that offset (:func:`pixelsound.sync.soft_f1`) -- does it *move
      like* what is visible, in any alignment;
    - ``correspondence``: the mean of rhythm and attribution (rhythm alone without a model);
    - ``sync`` (F1, with precision and recall): audio onsets against visual events matched one-to-one
      within ``tolerance_ms`` at zero lag (an improved AV-Align: Hungarian matching, sub-frame event times),
      and ``aligned_f1``, the same once the audio is moved back by the offset;
    - ``score``: the mean of correspondence and the soft match share at zero lag (in sync: a copy delayed
      by more than a few tens of ms scores low, a beat later too); candidates are ranked by it, best first.

Python API, mirroring the verb::

    from pixelsound.score import score
    result = score("clip.mp4", ["a.wav", "b.wav"])      # own soundtrack too, if the clip has one
    result.best.name, result.best.offset_ms, result.sounding_map

Tensors work as well: :func:`score_frames` takes frames ``(V, 3, H, W)``, fps and waveforms.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pixelsound import checkpoint, io, motion, onsets, sounding, sync
from pixelsound import events as visual
from pixelsound.attribution import model_view, scoring_model
from pixelsound.clip import Clip, FileClip, TensorClip
from pixelsound.motion import Events
from pixelsound.onsets import Match
from pixelsound.sounding import SoundingRegion

log = logging.getLogger(__name__)

OWN = "own soundtrack"


@dataclass(frozen=True)
class ScoreOptions:
    """How a clip is scored.

    Attributes:
        motion_size: frames are read at this size (side, pixels) for motion.
        max_fps: frames for motion are read at most this often.
        sample_rate: audio rate for onset detection.
        method: motion measure, ``"diff"``, ``"flow"`` or ``"displacement"`` (see :func:`motion.motion_maps`).
        tolerance_ms: sync matching tolerance; None: half a video frame + 25 ms (motion events are known to
            half a frame, onsets to a few ms).
        max_lag_s: offsets are searched over +- this many seconds.
        motion_prominence: relative prominence of motion events.
        onset_prominence: relative prominence of audio onsets.
        grid: sounding-map cells along the longer side when there is no model (else the frame net's grid).
        threshold: sounding-map level (share of its maximum) above which cells may belong to regions.
        max_regions: most sounding regions reported.
        windows: most model windows per clip (spread evenly over it).
    """

    motion_size: int = 128
    max_fps: float = 30.0
    sample_rate: int = 22050
    method: str = "diff"
    tolerance_ms: float | None = None
    max_lag_s: float = 2.0
    motion_prominence: float = 0.1
    onset_prominence: float = 0.1
    grid: int = 14
    threshold: float = 0.25
    max_regions: int = 4
    windows: int = 4

    def tolerance_for(self, fps: float) -> float:
        """Sync tolerance in ms for a frame rate."""
        return self.tolerance_ms if self.tolerance_ms is not None else 500.0 / fps + 25.0


def _round(x: float | None, digits: int = 4) -> float | None:
    """Rounded for JSON/CSV; None for None and NaN."""
    return None if x is None or math.isnan(x) else round(float(x), digits)


@dataclass
class AudioScore:
    """How well one soundtrack fits the clip.

    Attributes:
        name: the candidate's file name, or ``OWN`` for the clip's own soundtrack.
        score: mean of correspondence and the soft match share of visual events and audio onsets at lag 0
            (:func:`pixelsound.sync.soft_f1`), in [0, 1]; candidates are ranked by it.
        correspondence: does this audio belong to what is visible, whatever its alignment: the mean of
            rhythm and (with a model) attribution.
        sync: one-to-one matching of audio onsets (estimated) against visual events (reference) at lag 0.
        rhythm: soft match share of visual events and audio onsets at the offset, in [0, 1].
        offset_ms: audio delay (positive: audio late) from the events' lag sweep
            (:func:`pixelsound.sync.estimate_offset`); NaN when nothing can be matched.
        attribution: share of the audio energy the separator gives to this clip (None without a model).
        aligned_f1: sync F1 after shifting the audio by ``-offset_ms`` (what a re-sync would give).
        onsets: the audio's onsets.
        offset_confidence: in [0, 1], how far the offset's matches stand above another beat's.
    """

    name: str
    score: float
    correspondence: float
    sync: Match
    rhythm: float
    offset_ms: float
    attribution: float | None
    aligned_f1: float
    onsets: Events
    offset_confidence: float = 0.0

    def row(self) -> dict:
        """Flat sub-scores for tables and CSV."""
        return {
            "candidate": self.name, "score": _round(self.score),
            "correspondence": _round(self.correspondence), "attribution": _round(self.attribution),
            "rhythm": _round(self.rhythm), "sync_f1": _round(self.sync.f1),
            "sync_precision": _round(self.sync.precision), "sync_recall": _round(self.sync.recall),
            "offset_ms": _round(self.offset_ms, 1), "offset_confidence": _round(self.offset_confidence),
            "aligned_f1": _round(self.aligned_f1),
            "onsets": len(self.onsets),
        }  # fmt: skip


@dataclass
class ScoreResult:
    """Everything :func:`score` found about one clip.

    Attributes:
        video: the clip's path (or a name for tensors).
        duration: seconds of video scored.
        fps: frame rate of the motion analysis.
        tolerance_ms: sync tolerance used.
        sounding_map: ``(h, w)`` in [0, 1].
        regions: sounding regions, most sounding first (``"objects"`` in JSON and CSV).
        motion_events: the visual events (impacts, note onsets; see :func:`visual_events`).
        candidates: soundtracks ranked best first (empty for a silent clip without candidates).
        model: the model used for attribution and the map (None: motion and onsets only).
    """

    video: str
    duration: float
    fps: float
    tolerance_ms: float
    sounding_map: np.ndarray
    regions: list[SoundingRegion]
    motion_events: Events
    candidates: list[AudioScore] = field(default_factory=list)
    model: str | None = None

    @property
    def best(self) -> AudioScore | None:
        """The best-scoring soundtrack, if any."""
        return self.candidates[0] if self.candidates else None

    def to_dict(self) -> dict:
        return {
            "video": self.video, "duration": round(self.duration, 3), "fps": self.fps,
            "tolerance_ms": round(self.tolerance_ms, 1), "model": self.model,
            "sounding_map": np.round(self.sounding_map.astype(np.float64), 3).tolist(),
            "objects": [r.to_dict() for r in self.regions], "motion_events": self.motion_events.to_dict(),
            "candidates": [c.row() | {"onset_times": c.onsets.to_dict()["times"]} for c in self.candidates],
        }  # fmt: skip


# ------------------------------------------------------------------------------------------- scoring


def score_audio(
    name: str,
    wave: Tensor,
    sample_rate: int,
    curve: np.ndarray,
    fps: float,
    events: Events,
    options: ScoreOptions,
    *,
    attribution: float | None = None,
    t0: float = 0.0,
) -> AudioScore:
    """Sub-scores of one soundtrack against a clip's motion.

    Args:
        name: the soundtrack's name.
        wave: ``(L,)`` or ``(C, L)``; its sample 0 is the video's time 0.
        sample_rate: rate of ``wave``.
        curve: whole-frame motion curve ``(V,)`` (see :func:`motion.motion_curve`).
        fps: its frame rate.
        events: motion events (the reference for sync).
        options: tolerance, lag range, prominence.
        attribution: the model's attributed energy share, if there is a model.
        t0: time of frame 0.
    """
    env = onsets.onset_envelope(wave, sample_rate)
    found = onsets.detect_onsets(env, prominence=options.onset_prominence)
    tolerance = options.tolerance_for(fps)
    end = t0 + (len(curve) - 0.5) / fps + tolerance / 1000.0  # onsets after the video ends are not judged
    found = Events(*(x[found.times <= end] for x in (found.times, found.strengths, found.prominences)))
    matched = onsets.f_measure(events.times, found.times, tolerance)
    sigma = sync.sigma_for(fps)
    level = sync.loudness(_mono(wave).numpy(), sample_rate)  # silence: where no event can be heard
    lag = sync.estimate_offset(
        events.times,
        found.times,
        max_lag_s=options.max_lag_s,
        sigma=sigma,
        level=level,
        judged_from=t0 + 1.0 / fps,
        frame_s=1.0 / fps,
    )
    offset_ms, confidence = lag.offset_ms, lag.confidence
    if math.isnan(offset_ms):  # too few events: the lag of the curves' correlation
        offset_ms, _ = sync.curve_offset(
            motion.onset_curve(curve), fps, env, max_lag_s=options.max_lag_s, t0=t0
        )
    aligned = matched.f1
    if not math.isnan(offset_ms):
        aligned = onsets.f_measure(events.times, found.times - offset_ms / 1000.0, tolerance).f1
    shifted = 0.0 if math.isnan(offset_ms) else offset_ms / 1000.0
    rhythm = sync.soft_f1(events.times, found.times, shifted, sigma)  # in any alignment
    in_sync = sync.soft_f1(events.times, found.times, 0.0, sigma)
    match = rhythm if attribution is None else 0.5 * (rhythm + attribution)
    total = 0.5 * (match + in_sync)
    return AudioScore(name, total, match, matched, rhythm, offset_ms, attribution, aligned, found, confidence)


# below this frame rate a note's pulse lasts about one frame and the per-object onset detector misses it
# (bench_score on 8 fps clips: motion-event F1 0.859 with whole-frame onsets, 0.576 with object events)
OBJECT_EVENTS_FPS = 15.0


def visual_events(
    frames: Tensor, fps: float, maps: np.ndarray, options: ScoreOptions, t0: float = 0.0
) -> Events:
    """What happens on screen, when: every impact and note onset of the moving things
    (:func:`pixelsound.events.video_events`, sub-frame times) at ``OBJECT_EVENTS_FPS`` or more, or, below
    it or when they show fewer than two, the peaks of the whole frame's motion onsets.

    Shapes:
        frames uint8 ``(V, 3, H, W)``, maps ``(V, H, W)`` (:func:`motion.motion_maps`) -> Events ``(E,)``
    """
    if fps >= OBJECT_EVENTS_FPS:
        found = visual.video_events(frames, fps, t0=t0)
        if len(found.times) >= 2:
            return Events(found.times, found.strengths, found.strengths)
    return motion.region_events(maps, fps, prominence=options.motion_prominence, t0=t0)


def score_frames(
    frames: Tensor,
    fps: float,
    audios: Sequence[tuple[str, Tensor]] = (),
    sample_rate: int | None = None,
    *,
    model=checkpoint.NO_MODEL,
    clip: Clip | None = None,
    video_size: tuple[int, int] | None = None,
    t0: float = 0.0,
    name: str = "clip",
    options: ScoreOptions = ScoreOptions(),
) -> ScoreResult:
    """Score a clip given as frames, with any number of soundtracks given as waveforms.

    Args:
        frames: uint8 ``(V, 3, H, W)`` at ``fps`` (every frame, for motion).
        fps: frame rate.
        audios: ``(name, waveform (L,) or (C, L))`` pairs; sample 0 is the video's time 0.
        sample_rate: rate of the waveforms (default ``options.sample_rate``).
        model: a release path, ``"default"`` or None (the bundled release), a SoundOfPixels, a LoadedModel
            or ``"none"`` (motion and onsets only); see :func:`pixelsound.attribution.scoring_model`.
        clip: the clip whose frames the model sees (default: ``frames`` themselves, :class:`TensorClip`).
        video_size: ``(H, W)`` of the original video, for object boxes (default: the frames' size).
        t0: time of frame 0.
        name: the clip's name in the result.
        options: see :class:`ScoreOptions`.

    Returns:
        :class:`ScoreResult` with candidates ranked best first.
    """
    sample_rate = sample_rate or options.sample_rate
    loaded = scoring_model(model)
    maps = motion.motion_maps(frames, method=options.method)  # (V, H, W)
    curve = motion.region_curves(maps, [None])[0]  # (V,)
    events = visual_events(frames, fps, maps, options, t0)
    duration = len(frames) / fps
    view = None
    if loaded is not None:
        waves = [_mono(w) for _, w in audios]
        clip = clip or TensorClip(frames, fps, times=t0 + np.arange(len(frames)) / fps)
        view = model_view(loaded.net, clip, duration, waves, sample_rate, options.windows)
    grid = view.activity.shape if view else sounding.grid_for(*maps.shape[1:], options.grid)
    level = sounding.sounding_map(sounding.motion_activity(maps, grid), view.activity if view else None)
    size = video_size or tuple(frames.shape[-2:])
    regions = sounding.find_sounding_regions(
        level, maps, fps, size, threshold=options.threshold, max_regions=options.max_regions,
        prominence=options.motion_prominence, t0=t0,
    )  # fmt: skip
    if view is not None and loaded.prototypes:
        sounding.categorize_regions(regions, view.features, loaded.prototypes)
    shares = view.attributions if view else [None] * len(audios)
    scored = [
        score_audio(label, wave, sample_rate, curve, fps, events, options, attribution=share, t0=t0)
        for (label, wave), share in zip(audios, shares, strict=True)
    ]
    scored.sort(key=lambda c: c.score, reverse=True)
    tolerance = options.tolerance_for(fps)
    name_of = loaded.name if loaded else None
    return ScoreResult(name, duration, fps, tolerance, level, regions, events, scored, name_of)


def _mono(wave: Tensor | np.ndarray) -> Tensor:
    """``(L,)`` or ``(C, L)`` -> ``(L,)`` float32 (channels averaged)."""
    wave = torch.as_tensor(wave).float()
    return wave.reshape(-1, wave.shape[-1]).mean(0)


def _motion_size(height: int, width: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


def motion_clip(source: Clip, options: ScoreOptions = ScoreOptions()) -> TensorClip:
    """A clip's frames for motion: sampled at a constant rate of at most ``options.max_fps`` and downscaled,
    a chunk at a time (:meth:`pixelsound.clip.Clip.sampled`); frame 0 is at the clip's ``t0``.

    Raises:
        MediaError: no video stream, or fewer than 3 frames.
    """
    if not getattr(source, "has_video", True) or source.duration <= 0:
        raise io.MediaError(source.path, "no video stream to score")
    fps = min(source.fps, options.max_fps)
    frames, used = source.sampled(fps, _motion_size(*source.size, options.motion_size))  # (V, 3, H_m, W_m)
    if len(frames) < 3:
        raise io.MediaError(source.path, f"too short to score ({len(frames)} frames)")
    return TensorClip(frames, fps, times=used.numpy(), path=source.path)


def score(
    video: str | Path,
    audios: Sequence[str | Path] | None = None,
    *,
    model=None,
    own: bool = True,
    options: ScoreOptions = ScoreOptions(),
) -> ScoreResult:
    """Score a video file: its sounding map and sounding regions, and each soundtrack (own and candidates).

    Args:
        video: a video file (with or without audio).
        audios: candidate soundtracks (audio or video files); their time 0 is the video's time 0.
        model: a release path, None (the bundled release, skipped with a warning when absent), a
            SoundOfPixels, a LoadedModel (:mod:`pixelsound.attribution`), or ``"none"`` (motion, onsets only).
        own: also score the video's own soundtrack when it has one.
        options: see :class:`ScoreOptions`.

    Returns:
        :class:`ScoreResult`.

    Raises:
        MediaError: the video or a candidate cannot be read (the message names the file and why).
    """
    source = FileClip(video)
    moving = motion_clip(source, options)
    sr = options.sample_rate
    tracks = [(OWN, source.audio(sr))] if own and source.has_audio else []
    tracks += [(Path(a).name, io.read_audio(a, sr)[0]) for a in audios or ()]
    return score_frames(
        moving.frames, moving.fps, tracks, sr, model=model, clip=source, video_size=source.size,
        t0=moving.t0, name=str(video), options=options,
    )  # fmt: skip
