"""Where a clip sounds: its sounding map, and the regions of it that move together.

The **sounding map** ``(h, w)`` in [0, 1] is the geometric mean of where things move (mean motion per cell,
:func:`motion_activity`) and, with a model, where the frame net's per-pixel features are active. Its
**sounding regions** are the active cells grouped into things that move together (:func:`comotion_groups`:
two instruments side by side touch on the map but move at different times, so they stay apart), each with
a box, its own motion events and, with category prototypes, a category (:func:`categorize_regions`).
:mod:`pixelsound.score` reports them as a clip's sounding objects. (The per-pixel *separation*'s sounding
objects, grouped by what they sound like, are :mod:`pixelsound.objects`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as fn
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor

from pixelsound import motion
from pixelsound.motion import Events
from pixelsound.objects import categorize


@dataclass
class SoundingRegion:
    """A region of the sounding map whose parts move together (one instrument, one machine).

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels of the video (x1, y1 exclusive).
        area: share of the frame it covers.
        score: mean sounding-map level inside it, in [0, 1].
        mask: boolean cells of the sounding map, ``(h, w)``.
        events: motion events inside its cells.
        category: nearest category prototype of the model's release (None without prototypes).
        category_score: cosine similarity to that prototype.
    """

    box: tuple[int, int, int, int]
    area: float
    score: float
    mask: np.ndarray
    events: Events
    category: str | None = None
    category_score: float | None = None

    def to_dict(self) -> dict:
        return {"box": list(self.box), "area": round(self.area, 4), "score": round(self.score, 4),
                "category": self.category,
                "category_score": None if self.category_score is None else round(self.category_score, 4),
                "events": self.events.to_dict()}  # fmt: skip


def motion_activity(maps: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Mean motion per cell, normalised by its 99th percentile. ``(V, H, W)`` -> ``(h, w)`` in [0, 1]."""
    mean = torch.from_numpy(maps.mean(0))[None, None].float()  # (1, 1, H, W)
    cells = fn.adaptive_avg_pool2d(mean, grid)[0, 0].numpy()
    top = np.percentile(cells, 99)
    return np.clip(cells / top, 0, 1) if top > 1e-9 else np.zeros_like(cells)


def sounding_map(motion_cells: np.ndarray, visual_cells: np.ndarray | None) -> np.ndarray:
    """Geometric mean of motion and visual activity (motion alone without a model). ``(h, w)`` in [0, 1]."""
    if visual_cells is None:
        return motion_cells
    if visual_cells.shape != motion_cells.shape:
        visual = torch.from_numpy(visual_cells)[None, None].float()
        visual_cells = fn.interpolate(visual, size=motion_cells.shape, mode="bilinear")[0, 0].numpy()
    joint = np.sqrt(np.clip(motion_cells, 0, 1) * np.clip(visual_cells, 0, 1))
    return joint / joint.max() if joint.max() > 1e-9 else joint


def comotion_groups(active: np.ndarray, cell_curves: np.ndarray, rho: float = 0.5) -> np.ndarray:
    """Group active cells into things that move together.

    Neighbouring active cells (8-connected) join when their motion curves correlate above ``rho``; two
    instruments side by side touch on the map but move at different times, so they stay apart.

    Args:
        active: cells to group, bool ``(h, w)``.
        cell_curves: motion of each cell over time, ``(V, h, w)``.
        rho: least correlation that joins two neighbours.

    Returns:
        int labels ``(h, w)``: -1 outside ``active``, else a group number.
    """
    h, w = active.shape
    curves = cell_curves.reshape(len(cell_curves), -1).T.astype(np.float64)  # (h*w, V)
    curves = curves - curves.mean(1, keepdims=True)
    curves /= np.linalg.norm(curves, axis=1, keepdims=True) + 1e-12
    ys, xs = np.mgrid[0:h, 0:w]
    flat_active = active.ravel()
    rows, cols = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        inside = (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        a, b = (ys * w + xs)[inside], ((ys + dy) * w + xs + dx)[inside]
        keep = flat_active[a] & flat_active[b] & ((curves[a] * curves[b]).sum(1) > rho)
        rows.append(a[keep])
        cols.append(b[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(h * w, h * w))
    _, labels = connected_components(graph, directed=False)
    return np.where(active.ravel(), labels, -1).reshape(h, w)


def _box(cells: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel box ``(x0, y0, x1, y1)`` of the true cells of an ``(h, w)`` grid over a video of ``size``."""
    ys, xs = np.nonzero(cells)
    sy, sx = size[0] / cells.shape[0], size[1] / cells.shape[1]
    return (
        int(xs.min() * sx),
        int(ys.min() * sy),
        math.ceil((xs.max() + 1) * sx),
        math.ceil((ys.max() + 1) * sy),
    )


def find_sounding_regions(
    level: np.ndarray,
    maps: np.ndarray,
    fps: float,
    size: tuple[int, int],
    *,
    threshold: float = 0.25,
    max_regions: int = 4,
    prominence: float = 0.1,
    t0: float = 0.0,
) -> list[SoundingRegion]:
    """Regions of the sounding map that move together, with their motion events, most sounding first.

    Cells above ``threshold`` of the (slightly smoothed) map's maximum are grouped by
    :func:`comotion_groups`; groups of at least 3 cells and 15 % of the largest one are kept.

    Args:
        level: sounding map ``(h, w)``.
        maps: per-pixel motion ``(V, H_m, W_m)`` (the motion analysis resolution).
        fps: frame rate of ``maps``.
        size: ``(H, W)`` of the video, for the boxes.
        threshold: share of the map's maximum above which cells may belong to a region.
        max_regions: most regions returned.
        prominence: relative prominence of each region's motion events.
        t0: time of frame 0.
    """
    if level.max() <= 1e-9:
        return []
    smooth = ndimage.gaussian_filter(level, 0.7, mode="constant")
    active = smooth >= threshold * smooth.max()
    cell_curves = fn.adaptive_avg_pool2d(torch.from_numpy(maps)[:, None].float(), level.shape)[:, 0].numpy()
    labels = comotion_groups(active, cell_curves)
    groups = [labels == g for g in np.unique(labels[labels >= 0])]
    largest = max((int(g.sum()) for g in groups), default=0)
    found = []
    for cells in (g for g in groups if g.sum() >= max(3, 0.15 * largest)):
        events = motion.region_events(maps, fps, region=cells, prominence=prominence, t0=t0)
        found.append(
            SoundingRegion(_box(cells, size), float(cells.mean()), float(level[cells].mean()), cells, events)
        )
    found.sort(key=lambda o: o.score * o.area, reverse=True)
    return found[:max_regions]


def grid_for(height: int, width: int, cells: int) -> tuple[int, int]:
    """Cells ``(h, w)`` with ``cells`` along the longer side, keeping the aspect ratio."""
    scale = cells / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def categorize_regions(
    regions: list[SoundingRegion], features: Tensor, prototypes: dict[str, Tensor]
) -> None:
    """Give each region the nearest category prototype of its cells' mean visual features (in place).

    Shapes:
        features ``(K, h, w)`` on the regions' grid
    """
    for region in regions:
        region.category, region.category_score = categorize(
            features, torch.from_numpy(region.mask), prototypes
        )
