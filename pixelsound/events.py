"""Events of one moving thing, for Foley cue sheets and sync scores: the impacts of a thing that travels (a
ball, a box) and the note onsets of a thing that moves about a place (an instrument).

* :func:`impact_events` -- every contact of a travelling thing (:mod:`pixelsound.impacts`), at sub-frame
  precision, with a strength in [0, 1] from the change of velocity;
* :func:`instrument_events` -- the onsets of a thing that bounces, swells, tilts or kicks on each note while
  it may also sway and drift: abrupt starts of motion, not smooth ones;
* :func:`material_from_look` -- a modal material from what a thing looks like, with a confidence.

Both take analysis frames (uint8 ``(V, 3, h, w)``) and a region mask ``(h, w)``; times are in seconds, frame
``i`` at ``t0 + i / fps``.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from pixelsound import impacts, motion

DILATION = 3  # pixels a region grows around where things moved (joins the pieces of one thing)
TRAVEL_RATIO = 1.8  # a region this many times larger than the thing in it is a path, not a place
IMPACT_SPEED_SCALE = 2.95  # velocity change (frame heights / s) of a hit of strength 1 (a hard drop)
MIN_STRENGTH = 0.03  # strength given to the softest contact (it is still heard)
NOISE_TIMES = 4.5  # an onset's rise of speed is this many times the lower quartile of local maxima at least
RELATIVE = 0.12  # and this share of the third strongest rise
MIN_GAP_S = 0.1  # seconds between two onsets of one thing at least
MASK_S = 0.3  # a rise this soon after a stronger onset ...
MASK_RATIO = 0.4  # ... and weaker than this share of it is that onset's return swing
RAMP_BIAS = 0.3  # frames added to a ramp's start: pulses speed up faster than linearly (tuning seeds)
SEEN_SHARE = 0.05  # a movement shows in the frame before its jump when it moved this share of the jump
STEP_BACK = 0.35  # frames before the first frame showing a jump where it is placed


# ============================================================================================ tracks


@dataclass
class Track:
    """One moving region on the analysis grid.

    Attributes:
        mask: pixels it ever covers, bool ``(h, w)``.
        boxes: its box ``(x0, y0, x1, y1)`` per frame (NaN where it does not show), ``(V, 4)``.
        colour: median RGB in [0, 1] of its pixels.
        activity: how much it moves (sum of its active pixels over frames).
        travels: whether the thing crosses the frame (a ball: its region is more than TRAVEL_RATIO times the
            thing's size) rather than moving about a place (an instrument that bounces, tilts or swells).
    """

    mask: np.ndarray
    boxes: np.ndarray
    colour: tuple[float, float, float]
    activity: float
    travels: bool = False


def displacement(frames: Tensor, chunk: int = 240) -> np.ndarray:
    """Per-pixel distance to the rest pose: the largest absolute RGB difference to the per-pixel median of
    the frames around (one rest pose per ``chunk`` frames, from at most 64 of them). Colour, not just
    brightness, so a pale cyan ball shows on a beige wall.

    Shapes:
        uint8 ``(V, 3, h, w)`` -> float32 ``(V, h, w)`` in [0, 1]
    """
    out = torch.empty(frames.shape[0], *frames.shape[-2:])
    for start in range(0, frames.shape[0], chunk):
        part = frames[start : start + chunk].float() / 255  # (v, 3, h, w)
        pick = torch.linspace(0, len(part) - 1, min(len(part), 64)).round().long()
        rest = part[pick].median(0).values  # (3, h, w)
        out[start : start + chunk] = (part - rest).abs().amax(1)
    return out.numpy()


def find_tracks(
    frames: Tensor, maps: np.ndarray, *, active: float = 0.08, min_area: float = 0.002, max_objects: int = 4
) -> list[Track]:
    """Moving regions: pixels that leave their rest pose at some point, joined into connected components;
    components that stay in place and move in step (parts of one instrument) are merged.

    Args:
        frames: analysis frames, uint8 ``(V, 3, h, w)``.
        maps: :func:`displacement` maps, ``(V, h, w)``.
        active: displacement (grey level, 0..1) above which a pixel counts as moving.
        min_area: a region must cover this fraction of the frame.
        max_objects: most tracks kept.

    Returns:
        Tracks, most active first, at most ``max_objects``.
    """
    v, h, w = maps.shape
    active = maps > active  # (V, h, w)
    support = ndimage.binary_opening(active.any(0), iterations=2)  # drops specks of noise
    support = ndimage.binary_dilation(support, iterations=DILATION)
    labels, count = ndimage.label(support, structure=np.ones((3, 3)))
    masks = [labels == k for k in range(1, count + 1)]
    masks = _merge_in_step([m for m in masks if m.sum() >= min_area * h * w], active, maps)
    tracks = []
    for mask in masks:
        inside = active & mask[None]  # (V, h, w)
        boxes = _boxes(inside)
        tracks.append(
            Track(mask, boxes, _colour(frames, inside), float(inside.sum()), _travelling(mask, inside))
        )
    tracks.sort(key=lambda t: -t.activity)
    return tracks[:max_objects]


def _merge_in_step(masks: list[np.ndarray], active: np.ndarray, maps: np.ndarray, corr: float = 0.6) -> list:
    """Merge pairs of regions that both stay in place and whose motion curves correlate above ``corr``."""
    masks = list(masks)
    while len(masks) > 1:
        still = [not _travelling(m, active & m[None]) for m in masks]
        curves = motion.region_curves(maps, masks)  # (R, V)
        with np.errstate(invalid="ignore", divide="ignore"):
            cc = np.nan_to_num(np.corrcoef(curves))
        pairs = [
            (cc[i, j], i, j)
            for i in range(len(masks))
            for j in range(i + 1, len(masks))
            if still[i] and still[j]
        ]
        best = max(pairs, default=(0.0, 0, 0))
        if best[0] <= corr:
            break
        _, i, j = best
        masks[i] = masks[i] | masks[j]
        del masks[j]
    return masks


def _boxes(inside: np.ndarray) -> np.ndarray:
    """Bounding box of the active pixels of each frame (NaN when none). ``(V, h, w) -> (V, 4)``."""
    boxes = np.full((len(inside), 4), np.nan)
    rows, cols = inside.any(2), inside.any(1)  # (V, h), (V, w)
    for i in np.nonzero(rows.any(1))[0]:
        ys, xs = np.nonzero(rows[i])[0], np.nonzero(cols[i])[0]
        boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def _colour(frames: Tensor, inside: np.ndarray) -> tuple[float, float, float]:
    """Median colour of a region's active pixels (upper 70 % of each box, away from shadows)."""
    boxes = _boxes(inside)
    picks = []
    for i in np.nonzero(~np.isnan(boxes[:, 0]))[0][:: max(1, len(inside) // 24)]:
        cut = inside[i].copy()
        y0, y1 = boxes[i, 1], boxes[i, 3]
        cut[int(y0 + 0.7 * (y1 - y0)) :] = False
        picks.append(frames[i].permute(1, 2, 0).numpy()[cut])
    if not picks or not sum(len(p) for p in picks):
        return (0.5, 0.5, 0.5)
    median = np.median(np.concatenate(picks).astype(np.float64) / 255, axis=0)
    return tuple(float(c) for c in median)


def _travelling(mask: np.ndarray, inside: np.ndarray, ratio: float = TRAVEL_RATIO) -> bool:
    """Whether a region is more than ``ratio`` times larger than the thing in it: its extent against the
    median side of the largest moving blob per frame, over frames where that blob is substantial."""
    ys, xs = np.nonzero(mask)
    extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 - 2 * DILATION
    sides, counts = [], []
    for frame in inside[:: max(1, len(inside) // 48)]:  # at most ~48 frames are enough to judge
        labels, count = ndimage.label(frame)
        if count:
            pixels = ndimage.sum_labels(frame, labels, np.arange(1, count + 1))
            k = int(np.argmax(pixels))
            box = ndimage.find_objects(labels)[k]
            sides.append(max(box[0].stop - box[0].start, box[1].stop - box[1].start))
            counts.append(pixels[k])
    if len(sides) < 3:
        return False
    sides, counts = np.array(sides), np.array(counts)
    return bool(extent > ratio * np.median(sides[counts >= 0.3 * counts.max()]))


# ============================================================================================ events


@dataclass(frozen=True)
class Found:
    """Events of one thing: times (s) ``(E,)`` and strengths in [0, 1] ``(E,)``."""

    times: np.ndarray
    strengths: np.ndarray


def impact_events(
    frames: Tensor, maps: np.ndarray, mask: np.ndarray, fps: float, *, threshold: float, t0: float = 0.0
) -> Found:
    """Every contact of a travelling thing: its centre followed by colour (:func:`impacts.centre_track`),
    contacts where its velocity turns into a surface (:func:`impacts.find_contacts`), strength from the size
    of the velocity change.

    Args:
        frames: analysis frames uint8 ``(V, 3, h, w)``.
        maps: distance to the rest pose ``(V, h, w)`` (:func:`displacement`).
        mask: the thing's region ``(h, w)``.
        fps: frame rate.
        threshold: distance to the rest pose at which a pixel counts as moved.
        t0: time of frame 0.
    """
    track = impacts.centre_track(frames, maps, mask, threshold)
    height = frames.shape[-2]
    found = impacts.find_contacts(track, fps, height, t0)
    times = np.array([c.time for c in found])
    change = np.array([c.change for c in found]) / (IMPACT_SPEED_SCALE * height)
    return Found(times, np.clip(change, MIN_STRENGTH, 1.0))


def speed_curve(frames: Tensor, mask: np.ndarray) -> np.ndarray:
    """How fast a thing moves: the mean optical-flow magnitude (px/frame) over its region's box, per frame
    (value ``i``: from frame ``i - 1`` to ``i``). Frame 0 has no frame before it, so its speed is unknown: it
    holds frame 1's, so a movement already under way when the clip starts is not a rise (an onset) at frame 1.

    Shapes:
        frames uint8 ``(V, 3, h, w)``, mask ``(h, w)`` -> ``(V,)``
    """
    ys, xs = np.nonzero(mask)
    crop = frames[:, :, ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    maps = motion.motion_maps(crop, method="flow")  # (V, h', w'), frame 0 all 0 (no frame before it)
    speed = motion.region_curves(maps, [mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]])[0]
    speed[:1] = speed[1:2]  # frame 0 holds frame 1's speed (a clip of one frame keeps its 0)
    return speed


def _peaks(rise: np.ndarray, fps: float) -> list[int]:
    """Abrupt starts on a rise curve: local maxima above the noise and a share of a loud note's rise, not
    masked by a much stronger start just before (a pulse's return swing), one per MIN_GAP_S."""
    inner = np.flatnonzero((rise[1:-1] > rise[:-2]) & (rise[1:-1] >= rise[2:])) + 1
    if not len(inner):
        return []
    heights = np.sort(rise[inner])
    typical = float(heights[-min(3, len(heights))])  # the third strongest start: a loud note, not a fluke
    noise = float(np.percentile(heights, 25)) if len(heights) >= 8 else 0.0  # most low maxima are noise
    floor = max(NOISE_TIMES * noise, RELATIVE * typical, 1e-6)
    chosen: list[int] = []
    for i in sorted(inner[rise[inner] >= floor], key=lambda k: -rise[k]):
        near = [j for j in chosen if abs(j - i) < MIN_GAP_S * fps]
        masked = [j for j in chosen if 0 < i - j <= MASK_S * fps and rise[i] < MASK_RATIO * rise[j]]
        if not near and not masked:
            chosen.append(int(i))
    return sorted(chosen)


def _start(speed: np.ndarray, q: int) -> float:
    """Sub-frame start of a movement whose speed jumps at frame ``q``, in frames.

    Speeds are taken above the speed before the movement; ``s_k`` is the movement from frame ``k - 1`` to
    ``k``. A movement ramping up at speed ``v`` from time ``t``:

    * already moved into frame ``q - 1`` (``s_{q-1} > 0``): ``s_{q-1} = v (t_{q-1} - t)`` and ``s_q = v`` per
      frame, so it started ``s_{q-1} / s_q`` frames before ``q - 1``;
    * first seen in frame ``q`` and still speeding up after (``s_{q+1} > s_q``): it started ``s_q / s_{q+1}``
      frames before ``q``;
    * first seen in frame ``q`` and slower after (a jump): anywhere in the step; placed STEP_BACK frames
      before ``q``, between "the first frame that shows it" and "the frame nearest to it", the two ways
      videos are drawn.

    Ramps get RAMP_BIAS frames more (pulses speed up faster than linearly).
    """
    last = len(speed) - 1
    base = min(speed[max(q - 2, 0)], speed[max(q - 1, 0)])
    before, now, after = (max(0.0, speed[min(max(k, 0), last)] - base) for k in (q - 1, q, q + 1))
    if before > SEEN_SHARE * now:
        return float(np.clip(q - 1 - before / max(now, 1e-12) + RAMP_BIAS, q - 2, q))
    if after > now:
        return float(q - now / after + RAMP_BIAS)
    return float(q - STEP_BACK)


def instrument_events(frames: Tensor, mask: np.ndarray, fps: float, *, t0: float = 0.0) -> Found:
    """Note onsets of a thing that moves about a place: where its motion starts abruptly.

    A note throws the picture into a fast pulse (a bounce, swell, tilt or kick) whose speed jumps within a
    frame; a sway or drift changes speed slowly and the return swing of a pulse is far weaker than its start,
    so onsets are the sharp rises of the speed curve (:func:`speed_curve`) above the noise and a share of the
    typical rise, each not masked by a much stronger one just before. Each onset is placed between frames
    where the rising edge, extrapolated back, leaves the speed before it.

    Args:
        frames: analysis frames uint8 ``(V, 3, h, w)``.
        mask: the thing's region ``(h, w)``.
        fps: frame rate.
        t0: time of frame 0.
    """
    speed = speed_curve(frames, mask)
    rise = motion.onset_curve(speed)
    peaks = _peaks(rise, fps)
    times = np.array([t0 + _start(speed, p) / fps for p in peaks])
    top = max((rise[p] for p in peaks), default=1.0)
    return Found(times, 0.35 + 0.65 * np.clip(rise[peaks] / top, 0, 1) if peaks else np.zeros(0))


def object_events(
    track: Track, frames: Tensor, maps: np.ndarray, fps: float, *, active: float = 0.08, t0: float = 0.0
) -> tuple[str, Found]:
    """Events of one track: ``("impacts", contacts)`` for a thing that travels, ``("motion", onsets)`` for a
    thing that moves about a place.

    Args:
        track: the region (:func:`find_tracks`).
        frames: analysis frames uint8 ``(V, 3, h, w)``.
        maps: :func:`displacement` maps ``(V, h, w)``.
        fps: frame rate.
        active: the moving-pixel threshold of the tracks.
        t0: time of frame 0.
    """
    if track.travels:
        return "impacts", impact_events(frames, maps, track.mask, fps, threshold=active, t0=t0)
    return "motion", instrument_events(frames, track.mask, fps, t0=t0)


def video_events(frames: Tensor, fps: float, *, t0: float = 0.0, active: float = 0.08) -> Found:
    """All events of a clip: every track's (:func:`object_events`), merged in time order.

    Args:
        frames: uint8 ``(V, 3, h, w)`` (a few hundred pixels a side at most; every frame).
        fps: frame rate.
        t0: time of frame 0.
        active: the moving-pixel threshold.
    """
    maps = displacement(frames)
    found = [
        object_events(t, frames, maps, fps, active=active, t0=t0)[1]
        for t in find_tracks(frames, maps, active=active)
    ]
    times = np.concatenate([f.times for f in found]) if found else np.zeros(0)
    strengths = np.concatenate([f.strengths for f in found]) if found else np.zeros(0)
    order = np.argsort(times, kind="stable")
    return Found(times[order], strengths[order])


# ========================================================================================== materials


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi`` (either order), linear between."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _band(x: float, lo: float, hi: float, soft: float) -> float:
    """1 inside ``[lo, hi]``, falling to 0 over ``soft`` outside it."""
    return min(_ramp(x, lo - soft, lo), _ramp(x, hi + soft, hi))


def material_from_look(colour: tuple[float, float, float]) -> tuple[str, float]:
    """A modal material from what a thing looks like (its median colour), with a confidence in [0, 1].

    Each material gets a soft score from hue, saturation and value: dark -> rubber; pale and cyan, bright
    -> glass; grey, not dark -> metal; brown (orange hue, saturated, not bright) -> wood; vivid -> plastic
    (a weak default for anything else). The confidence is the best score's share of all scores: near 1
    when one reading is clear, near 0.5 or below when two compete; a person can correct the cue sheet's
    ``sound.material`` where it is low.
    """
    h, s, v = colorsys.rgb_to_hsv(*colour)
    scores = {
        "rubber": _ramp(v, 0.36, 0.24),
        "glass": min(_band(h, 0.44, 0.62, 0.04), _band(s, 0.12, 0.5, 0.06), _ramp(v, 0.68, 0.8)),
        "metal": min(_ramp(s, 0.2, 0.1), _ramp(v, 0.28, 0.4)),
        "wood": min(
            _band(h, 0.03, 0.13, 0.03), _ramp(s, 0.28, 0.4), _ramp(v, 0.82, 0.72), _ramp(v, 0.24, 0.34)
        ),
        "plastic": max(0.3, min(_ramp(s, 0.45, 0.65), _ramp(v, 0.5, 0.7))),
    }
    best = max(scores, key=lambda k: scores[k])
    return best, round(scores[best] / max(sum(scores.values()), 1e-9), 3)
