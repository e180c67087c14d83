"""Sounding objects of a per-pixel separation, and their categories.

Each grid cell's sound is described by its energy per (band, time bin) (from :mod:`pixelsound.pixels`): the
unit-norm square roots of these energies. Cells that carry energy are clustered (agglomerative, average
linkage, Euclidean) on that description together with the cell's place in the frame (row and column over
the grid's longer side, times ``place``) and its look (the model's unit-norm visual vector of the cell,
times ``look``): a sounding object is one sound, one connected thing and one thing to see, and two
instruments that happen to sound alike in a moment stay apart when they stand apart or look different. The
number of groups is the one with the best silhouette, provided the groups *sound or look* different enough
(cosine distance between the centroids of their sound and look descriptions, place left out, so that one
instrument is never cut in two by place alone); otherwise there is one object. Groups with too small a share
of the energy are dropped. Each object has a region (its cells), a sound (the region's pooled mask applied to
the mixture), a heatmap, and a category when category prototypes (a visual vector per class) are known.

**Heatmaps** are in amplitude: each cell's RMS (the square root of its energy) over the loudest cell's.
Overall: every cell. Per object: the cells of its region (zero elsewhere), over the object's loudest cell.
An object's *peak* (where it is, as one point) is the cell whose 3 x 3 neighbourhood is hottest
(:func:`smooth_heat`), not the single loudest cell.

How well heatmaps and objects find the instruments of a duet (cIoU, AUC, SDR) is
:mod:`pixelsound.localization`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from scipy.cluster.hierarchy import fcluster, linkage
from torch import Tensor

from pixelsound.index import read_index
from pixelsound.io import read_frames
from pixelsound.model import SoundOfPixels

log = logging.getLogger(__name__)


@dataclass
class SoundingObject:
    """One thing that sounds in the video.

    Attributes:
        index: 0 for the loudest object, then 1, ...
        region: its cells, bool ``(h, w)``.
        heatmap: where it sounds, ``(h, w)`` in [0, 1].
        energy_share: its cells' share of the energy of all sounding cells.
        audio: its sound, ``(L,)``.
        category: nearest category prototype, or None.
        category_score: cosine similarity to that prototype.
    """

    index: int
    region: Tensor
    heatmap: Tensor
    energy_share: float
    audio: Tensor | None = None
    category: str | None = None
    category_score: float | None = None

    @property
    def peak(self) -> tuple[int, int]:
        """Where the object is: (row, col) of the cell whose 3 x 3 neighbourhood is hottest."""
        w = self.heatmap.shape[1]
        return divmod(int(smooth_heat(self.heatmap).flatten().argmax()), w)

    @property
    def centroid(self) -> tuple[float, float]:
        """Mean (row, col) of the region's cells, in cell units."""
        rows, cols = self.region.nonzero(as_tuple=True)
        return float(rows.float().mean()), float(cols.float().mean())


@dataclass(frozen=True)
class Group:
    """A group of cells that sound alike (before audio and categories are attached)."""

    cells: Tensor  # bool (h, w)
    heatmap: Tensor  # (h, w)
    share: float


# ------------------------------------------------------------------------------------------ clustering


def cell_descriptors(energy: Tensor) -> Tensor:
    """Unit-norm square roots of each cell's energies per band and time bin.

    Shapes:
        energy ``(h, w, bands, n_bins)`` -> ``(h * w, bands * n_bins)``
    """
    h, w = energy.shape[:2]
    x = energy.reshape(h * w, -1).double().clamp_min(0).sqrt()
    return F.normalize(x, dim=1)


def cell_places(h: int, w: int) -> Tensor:
    """Each cell's (row, column) over the grid's longer side, in [0, 1). ``(h * w, 2)``."""
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([rows.flatten(), cols.flatten()], 1).double() / max(h, w)


def silhouette(points: Tensor, labels: np.ndarray) -> float:
    """Mean silhouette with Euclidean distance (0 for a single cluster; singleton cells count 0).

    Shapes:
        points ``(n, dims)``, labels ``(n,)``
    """
    groups = np.unique(labels)
    if len(groups) < 2:
        return 0.0
    dist = torch.cdist(points.double(), points.double()).numpy()  # (n, n)
    member = np.stack([labels == g for g in groups])  # (G, n)
    sizes = member.sum(1)
    mean_to = dist @ member.T / sizes  # (n, G) mean distance to each group
    own = np.searchsorted(groups, labels)
    n_own = sizes[own]
    a = mean_to[np.arange(len(labels)), own] * n_own / np.maximum(n_own - 1, 1)  # exclude self (dist 0)
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(1)
    s = np.where(n_own > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())


def cluster_cells(
    points: Tensor, max_groups: int, min_distance: float = 0.05, sound: Tensor | None = None
) -> np.ndarray:
    """Group cells by the sound they make (and, when ``points`` hold it, where they are).

    Args:
        points: what cells are grouped by, ``(n, dims)`` (e.g. unit-norm sound descriptors and scaled places).
        max_groups: most groups tried.
        min_distance: groups whose sound centroids are closer than this cosine distance do not count as
            different sounds (an untrained model gives nearly equal descriptors everywhere: one group).
        sound: unit-norm sound descriptors ``(n, D')`` the groups must differ in (default: ``points``).

    Returns:
        Labels ``(n,)`` in ``0 .. G-1``, group 0 first seen first.
    """
    n = points.shape[0]
    sound = points if sound is None else sound
    if n < 3 or max_groups < 2:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(points.double().numpy(), method="average", metric="euclidean")
    best, best_score = np.zeros(n, dtype=np.int64), 0.0
    for k in range(2, min(max_groups, n - 1) + 1):
        labels = fcluster(tree, k, criterion="maxclust") - 1
        if len(np.unique(labels)) < 2 or _closest_centroids(sound, labels) < min_distance:
            continue
        score = silhouette(points, labels)
        if score > best_score:
            best, best_score = labels, score
    _, relabel = np.unique(best, return_inverse=True)
    return relabel.astype(np.int64)


def _centroids(desc: Tensor, labels: np.ndarray) -> Tensor:
    """Unit-norm mean descriptor of each group. ``(G, D)``."""
    return F.normalize(
        torch.stack([desc[torch.from_numpy(labels == g)].mean(0) for g in np.unique(labels)]), dim=1
    )


def _closest_centroids(desc: Tensor, labels: np.ndarray) -> float:
    """Smallest cosine distance between two group centroids."""
    c = _centroids(desc, labels)
    dist = 1 - c @ c.T
    dist.fill_diagonal_(float("inf"))
    return float(dist.min())


def group_cells(
    energy: Tensor,
    *,
    max_groups: int = 4,
    min_share: float = 0.05,
    active: float = 0.1,
    place: float = 2.0,
    visual: Tensor | None = None,
    look: float = 0.5,
    min_distance: float = 0.05,
) -> list[Group]:
    """Sounding groups of cells from their energies and looks (the pure part of :func:`find_objects`).

    Args:
        energy: per-cell energies ``(h, w, bands, n_bins)``.
        max_groups: most groups.
        min_share: drop groups with less than this share of the sounding cells' energy.
        active: cells with less than this fraction of the loudest cell's energy do not sound.
        place: weight of a cell's place against its sound (0: sound alone).
        visual: per-cell visual vectors ``(K, h, w)`` (None: sound and place alone).
        look: weight of a cell's look (its unit-norm visual vector) against its sound (0: not used).
        min_distance: least cosine distance between the groups' sound (and look) centroids.

    Returns:
        Groups, loudest first.
    """
    h, w = energy.shape[:2]
    total = energy.sum((2, 3)).flatten().double()  # (h*w,)
    if float(total.max()) <= 0:
        return []
    sounding = (total >= active * total.max()).nonzero().flatten()
    points, distinct = cell_points(energy, place, visual, look)
    labels = cluster_cells(points[sounding], max_groups, min_distance, sound=distinct[sounding])
    rms = total.sqrt()
    groups = []
    for g in np.unique(labels):
        cells = torch.zeros(h * w, dtype=torch.bool)
        cells[sounding[torch.from_numpy(labels == g)]] = True
        share = float(total[cells].sum() / total[sounding].sum())
        heat = torch.where(cells, rms, 0.0)
        groups.append(Group(cells.view(h, w), (heat / heat.max().clamp_min(1e-30)).float().view(h, w), share))
    kept = sorted((g for g in groups if g.share >= min_share), key=lambda g: -g.share)
    return kept


def cell_points(
    energy: Tensor, place: float, visual: Tensor | None = None, look: float = 0.0
) -> tuple[Tensor, Tensor]:
    """What cells are clustered by, and what their groups must differ in.

    The look weight 0.5 was chosen on ``benchmarks/tune_objects.py``'s tuning duets and validation solos
    (0 to 1.5, ``benchmarks/results/objects_tuning.md``): with the v7 model it found those duets' objects
    better (cIoU 0.529 -> 0.577) and cut 2 of 30 solos into two objects more than without; 0.75 (cIoU 0.585)
    cut 7 more.

    Shapes:
        energy ``(h, w, bands, n_bins)``, visual ``(K, h, w)`` -> points ``(h * w, D + 2 [+ K])`` (sound,
        ``place`` x place, ``look`` x unit visual vector) and unit-norm ``(h * w, D [+ K])`` (sound, look)
    """
    h, w = energy.shape[:2]
    desc = cell_descriptors(energy)  # (h*w, D)
    places = place * cell_places(h, w)  # (h*w, 2)
    if visual is None or look <= 0:
        return torch.cat([desc, places], 1), desc
    looks = look * F.normalize(visual.flatten(1).T.double(), dim=1)  # (h*w, K)
    return torch.cat([desc, places, looks], 1), F.normalize(torch.cat([desc, looks], 1), dim=1)


def smooth_heat(heat: Tensor) -> Tensor:
    """Each cell's mean over its 3 x 3 neighbourhood (cells inside the grid only). ``(h, w) -> (h, w)``.

    One cell's RMS is a noisy estimate of where an object sounds: a lone loud cell beside the instrument often
    outshone the instrument's own cells. With the hottest neighbourhood as the object's peak, the peak lay on
    its instrument in 65 % of far duets' instruments (the loudest cell: 54 %) and 93 % of test duets' (84 %)
    with the v7 model (``benchmarks/results/naming.md``); the smallest neighbourhood was taken, not tuned.
    (Smoothing the heatmaps themselves raised cIoU against the instruments' boxes but lowered it against
    their pixels: the heat spilled onto the boxes' background. Heatmaps stay cell by cell.)
    """
    pooled = F.avg_pool2d(heat[None, None].double(), 3, stride=1, padding=1, count_include_pad=False)
    return pooled[0, 0].to(heat.dtype)


class GroupingOptions(Protocol):
    """How cells are grouped (:class:`pixelsound.pixels.PixelsOptions` is one)."""

    max_objects: int
    min_share: float
    place: float
    look: float


class Separation(Protocol):
    """What :func:`find_objects` reads of a per-pixel separation (:class:`pixelsound.pixels.PixelsResult`)."""

    energy: Tensor  # (h, w, bands, n_bins)
    visual: Tensor  # (K, h, w)
    options: GroupingOptions

    def region_audio(self, region: Tensor) -> Tensor:
        """The sound of regions ``(R, h, w)`` -> ``(R, L)``."""
        ...


def find_objects(
    result: Separation,
    *,
    prototypes: dict[str, Tensor] | None = None,
    max_objects: int | None = None,
    min_share: float | None = None,
) -> list[SoundingObject]:
    """Sounding objects of a per-pixel separation: groups of cells, their sounds and categories.

    Args:
        result: from :func:`pixelsound.pixels.pixels`.
        prototypes: category -> visual vector ``(K,)`` (None: categories stay None).
        max_objects: most objects (default: ``result.options.max_objects``).
        min_share: least energy share (default: ``result.options.min_share``).

    Returns:
        Objects, loudest first, with their audio.
    """
    opts = result.options
    groups = group_cells(
        result.energy,
        max_groups=opts.max_objects if max_objects is None else max_objects,
        min_share=opts.min_share if min_share is None else min_share,
        place=opts.place,
        visual=result.visual,
        look=opts.look,
    )
    if not groups:
        return []
    audio = result.region_audio(torch.stack([g.cells.float() for g in groups]), share=True)  # (R, L)
    objects = []
    for i, g in enumerate(groups):
        category, score = categorize(result.visual, g.cells, prototypes)
        objects.append(SoundingObject(i, g.cells, g.heatmap, g.share, audio[i], category, score))
    return objects


# ------------------------------------------------------------------------------------------ categories


def categorize(
    visual: Tensor, region: Tensor, prototypes: dict[str, Tensor] | None
) -> tuple[str | None, float | None]:
    """Nearest category prototype (cosine) to the mean visual vector of a region's cells.

    Shapes:
        visual ``(K, h, w)``, region bool ``(h, w)`` -> (name, similarity)
    """
    if not prototypes:
        return None, None
    vector = visual[:, region].mean(1)  # (K,)
    names = list(prototypes)
    bank = torch.stack([torch.as_tensor(prototypes[n], dtype=vector.dtype) for n in names])  # (Y, K)
    sims = F.cosine_similarity(bank, vector[None], dim=1)
    best = int(sims.argmax())
    return names[best], float(sims[best])


@torch.no_grad()
def prototypes_from_index(
    index: str | Path, model: SoundOfPixels, *, per_category: int = 8, split: str | None = None
) -> dict[str, Tensor]:
    """Mean clip vector (frame net, max over space) of up to ``per_category`` solo clips of each category.

    Args:
        index: a JSON-lines index whose records have a ``category``.
        model: the separation model.
        per_category: clips used per category.
        split: only records of this split (None: all).

    Returns:
        category -> ``(K,)``.
    """
    index = Path(index)
    chosen: dict[str, list[Path]] = {}
    for record in read_index(index):
        name = record.get("category")
        if (
            name
            and (split is None or record.get("split") == split)
            and len(chosen.get(name, [])) < per_category
        ):
            chosen.setdefault(name, []).append(index.parent / record["path"])
    cfg = model.cfg
    out = {}
    for name, paths in chosen.items():
        vectors = []
        for path in paths:
            frames, _ = read_frames(path, times=[0.5], size=cfg.frames.size)
            frames = frames.expand(cfg.frames.num_frames, -1, -1, -1)
            vectors.append(model.encode_frames(frames[None, None].to(model.warp_matrix.device))[0, 0].cpu())
        out[name] = torch.stack(vectors).mean(0)
    return out
