"""Impacts of a travelling thing (a ball, a box): every contact, at sub-frame precision, with its strength.

* :func:`centre_track` -- where the thing is in each frame: the centroid of its pixels, found by their colour
  (:func:`colour_model`: the thing's colours against its surroundings'), so rotation does not matter, a
  shadow is not the thing and a long rest leaves no ghost; soft weights keep sub-pixel motion;
* :func:`find_contacts` -- contacts on that path. Between contacts a thrown thing flies on a parabola of one
  constant acceleration (gravity, measured on the path itself); a contact is a sudden velocity change *into*
  a surface: the velocity before it points against the change (so a throw from rest, whose velocity before
  is zero, is not a contact; nor is the top of an arc). Each contact time comes from the trajectory, not the
  frame: a parabola of the measured gravity is fitted to the positions before and another to the positions
  after (a constant to a thing now at rest), and the contact is where they meet;
* strength: the size of the velocity change at that moment (px/s), and the impact speed (the velocity into
  the surface).

Time convention: frame ``i`` shows time ``t0 + i / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from torch import Tensor

BINS = 16  # colour levels per channel of the colour model
REST_SPREAD = 0.35  # px: positions within this of each other over a few frames are a thing at rest
FIT_FRAMES = 5  # frames on each side of a contact used to fit its parabolas
MIN_CHANGE = 0.004  # least velocity change of a contact, frame heights per frame
NOISE_SIGMAS = 3.0  # and at least this many noise deviations of the path's acceleration in flight
CLIP_SIGMAS = 3.0  # accelerations this many noise deviations from gravity are contacts, not flight
INTO = 0.3  # the velocity before a contact points into the surface by at least this share of the change


@dataclass(frozen=True)
class Contact:
    """One contact: time (s), velocity change (px/s), impact speed into the surface (px/s), frame index."""

    time: float
    change: float
    speed: float
    frame: int


def _quantized(frames: Tensor) -> Tensor:
    """Colour bin of each pixel (BINS levels per channel). uint8 ``(..., 3, h, w)`` -> ``(..., h, w)``."""
    q = frames.long() * BINS // 256
    return (q[..., 0, :, :] * BINS + q[..., 1, :, :]) * BINS + q[..., 2, :, :]


def colour_model(frames: Tensor, maps: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """How likely each colour is to belong to the thing rather than to the scene around it: colour histograms
    of its blob (pixels off the rest pose, in frames where the blob has its typical size, highest first:
    away from where it rests) against the other pixels of its region in the same frames.

    Returns:
        ``P(thing | colour bin)``, ``(BINS^3,)``.
    """
    blobs = []
    for v in range(len(maps)):
        labels, count = ndimage.label((maps[v] > threshold) & mask)
        if count:
            sizes = ndimage.sum_labels(np.ones_like(labels), labels, np.arange(1, count + 1))
            k = int(np.argmax(sizes))
            blobs.append((v, float(sizes[k]), labels == k + 1))
    if not blobs:
        return np.zeros(BINS**3)
    typical = float(np.median([b[1] for b in blobs]))
    whole = [b for b in blobs if 0.7 * typical <= b[1] <= 1.4 * typical] or blobs
    whole.sort(key=lambda b: np.nonzero(b[2])[0].mean())  # highest first
    thing, scene = np.zeros(BINS**3), np.zeros(BINS**3)
    for v, _, blob in whole[:8]:
        bins = _quantized(frames[v]).numpy()
        core = ndimage.binary_erosion(blob)
        around = mask & ~ndimage.binary_dilation(blob, iterations=2)
        thing += np.bincount(bins[core], minlength=BINS**3)
        scene += np.bincount(bins[around], minlength=BINS**3)
    thing /= max(thing.sum(), 1.0)
    scene /= max(scene.sum(), 1.0)
    return thing / (thing + scene + 1e-4)


def centre_track(frames: Tensor, maps: np.ndarray, mask: np.ndarray, threshold: float) -> np.ndarray:
    """Centre ``(x, y)`` of a thing per frame: the centroid of its likely pixels (:func:`colour_model`) in
    the largest such blob inside ``mask`` (NaN where there is none). Colour, not difference to the rest pose:
    a thing that rests long in one place is part of the rest pose there, and its shadow is not the thing.

    Shapes:
        frames uint8 ``(V, 3, h, w)``, maps ``(V, h, w)``, mask ``(h, w)`` -> ``(V, 2)``
    """
    out = np.full((len(frames), 2), np.nan)
    model = colour_model(frames, maps, mask, threshold)
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    inside = mask[y0:y1, x0:x1]
    grid_y, grid_x = np.mgrid[y0:y1, x0:x1]
    likely = model[_quantized(frames[:, :, y0:y1, x0:x1]).numpy()] * inside  # (V, h', w')
    for v, p in enumerate(likely):
        on = p > 0.5
        labels, count = ndimage.label(on)
        if not count:
            continue
        sizes = ndimage.sum_labels(p, labels, np.arange(1, count + 1))
        blob = ndimage.binary_dilation(labels == 1 + int(np.argmax(sizes)), iterations=2)
        weight = p * blob
        total = weight.sum()
        if total > 0:
            out[v] = ((weight * grid_x).sum() / total, (weight * grid_y).sum() / total)
    return out


def _filled(track: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN rows (ends held). ``(V, 2) -> (V, 2)``."""
    out = track.copy()
    idx = np.arange(len(track))
    for k in range(track.shape[1]):
        ok = ~np.isnan(track[:, k])
        out[:, k] = np.interp(idx, idx[ok], track[ok, k]) if ok.any() else 0.0
    return out


def flight(pos: np.ndarray, clip: float = CLIP_SIGMAS) -> tuple[np.ndarray, float]:
    """The constant acceleration of flight (gravity) and the noise about it, from the path's second
    differences over frames where the thing moves (rests and contacts are a minority of moving frames):
    their mean and RMS deviation, leaving out those more than ``clip`` RMS deviations away (contacts) until
    none is. Means, not medians: a thing drawn at whole pixels moves 0 or 1 px more per frame, whose median
    is 0 or 1 and whose median deviation is 0; frames at rest would pull both to the rest's values.

    Returns:
        ``(g (2,) px/frame^2, noise px/frame^2)``; zeros when fewer than 3 frames move.
    """
    vel = np.diff(pos, axis=0)  # (V - 1, 2)
    acc = np.diff(vel, axis=0)  # (V - 2, 2), at frames 1 .. V - 2
    moving = (np.linalg.norm(vel[:-1], axis=1) > REST_SPREAD) & (
        np.linalg.norm(vel[1:], axis=1) > REST_SPREAD
    )
    acc = acc[moving]
    if len(acc) < 3:
        return np.zeros(2), 0.0
    keep = np.ones(len(acc), dtype=bool)
    for _ in range(20):
        g = acc[keep].mean(0)
        deviation = np.linalg.norm(acc - g, axis=1)
        noise = float(np.sqrt((deviation[keep] ** 2).mean()))
        inside = deviation <= clip * noise + 1e-9
        if (inside == keep).all() or inside.sum() < 3:
            break
        keep = inside
    return g, noise


def _candidates(pos: np.ndarray, g: np.ndarray, noise: float, height: int) -> list[int]:
    """Frames ``i`` where the velocity changes sharply into a surface between ``v[i-1]`` and ``v[i]``."""
    vel = np.diff(pos, axis=0)  # vel[i] = pos[i + 1] - pos[i]
    change = np.zeros(len(pos))
    change[1:-1] = np.linalg.norm(np.diff(vel, axis=0) - g, axis=1)
    floor = max(MIN_CHANGE * height, NOISE_SIGMAS * noise)
    found: list[int] = []
    for i in np.argsort(-change):
        if change[i] < floor:
            break
        if any(abs(i - j) < 3 for j in found):
            continue
        dv = vel[i] - vel[i - 1] - g
        # into the surface: the velocity before (over up to two steps) points against the change
        before = (
            vel[i - 2] if i >= 2 and np.linalg.norm(vel[i - 1]) < np.linalg.norm(vel[i - 2]) else vel[i - 1]
        )
        if float(before @ dv) / max(float(dv @ dv), 1e-12) < -INTO:
            found.append(int(i))
    return sorted(found)


def _fit(t: np.ndarray, p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Least-squares ``p(t) = a + b t + g t^2 / 2`` with ``g`` fixed; ``(a (2,), b (2,), rms residual)``.
    One point fixes ``a`` only (``b`` = 0)."""
    y = p - 0.5 * g[None] * t[:, None] ** 2
    if len(t) == 1:
        return y[0], np.zeros(2), 0.0
    design = np.stack([np.ones_like(t), t], 1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return coef[0], coef[1], float(np.sqrt((resid**2).mean()))


def _at_rest(p: np.ndarray) -> bool:
    return len(p) >= 2 and float(np.ptp(p, axis=0).max()) < REST_SPREAD * 2


def _meet(side_a: tuple, side_b: tuple, n: np.ndarray, lo: float, hi: float) -> float | None:
    """Time in ``[lo, hi]`` where two fitted paths meet along direction ``n`` (None if they do not)."""
    (a1, b1, g1), (a2, b2, g2) = side_a, side_b
    c0, c1, c2 = float((a1 - a2) @ n), float((b1 - b2) @ n), float((g1 - g2) @ n) / 2
    roots = np.roots([c2, c1, c0]) if abs(c2) > 1e-12 else (np.array([-c0 / c1]) if abs(c1) > 1e-12 else [])
    real = [
        float(r.real)
        for r in np.atleast_1d(roots)
        if abs(complex(r).imag) < 1e-9 and lo - 1e-9 <= r.real <= hi + 1e-9
    ]
    return min(real, key=lambda r: abs(r - (lo + hi) / 2)) if real else None


def _refine(
    pos: np.ndarray, i: int, lo: int, hi: int, g: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """Contact near frame ``i`` (between frames ``i - 1`` and ``i + 1``), from parabolas fitted on frames
    ``lo .. i`` and ``i .. hi`` (frame ``i`` goes to whichever side fits best). Returns
    ``(time in frames, velocity before, velocity after)`` in px/frame, or None."""
    best = None
    for split in (i, i + 1):  # frames < split are before the contact
        t = np.arange(lo, hi + 1, dtype=np.float64) - i
        before, after = slice(0, split - lo), slice(split - lo, None)
        if before.stop < 1 or len(t[after]) < 1:
            continue
        gb, ga = g, (np.zeros(2) if _at_rest(pos[lo : hi + 1][after]) else g)
        a1, b1, r1 = _fit(t[before], pos[lo : hi + 1][before], gb)
        a2, b2, r2 = _fit(t[after], pos[lo : hi + 1][after], ga)
        dv = b2 - b1
        n = dv / max(np.linalg.norm(dv), 1e-12)
        window = (split - 1 - i, split - i)
        tc = _meet((a1, b1, gb), (a2, b2, ga), n, *window)
        if tc is None:
            continue
        score = r1 + r2
        if best is None or score < best[0]:
            best = (score, i + tc, b1 + gb * tc, b2 + ga * tc)
    return None if best is None else best[1:]


def find_contacts(track: np.ndarray, fps: float, height: int, t0: float = 0.0) -> list[Contact]:
    """Every contact of a thing on its path (see the module docstring).

    Args:
        track: centres ``(V, 2)`` (NaN where unseen).
        fps: frame rate.
        height: frame height in pixels (scales the least velocity change).
        t0: time of frame 0.

    Returns:
        contacts in time order.
    """
    if np.isnan(track[:, 0]).all() or len(track) < 5:
        return []
    pos = _filled(track)
    g, noise = flight(pos)
    marks = _candidates(pos, g, noise, height)
    out = []
    for k, i in enumerate(marks):
        lo = max(0 if k == 0 else marks[k - 1] + 1, i - FIT_FRAMES)
        hi = min(len(pos) - 1 if k + 1 == len(marks) else marks[k + 1] - 1, i + FIT_FRAMES)
        found = _refine(pos, i, lo, hi, g) if hi > lo else None
        if found is None:  # too few frames to fit: the middle of the frame step where the velocity changed
            tc, vb, va = float(i), pos[i] - pos[i - 1], pos[i + 1] - pos[i]
        else:
            tc, vb, va = found
        dv = va - vb
        n = dv / max(np.linalg.norm(dv), 1e-12)
        out.append(Contact(t0 + tc / fps, float(np.linalg.norm(dv)) * fps, float(max(0.0, -vb @ n)) * fps, i))
    return out
