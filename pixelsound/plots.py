"""Pictures without matplotlib: colormaps, spectrogram images, labelled grids and heatmap overlays (Pillow).

Colormaps are small look-up tables interpolated from nine anchor colours sampled along ``magma`` and
``viridis`` (perceptually ordered: lightness rises monotonically), enough for spectrograms and masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# nine anchors each, at 0, 1/8, ..., 1
_ANCHORS = {
    "magma": [
        (0, 0, 4), (28, 16, 68), (79, 18, 123), (129, 37, 129), (181, 54, 122),
        (229, 80, 100), (251, 135, 97), (254, 194, 135), (252, 253, 191),
    ],
    "viridis": [
        (68, 1, 84), (72, 36, 117), (65, 68, 135), (53, 95, 141), (42, 120, 142),
        (33, 145, 140), (34, 168, 132), (122, 209, 81), (253, 231, 37),
    ],
    "gray": [(round(255 * i / 8),) * 3 for i in range(9)],
}  # fmt: skip


def _lut(name: str) -> np.ndarray:
    """256-entry uint8 RGB table for a colormap name; (256, 3)."""
    if name not in _ANCHORS:
        raise ValueError(f"unknown colormap {name!r} (known: {', '.join(_ANCHORS)})")
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)  # (9, 3)
    x = np.linspace(0, 1, 256)
    knots = np.linspace(0, 1, len(anchors))
    return np.stack([np.interp(x, knots, anchors[:, c]) for c in range(3)], -1).round().astype(np.uint8)


def _numpy(x: np.ndarray | torch.Tensor) -> np.ndarray:
    return (
        x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    )


def colormap(values: np.ndarray | torch.Tensor, name: str = "magma") -> np.ndarray:
    """Map values in [0, 1] (clipped; NaN -> 0) to colours.

    Shapes:
        values (...) -> uint8 (..., 3)
    """
    v = np.nan_to_num(_numpy(values), nan=0.0).clip(0, 1)
    return _lut(name)[(v * 255).round().astype(np.int64)]


def spectrogram_image(
    mag: np.ndarray | torch.Tensor,
    *,
    ref: float | None = None,
    db_range: float = 80.0,
    cmap: str = "magma",
    scale: int = 1,
) -> Image.Image:
    """A magnitude spectrogram as a picture in dB, low frequencies at the bottom.

    Args:
        mag: linear magnitude (any frequency axis, e.g. the warped one).
        ref: magnitude shown at the top of the colour range (default: the maximum of ``mag``); give several
            pictures the same ``ref`` to make them comparable.
        db_range: dB below ``ref`` that are still coloured; quieter is black.
        cmap: colormap name.
        scale: integer upscaling of each bin (nearest neighbour).

    Shapes:
        mag (F, T) -> image T*scale wide, F*scale high
    """
    m = _numpy(mag)
    top = float(m.max()) if ref is None else float(ref)
    db = 20 * np.log10(np.maximum(m, 1e-12) / max(top, 1e-12))
    return array_image(colormap(1 + db / db_range, cmap)[::-1], scale)


def time_ticks(seconds: float, most: int = 6) -> list[tuple[float, str]]:
    """Round times on an axis of ``seconds``: ``(fraction of the width, label)``, at most ``most`` of them."""
    if seconds <= 0:
        return []
    steps = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
    step = next((s for s in steps if seconds / s <= most - 1), seconds / (most - 1))
    return [(float(t / seconds), f"{t:g}") for t in np.arange(0, seconds + 1e-9, step)]


def freq_ticks(freqs_hz: Sequence[float] | np.ndarray, min_gap: float = 0.07) -> list[tuple[float, str]]:
    """Round frequencies on an axis whose rows (bottom up) are centred at ``freqs_hz`` (increasing, any
    spacing, e.g. log-warped bins): ``(fraction of the height from the bottom, label)``, high to low, each
    at least ``min_gap`` of the height below the last one kept."""
    f = np.asarray(freqs_hz, dtype=np.float64)
    marks = [m * 10**e for e in range(1, 5) for m in (1, 2, 5)]  # 10 Hz ... 50 kHz
    ticks: list[tuple[float, str]] = []
    for hz in reversed([m for m in marks if f[0] <= m <= f[-1]]):
        frac = (float(np.interp(hz, f, np.arange(len(f)))) + 0.5) / len(f)
        if not ticks or ticks[-1][0] - frac >= min_gap:
            ticks.append((frac, f"{hz // 1000:g}k" if hz >= 1000 else f"{hz:g}"))
    return ticks


def with_axes(
    picture: Image.Image,
    x_ticks: Sequence[tuple[float, str]],
    y_ticks: Sequence[tuple[float, str]],
    *,
    x_label: str = "time (s)",
    y_label: str = "frequency (Hz)",
    font_size: int = 11,
) -> Image.Image:
    """A picture with tick labels and axis names: x along the bottom, y (bottom up) on the left.

    Args:
        picture: e.g. a :func:`spectrogram_image`.
        x_ticks: ``(fraction of the width, label)`` pairs (:func:`time_ticks`).
        y_ticks: ``(fraction of the height from the bottom, label)`` pairs (:func:`freq_ticks`).
    """
    font = ImageFont.load_default(size=font_size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    tick_w = int(max((measure.textlength(t, font=font) for _, t in y_ticks), default=0))
    left, bottom, w, h = font_size + tick_w + 10, 2 * font_size + 10, picture.width, picture.height
    out = Image.new("RGB", (left + w + font_size, h + bottom + font_size // 2), "white")
    out.paste(picture, (left, font_size // 2))
    draw = ImageDraw.Draw(out)
    top = font_size // 2
    for frac, text in y_ticks:
        y = top + h - frac * h
        draw.line([(left - 4, y), (left - 1, y)], fill="black")
        draw.text((left - 6 - measure.textlength(text, font=font), y - font_size // 2), text, "black", font)
    for frac, text in x_ticks:
        x = left + frac * (w - 1)
        draw.line([(x, top + h), (x, top + h + 3)], fill="black")
        draw.text((x - measure.textlength(text, font=font) / 2, top + h + 4), text, "black", font)
    draw.text((left + (w - measure.textlength(x_label, font=font)) / 2, top + h + font_size + 6), x_label,
              "black", font)  # fmt: skip
    name = Image.new("RGB", (int(measure.textlength(y_label, font=font)) + 2, font_size + 2), "white")
    ImageDraw.Draw(name).text((1, 0), y_label, "black", font)
    name = name.rotate(90, expand=True)
    out.paste(name, (1, max(0, top + (h - name.height) // 2)))
    return out


def mask_image(mask: np.ndarray | torch.Tensor, *, cmap: str = "viridis", scale: int = 1) -> Image.Image:
    """A mask in [0, 1] as a picture, low frequencies at the bottom. Shapes: mask (F, T)."""
    return array_image(colormap(mask, cmap)[::-1], scale)


def array_image(rgb: np.ndarray, scale: int = 1) -> Image.Image:
    """uint8 (H, W, 3) -> PIL image, upscaled by an integer factor."""
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB")
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST) if scale > 1 else image


def grid_figure(
    rows: Sequence[tuple[str, Sequence[Image.Image | None]]],
    *,
    col_titles: Sequence[str] = (),
    title: str = "",
    pad: int = 6,
    font_size: int = 14,
) -> Image.Image:
    """Pictures in a grid with a label left of each row (``None`` leaves a cell empty).

    Args:
        rows: ``(label, pictures)`` per row; cells are sized by the largest picture.
        col_titles: text above each column ("\\n" starts another line; lines too wide are shortened).
        title: text above everything.
        pad: pixels between cells.
        font_size: label size (Pillow's built-in font).

    Returns:
        The figure, on a white background.
    """
    font = ImageFont.load_default(size=font_size)
    pictures = [p for _, row in rows for p in row if p is not None]
    cell_w = max((p.width for p in pictures), default=1)
    cell_h = max((p.height for p in pictures), default=1)
    n_cols = max((len(row) for _, row in rows), default=1)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max((draw.textlength(label, font=font) for label, _ in rows), default=0)
    left, line = int(label_w) + 2 * pad, font_size + pad // 2
    heads = [_fit(text, cell_w, font, draw).split("\n") for text in col_titles]
    top = (line + pad if title else 0) + max((len(h) for h in heads), default=0) * line + pad
    figure = Image.new("RGB", (left + n_cols * (cell_w + pad), top + len(rows) * (cell_h + pad)), "white")
    draw = ImageDraw.Draw(figure)
    if title:
        draw.text((pad, pad // 2), title, fill="black", font=font)
    for c, head in enumerate(heads):
        for k, text in enumerate(head):
            draw.text((left + c * (cell_w + pad), top - pad - (len(head) - k) * line), text, "black", font)
    for r, (label, row) in enumerate(rows):
        y = top + r * (cell_h + pad)
        draw.text((pad, y + (cell_h - font_size) // 2), label, fill="black", font=font)
        for c, picture in enumerate(row):
            if picture is not None:
                figure.paste(picture, (left + c * (cell_w + pad), y))
    return figure


def _fit(text: str, width: int, font: ImageFont.ImageFont, draw: ImageDraw.ImageDraw) -> str:
    """Each line of text shortened (with an ellipsis) to fit in width pixels."""
    lines = []
    for line in text.split("\n"):
        while len(line) > 1 and draw.textlength(line, font=font) > width:
            line = line[:-2] + "…"
        lines.append(line)
    return "\n".join(lines)


def overlay_heatmap(
    frame: np.ndarray | torch.Tensor,
    heat: np.ndarray | torch.Tensor,
    *,
    alpha: float = 0.5,
    cmap: str = "magma",
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Blend a coloured heatmap over an RGB frame (e.g. per-pixel loudness over the video).

    Args:
        frame: uint8 RGB frame, channels first ``(3, H, W)`` or last ``(H, W, 3)``.
        heat: values on any grid ``(h, w)``; resized bilinearly to the frame.
        alpha: heatmap opacity in [0, 1].
        cmap: colormap name.
        vmin: value shown as the bottom colour (default: the minimum of ``heat``).
        vmax: value shown as the top colour (default: the maximum of ``heat``).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    rgb = _numpy(frame)
    if rgb.ndim != 3 or 3 not in (rgb.shape[0], rgb.shape[-1]):
        raise ValueError(f"overlay_heatmap: frame must be (3, H, W) or (H, W, 3), got {rgb.shape}")
    if rgb.shape[-1] != 3:
        rgb = rgb.transpose(1, 2, 0)
    h = _numpy(heat)
    lo = float(np.nanmin(h)) if vmin is None else vmin
    hi = float(np.nanmax(h)) if vmax is None else vmax
    norm = (h - lo) / (hi - lo) if hi > lo else np.zeros_like(h)
    big = Image.fromarray(norm.astype(np.float32), "F").resize((rgb.shape[1], rgb.shape[0]), Image.BILINEAR)
    colours = colormap(np.asarray(big), cmap).astype(np.float32)
    return (rgb * (1 - alpha) + colours * alpha).round().clip(0, 255).astype(np.uint8)


def save_png(image: Image.Image | np.ndarray, path: str | Path) -> Path:
    """Write a picture (PIL or uint8 (H, W, 3)) as PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    (array_image(image) if isinstance(image, np.ndarray) else image).save(path, format="PNG")
    return path


def line_chart(
    series: dict[str, Sequence[tuple[float, float]]],
    *,
    title: str = "",
    x_label: str = "",
    size: tuple[int, int] = (640, 360),
) -> Image.Image:
    """A line chart of named ``(x, y)`` series (first series blue and bold, the others grey), y grid every 2.

    Args:
        series: name -> points in x order; empty series are left out.
        title: text at the top (the series names follow it).
        x_label: text under the x axis (its range follows it).
    """
    w, h, pad = *size, 48
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    points = [p for s in series.values() for p in s]
    if not points:
        return image
    x_lo, x_hi = min(p[0] for p in points), max(p[0] for p in points)
    y_lo, y_hi = min(0.0, min(p[1] for p in points)), max(p[1] for p in points) + 1.0
    x_span, y_span = (x_hi - x_lo) or 1.0, (y_hi - y_lo) or 1.0

    def xy(x: float, y: float) -> tuple[float, float]:
        return pad + (w - 2 * pad) * (x - x_lo) / x_span, h - pad - (h - 2 * pad) * (y - y_lo) / y_span

    for v in range(int(np.floor(y_lo / 2)) * 2, int(y_hi) + 1, 2):
        y = xy(x_lo, v)[1]
        draw.line([(pad, y), (w - pad, y)], fill=(225, 225, 225))
        draw.text((8, y - 6), f"{v:>3d}", fill="black", font=font)
    names = [name for name, s in series.items() if s]
    for rank, name in enumerate(names):
        line = [xy(*p) for p in series[name]] * (2 if len(series[name]) == 1 else 1)
        draw.line(line, fill=(30, 90, 200) if rank == 0 else (150, 150, 150), width=3 if rank == 0 else 2)
    legend = f"{title}: {names[0]} (blue)" + (f", {', '.join(names[1:])} (grey)" if names[1:] else "")
    draw.text((pad, 8), legend, fill="black", font=font)
    draw.text((w // 2 - 60, h - 20), f"{x_label} ({x_lo:g}-{x_hi:.3g})", fill="black", font=font)
    return image
