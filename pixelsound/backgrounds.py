"""Random procedural backgrounds: gradients, noise textures, stripes, wood, bokeh, rooms.

All functions are pure numpy/Pillow and draw from the given ``numpy.random.Generator``; they return uint8 RGB
arrays ``(H, W, 3)``. :func:`photo` crops photographic wallpapers from Debian packages instead
(mate-backgrounds for training, gnome-backgrounds for the far split).
"""

from __future__ import annotations

import colorsys
import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pixelsound.pictures import PictureError


def _colour(rng: np.random.Generator, sat: tuple[float, float] = (0.1, 0.8)) -> np.ndarray:
    """A random RGB colour in [0, 1]^3 with moderate saturation and value."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(0.25, 0.95))
    return np.array(rgb)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates normalized to [0, 1]; each (H, W)."""
    y, x = np.mgrid[0:h, 0:w]
    return y / max(h - 1, 1), x / max(w - 1, 1)


def _lerp(t: np.ndarray, colours: list[np.ndarray]) -> np.ndarray:
    """Map t in [0, 1] (H, W) through a piecewise-linear palette -> (H, W, 3)."""
    stops = np.linspace(0, 1, len(colours))
    return np.stack([np.interp(t, stops, [c[i] for c in colours]) for i in range(3)], axis=-1)


def fractal_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 4) -> np.ndarray:
    """Value noise summed over octaves, normalized to [0, 1]. Shapes: -> (H, W)."""
    out, amp, total = np.zeros((h, w)), 1.0, 0.0
    cells = int(rng.integers(2, 5))
    for _ in range(octaves):
        small = Image.fromarray(rng.random((cells + 1, cells + 1)).astype(np.float32), "F")
        out += amp * np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))
        total, amp, cells = total + amp, amp * 0.5, cells * 2
    out /= total
    return (out - out.min()) / max(out.max() - out.min(), 1e-6)


def linear_gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    a = rng.uniform(0, 2 * np.pi)
    t = np.cos(a) * x + np.sin(a) * y
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    return _lerp(t, [_colour(rng) for _ in range(int(rng.integers(2, 4)))])


def radial_gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    r = np.hypot(x - rng.uniform(0, 1), y - rng.uniform(0, 1)) / rng.uniform(0.6, 1.4)
    return _lerp(np.clip(r, 0, 1), [_colour(rng), _colour(rng)])


def clouds(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return _lerp(fractal_noise(rng, h, w, int(rng.integers(3, 6))), [_colour(rng) for _ in range(3)])


def stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    a, f = rng.uniform(0, np.pi), rng.uniform(3, 14)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * f * (np.cos(a) * x + np.sin(a) * y))
    if rng.random() < 0.4:  # checks
        t = t * (0.5 + 0.5 * np.sin(2 * np.pi * f * (-np.sin(a) * x + np.cos(a) * y)))
    sharp = rng.uniform(1, 6)
    t = 1 / (1 + np.exp(-sharp * (t - 0.5) * 4))
    return _lerp(t, [_colour(rng), _colour(rng)])


def wood(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    y, x = _grid(h, w)
    n = fractal_noise(rng, h, w, 3)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * (rng.uniform(4, 12) * (x if rng.random() < 0.5 else y) + 3 * n))
    base = _colour(rng, (0.3, 0.7))
    return _lerp(t, [base * 0.6, base, np.minimum(base * 1.3, 1)])


def bokeh(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = Image.fromarray((linear_gradient(rng, h, w) * 255).astype(np.uint8))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(8, 30))):
        r = rng.uniform(0.03, 0.15) * max(h, w)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        c = tuple(int(v * 255) for v in _colour(rng, (0.2, 0.9))) + (int(rng.integers(40, 130)),)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=c)
    layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(1, 4)))
    return np.asarray(Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")) / 255.0


def room(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A wall over a floor, each with its own texture and shading."""
    y, _ = _grid(h, w)
    horizon = rng.uniform(0.55, 0.85)
    wall = _lerp(fractal_noise(rng, h, w, 3) * 0.3 + 0.35, [_colour(rng) * 0.7, _colour(rng)])
    floor = wood(rng, h, w) if rng.random() < 0.5 else clouds(rng, h, w)
    shade = (1 - 0.35 * (y - horizon).clip(0) / (1 - horizon))[..., None]
    return np.where((y < horizon)[..., None], wall * (0.8 + 0.2 * y[..., None] / horizon), floor * shade)


KINDS = {
    "linear": linear_gradient,
    "radial": radial_gradient,
    "clouds": clouds,
    "stripes": stripes,
    "wood": wood,
    "bokeh": bokeh,
    "room": room,
}


def background(rng: np.random.Generator, h: int, w: int, kind: str | None = None) -> tuple[np.ndarray, str]:
    """A random background, lightly blurred or grainy.

    Args:
        rng: random generator.
        h, w: size in pixels.
        kind: one of KINDS, or None for a random one.

    Returns:
        (uint8 image (H, W, 3), the kind drawn).
    """
    kind = kind or str(rng.choice(list(KINDS)))
    img = KINDS[kind](rng, h, w)
    img = img + rng.normal(0, rng.uniform(0, 0.03), img.shape)
    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.3:
        img = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0))))
    return img, kind


# Photographic backgrounds: Debian wallpaper packages, one for training and another kept for the far split.
PHOTO_SETS: dict[str, tuple[str, Path]] = {
    "train": ("mate-backgrounds", Path("/usr/share/backgrounds/mate")),  # GPL-2+ photographs and art
    "far": ("gnome-backgrounds", Path("/usr/share/backgrounds/gnome")),  # CC-BY-SA-3.0
}
PHOTO_SIDE = 768  # photos are decoded once per process at this longest side


def photo_files(role: str) -> tuple[Path, ...]:
    """The raster wallpapers of a role ("held_out" uses the training ones), sorted.

    Raises:
        PictureError: the role's wallpaper package is not installed.
    """
    package, folder = PHOTO_SETS["far" if role == "far" else "train"]
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")
        and p.stat().st_size > 4096  # gnome's vnc-*.webp are 1-pixel placeholders
    )  # fmt: skip
    if not files:
        raise PictureError(
            f"no photos in {folder}: install the Debian package {package} (apt-get install {package})"
        )
    return tuple(files)


@functools.lru_cache(maxsize=64)
def _photo(path: Path) -> np.ndarray:
    """A wallpaper, RGB uint8, shrunk to PHOTO_SIDE at its longest side. -> (H', W', 3)."""
    with Image.open(path) as img:
        img.draft("RGB", (PHOTO_SIDE, PHOTO_SIDE))  # JPEG: decode at a reduced scale directly
        img = img.convert("RGB")
        img.thumbnail((PHOTO_SIDE, PHOTO_SIDE), Image.Resampling.BILINEAR)
        return np.asarray(img)


def photo(rng: np.random.Generator, h: int, w: int, role: str = "train") -> np.ndarray:
    """A random crop of a random wallpaper of ``role``, resized to (H, W) and sometimes mirrored.

    The crop covers 30 .. 100 % of the photo's smaller side, with the aspect of (H, W).

    Returns:
        uint8 (H, W, 3).
    """
    files = photo_files(role)
    img = _photo(files[int(rng.integers(len(files)))])
    ph, pw = img.shape[:2]
    scale = rng.uniform(0.3, 1.0) * min(ph / h, pw / w)
    ch, cw = max(1, min(ph, round(h * scale))), max(1, min(pw, round(w * scale)))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = Image.fromarray(img[y : y + ch, x : x + cw]).resize((w, h), Image.Resampling.BILINEAR)
    out = np.asarray(crop)
    return out[:, ::-1].copy() if rng.random() < 0.5 else out.copy()
