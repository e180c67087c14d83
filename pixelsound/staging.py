"""Frames in which instrument pictures move with the music (the instruments data set's video).

Frames are built from a sprite per instrument (:mod:`pixelsound.pictures`): resized, rotated and pasted on a
background (:func:`place`, :func:`ensure_contrast`); on each note onset the sprite bounces, swells and tilts
(a decaying pulse, :func:`pulses`), so appearance says *what* sounds and motion says *when*
(:func:`draw_frames`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Placement:
    """Where and how one sprite sits in a clip, and how strongly it moves on a note onset.

    Attributes:
        cx, cy: centre at rest (pixels).
        size: side of the sprite at rest (pixels).
        angle: rotation at rest (degrees, counter-clockwise).
        flip: mirrored left-right.
        bounce: lift at a full pulse, as a fraction of size.
        zoom: growth at a full pulse, as a fraction of size.
        tilt: rotation at a full pulse (degrees; alternates direction from one onset to the next).
        region: (x0, y0, x1, y1) the sprite may cover; anything outside is clipped.
    """

    cx: float
    cy: float
    size: float
    angle: float
    flip: bool
    bounce: float
    zoom: float
    tilt: float
    region: tuple[int, int, int, int]


def place(
    rng: np.random.Generator, region: tuple[int, int, int, int], size_range: tuple[float, float]
) -> Placement:
    """A random placement inside ``region`` that keeps the moving sprite inside it.

    Args:
        rng: random generator.
        region: (x0, y0, x1, y1) in pixels.
        size_range: sprite size as a fraction of the region's smaller side.
    """
    x0, y0, x1, y1 = region
    angle, tilt = rng.uniform(-15, 15), rng.uniform(3, 12)
    bounce, zoom = rng.uniform(0.04, 0.14), rng.uniform(0.04, 0.15)
    turn = math.radians(min(abs(angle) + tilt, 45))
    spread = (1 + zoom) * (abs(math.cos(turn)) + abs(math.sin(turn)))  # moving extent / size
    size = rng.uniform(*size_range) * min(x1 - x0, y1 - y0)
    size = min(size, 0.98 * (x1 - x0) / spread, 0.98 * (y1 - y0) / (spread + bounce))
    half = 0.5 * size * spread
    cx = rng.uniform(x0 + half, x1 - half) if x1 - x0 > 2 * half else 0.5 * (x0 + x1)
    lo, hi = y0 + half + bounce * size, y1 - half
    cy = rng.uniform(lo, hi) if hi > lo else 0.5 * (y0 + y1)
    return Placement(cx, cy, size, angle, bool(rng.random() < 0.5), bounce, zoom, tilt, region)


def pulses(
    onsets: list[float], strengths: list[float], times: np.ndarray, tau: float = 0.15, lead: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Motion envelope of one instrument at frame times: a decaying pulse per note onset.

    A frame at time t shows the strongest of s_k * exp(-(t - o_k) / tau) over onsets o_k <= t + lead (a frame
    up to ``lead`` seconds before an onset already shows it at its peak, so the nearest frame carries each
    onset).

    Args:
        onsets: onset times (seconds).
        strengths: pulse height per onset in [0, 1].
        times: frame times (V,) in seconds.
        tau: decay time (seconds).
        lead: how early a frame may show an onset (seconds; half a frame period is a good choice).

    Returns:
        (envelope (V,) in [0, 1], sign (V,) of +-1 alternating from one onset to the next).
    """
    o = np.asarray(onsets, dtype=np.float64)[None, :]  # (1, O)
    dt = times[:, None] - o  # (V, O)
    live = dt >= -lead
    value = np.where(live, np.asarray(strengths)[None, :] * np.exp(-np.clip(dt, 0, None) / tau), 0.0)
    if value.shape[1] == 0:
        return np.zeros(len(times)), np.ones(len(times))
    best = value.argmax(axis=1)
    sign = np.where(best % 2 == 0, 1.0, -1.0)
    return value.max(axis=1), sign


def _prepare(img: Image.Image, p: Placement) -> Image.Image:
    """The sprite at its largest size in the clip (one Lanczos resize), mirrored, premultiplied."""
    side = max(int(math.ceil(p.size * (1 + p.zoom))), 2)
    img = img.resize((side, side), Image.Resampling.LANCZOS)
    if p.flip:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img.convert("RGBa")


def _pose(base: Image.Image, p: Placement, e: float, sign: float) -> tuple[Image.Image, int, int]:
    """The sprite at pulse level e (scaled and rotated in one affine pass) and its top-left corner."""
    scale = p.size * (1 + p.zoom * e) / base.width
    turn = -math.radians(p.angle + sign * p.tilt * e)
    cos, sin = math.cos(turn), math.sin(turn)
    side = int(math.ceil(base.width * scale * (abs(cos) + abs(sin)))) + 2
    mid, centre = side / 2.0, base.width / 2.0
    a, b, d, f = cos / scale, sin / scale, -sin / scale, cos / scale  # output -> input (PIL's convention)
    data = (a, b, centre - (a + b) * mid, d, f, centre - (d + f) * mid)
    im = base.transform((side, side), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR).convert("RGBA")
    cy = p.cy - p.bounce * p.size * e
    return im, int(round(p.cx - mid)), int(round(cy - mid))


def _clip(im: Image.Image, x: int, y: int, region: tuple[int, int, int, int]) -> tuple[Image.Image, int, int]:
    """Crop a posed sprite to the region it may cover."""
    x0, y0 = max(x, region[0]), max(y, region[1])
    x1, y1 = min(x + im.width, region[2]), min(y + im.height, region[3])
    if x1 <= x0 or y1 <= y0:
        return Image.new("RGBA", (1, 1), (0, 0, 0, 0)), region[0], region[1]
    return im.crop((x0 - x, y0 - y, x1 - x, y1 - y)), x0, y0


def draw_frames(
    bg: np.ndarray, sprites: list[Image.Image], places: list[Placement], env: np.ndarray, sign: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste moving sprites on a background, frame by frame.

    Args:
        bg: background uint8 (H, W, 3).
        sprites: one RGBA sprite per instrument (already colour-jittered).
        places: one Placement per instrument.
        env: pulse envelopes (N, V) in [0, 1].
        sign: tilt directions (N, V).

    Returns:
        frames uint8 (V, H, W, 3); masks bool (N, V, H, W) of each instrument's visible pixels;
        boxes int (N, V, 4) as [x0, y0, x1, y1) of each mask ([0, 0, 0, 0] when empty).
    """
    n, v = env.shape
    h, w = bg.shape[:2]
    frames = np.empty((v, h, w, 3), np.uint8)
    masks = np.zeros((n, v, h, w), bool)
    boxes = np.zeros((n, v, 4), np.int64)
    bases = [_prepare(img, p) for img, p in zip(sprites, places, strict=True)]
    posed: dict[tuple[int, int, float], tuple[Image.Image, int, int, np.ndarray]] = {}
    for t in range(v):
        canvas = Image.fromarray(bg)
        for i, (img, p) in enumerate(zip(bases, places, strict=True)):
            level = round(float(env[i, t]) * 200)  # poses 1/200 of a pulse apart look the same: reuse them
            key = (i, level, float(sign[i, t]) if level else 0.0)
            if key not in posed:
                im, x, y = _clip(*_pose(img, p, level / 200, key[2]), p.region)
                posed[key] = (im, x, y, np.asarray(im.getchannel("A")) > 127)
            im, x, y, alpha = posed[key]
            canvas.paste(im, (x, y), im)
            masks[i, t, y : y + im.height, x : x + im.width] = alpha
            ys, xs = np.nonzero(alpha)
            if len(xs):
                boxes[i, t] = (x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1)
        frames[t] = np.asarray(canvas)
    return frames, masks, boxes


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB values in [0, 255]. Shapes: (..., 3) -> (...)."""
    return rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def ensure_contrast(bg: np.ndarray, sprites: list[Image.Image], minimum: float = 100.0) -> np.ndarray:
    """Lighten (or darken) a background that is too close in brightness to a sprite (e.g. black line art).

    Args:
        bg: uint8 (H, W, 3).
        sprites: RGBA sprites to be drawn on it.
        minimum: smallest accepted gap between mean lumas (0..255).

    Returns:
        The background, blended towards white or black as needed.
    """
    out = bg.astype(np.float64)
    for img in sprites:
        rgba = np.asarray(img, dtype=np.float64)
        weight = rgba[..., 3] / 255.0
        ink = float((luminance(rgba) * weight).sum() / max(weight.sum(), 1e-6))
        gap = float(luminance(out).mean()) - ink
        if abs(gap) < minimum:
            target = 255.0 if ink < 128 else 0.0
            amount = min((minimum - abs(gap)) / max(abs(target - luminance(out).mean()), 1e-6), 0.85)
            out = out + amount * (target - out)
    return out.round().astype(np.uint8)
