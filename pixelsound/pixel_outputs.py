"""The outputs of ``pixelsound pixels``: object wavs, heatmap PNGs, the overlay video, ``pixels.json`` and the
listening page (:mod:`pixelsound.page`), all written from a :class:`pixelsound.pixels.PixelsResult`.

Shapes: (h, w) the grid, n_bins time bins of the energies, (H, W) display frames.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from pixelsound import io, plots
from pixelsound import page as listening
from pixelsound.cells import PixelsOptions
from pixelsound.clip import Clip
from pixelsound.objects import SoundingObject

log = logging.getLogger(__name__)


class PixelsResult(Protocol):
    """What the outputs read from a per-pixel separation (a :class:`pixelsound.pixels.PixelsResult`)."""

    source: str
    sample_rate: int
    grid: tuple[int, int]
    chunks: list
    bin_seconds: float
    cells: Tensor | None
    fps: float
    size: tuple[int, int]
    options: PixelsOptions
    objects: list[SoundingObject]
    clip: Clip | None

    @property
    def duration(self) -> float: ...

    def heat(self) -> Tensor: ...

    def heatmap(self) -> Tensor: ...


def display_size(size: tuple[int, int], max_side: int = 320) -> tuple[int, int]:
    """Even ``(H, W)`` no larger than ``max_side`` with the video's aspect ratio."""
    h, w = size
    scale = min(1.0, max_side / max(h, w))
    return max(2, round(h * scale / 2) * 2), max(2, round(w * scale / 2) * 2)


def smoothed_heat(result: PixelsResult, seconds: float = 0.5) -> Tensor:
    """Amplitude (square root of energy) of each cell over time, averaged over ``seconds``.

    Shapes:
        -> ``(n_bins, h, w)``
    """
    heat = result.heat().clamp_min(0).sqrt()  # (n_bins, h, w)
    span = max(1, round(seconds / result.bin_seconds)) | 1
    flat = heat.flatten(1).T[:, None]  # (h*w, 1, n_bins)
    smooth = F.avg_pool1d(flat, span, stride=1, padding=span // 2, count_include_pad=False)
    return smooth[:, 0].T.reshape(heat.shape)


def _frames_for(result: PixelsResult, times: Tensor, size: tuple[int, int]) -> Tensor:
    """Display frames at ``times`` (grey when the result has no source). ``-> uint8 (n, 3, H, W)``."""
    if result.clip is None:
        return torch.full((len(times), 3, *size), 128, dtype=torch.uint8)
    return result.clip.frames_at(times, size)


def write_overlay_video(
    result: PixelsResult, path: Path, *, max_fps: float = 25.0, max_frames: int = 3000, alpha: float = 0.55
) -> Path | None:
    """The video with each cell's loudness over it (magma), with the original soundtrack.

    Frames are decoded in batches and drawn into one preallocated buffer; the frame rate is lowered for long
    videos so that at most ``max_frames`` frames are written.
    """
    if result.clip is None:
        return None
    fps = min(result.fps, max_fps, max_frames / max(result.duration, 1e-3))
    count = max(1, int(result.duration * fps))
    size = display_size(result.size)
    heat = smoothed_heat(result)  # (n_bins, h, w)
    top = float(heat.max())
    out = torch.empty(count, 3, *size, dtype=torch.uint8)
    times = torch.arange(count, dtype=torch.float64) / fps
    for first in range(0, count, 64):
        frames = _frames_for(result, times[first : first + 64], size)
        for j, frame in enumerate(frames):
            k = min(int(times[first + j] / result.bin_seconds), heat.shape[0] - 1)
            blended = plots.overlay_heatmap(frame, heat[k], alpha=alpha, vmin=0.0, vmax=max(top, 1e-12))
            out[first + j] = torch.from_numpy(blended).permute(2, 0, 1)
    audio, sr = result.clip.soundtrack()
    io.write_video(path, out, fps, audio, sr)
    return path


def _overlay_or_warning(result: PixelsResult, path: Path) -> Path | None:
    """``overlay.mp4``, or None with a warning naming the input and the reason: an output format the encoder
    refuses does not lose the work already done (the wavs, heatmaps and page are still written)."""
    try:
        return write_overlay_video(result, path)
    except io.MediaError as err:
        log.warning("%s: %s not written (%s); the other outputs are", result.source, path.name, err.reason)
        return None


def write_heatmaps(result: PixelsResult, folder: Path) -> dict[str, str]:
    """``overall.png`` and ``object_<i>.png``: heatmaps over the middle frame of the video."""
    size = display_size(result.size, 448)
    frame = _frames_for(result, torch.tensor([result.duration / 2], dtype=torch.float64), size)[0]
    maps = {"overall": result.heatmap()} | {f"object_{o.index + 1}": o.heatmap for o in result.objects}
    written = {}
    for name, heat in maps.items():
        image = plots.overlay_heatmap(frame, heat, alpha=0.6, vmin=0.0, vmax=1.0)
        written[name] = str(plots.save_png(image, folder / f"{name}.png"))
    return written


def write_object_audio(result: PixelsResult, folder: Path) -> list[str]:
    """``object_<i>.wav`` per object, scaled together if anything would clip; returns the file names."""
    if not result.objects:
        return []
    peak = max(float(o.audio.abs().max()) for o in result.objects)
    gain = min(1.0, 0.99 / max(peak, 1e-9))
    names = []
    for o in result.objects:
        names.append(f"object_{o.index + 1}.wav")
        io.write_audio(folder / names[-1], (o.audio * gain)[None], result.sample_rate)
    return names


def result_facts(result: PixelsResult) -> dict[str, object]:
    """JSON-able facts: source, grid, chunks, the overall heatmap and the objects."""
    objects = []
    for o in result.objects:
        row, col = o.centroid
        (h, w), (top, left) = result.grid, o.peak  # the peak as its cell's centre
        objects.append({
            "index": o.index + 1, "category": o.category, "category_score": o.category_score,
            "energy_share": round(o.energy_share, 4), "cells": int(o.region.sum()),
            "centroid": [round(row / h, 4), round(col / w, 4)],
            "peak": [round((top + 0.5) / h, 4), round((left + 0.5) / w, 4)],
            "region": o.region.int().tolist(), "heatmap": o.heatmap.round(decimals=4).tolist(),
        })  # fmt: skip
    return {
        "source": result.source, "duration": round(result.duration, 4), "sample_rate": result.sample_rate,
        "grid": list(result.grid), "chunks": len(result.chunks), "bin_seconds": result.bin_seconds,
        "heatmap": result.heatmap().round(decimals=4).tolist(), "objects": objects,
        "options": {k: v for k, v in result.options.__dict__.items()},
    }  # fmt: skip


def write_outputs(
    result: PixelsResult,
    out_dir: str | Path,
    *,
    video: bool = True,
    page: bool = True,
    page_rate: int = 8000,
    page_bits: int = 4,
) -> dict[str, object]:
    """Object wavs, heatmap PNGs, ``overlay.mp4``, ``index.html`` and ``pixels.json`` in ``out_dir``.

    Returns:
        The summary written to ``pixels.json`` (with a ``files`` table).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wavs = write_object_audio(result, out)
    files: dict[str, object] = {"objects": wavs, "heatmaps": write_heatmaps(result, out / "heatmaps")}
    overlay = _overlay_or_warning(result, out / "overlay.mp4") if video else None
    files["overlay"] = overlay.name if overlay else None
    if page and result.cells is not None:
        codec = listening.Codec(bits=page_bits)
        poster = files["heatmaps"]["overall"]
        info = listening.write_page(
            result, out / "index.html", video=overlay, poster=poster, wavs=wavs, rate=page_rate, codec=codec
        )
        files["page"] = {"file": "index.html", "bytes": info["bytes"], "video_inlined": info["video_inlined"]}
    facts = result_facts(result) | {"files": files}
    (out / "pixels.json").write_text(json.dumps(facts, indent=1) + "\n")
    return facts
