"""Sounding objects, localization heatmaps and their metrics on duets.

**Objects.** Each grid cell's sound is described by its energy per (band, time bin) (from
:mod:`pixelsound.pixels`): the unit-norm square roots of these energies. Cells that carry energy are
clustered (agglomerative, average linkage, Euclidean) on that description together with the cell's place
in the frame (row and column over the grid's longer side, times ``place``): a sounding object is both one
sound and one connected thing, and two instruments that happen to sound alike in a moment stay apart when
they stand apart. The number of groups is the one with the best silhouette, provided the groups *sound*
different enough (cosine distance between the centroids of their sound descriptions, place left out, so
that one instrument is never cut in two by place alone); otherwise there is one object. Groups with too
small a share of the energy are dropped. Each object has a region (its cells), a sound (the region's pooled
mask applied to the mixture), a heatmap, and a category when category prototypes (a visual vector per
class) are known.

**Heatmaps** are in amplitude: each cell's RMS (the square root of its energy) over the loudest cell's.
Overall: every cell. Per object: the cells of its region (zero elsewhere), over the object's loudest cell.

**Metrics** (DSOL / LVS protocols): :func:`ciou` binarizes a heatmap (above ``0.2 x max`` as DSOL's duet
evaluation, or above the median as LVS) and scores it against a ground-truth mask,
``|A and G| / (|G| + |A and not G|)``. As in those protocols (MUSIC-Duet and VGG-SS are annotated with
boxes), the ground truth of :func:`duet_scores` is each instrument's bounding box (:func:`box_mask`); the
score against its exact pixels is kept beside it (``ciou_pixels``; stricter, as a grid of cells cannot
draw a shape). :func:`success_auc` is the area under the success-rate curve over cIoU thresholds 0, 0.05,
..., 1. :func:`duet_metrics` runs both on builder duets, with the SDR of the sound made from each
instrument's true region (and of the object matched to it) against the instrument's stem.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from torch import Tensor

if TYPE_CHECKING:
    from pixelsound.model import SoundOfPixels
    from pixelsound.pixels import PixelsResult

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
        points ``(n, D)``, labels ``(n,)``
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
        points: what cells are grouped by, ``(n, D)`` (e.g. unit-norm sound descriptors and scaled places).
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
    min_distance: float = 0.05,
) -> list[Group]:
    """Sounding groups of cells from their energies (the pure part of :func:`find_objects`).

    Args:
        energy: per-cell energies ``(h, w, bands, n_bins)``.
        max_groups: most groups.
        min_share: drop groups with less than this share of the sounding cells' energy.
        active: cells with less than this fraction of the loudest cell's energy do not sound.
        place: weight of a cell's place against its sound (0: sound alone).
        min_distance: least cosine distance between the groups' sound centroids.

    Returns:
        Groups, loudest first.
    """
    h, w = energy.shape[:2]
    total = energy.sum((2, 3)).flatten().double()  # (h*w,)
    if float(total.max()) <= 0:
        return []
    sounding = (total >= active * total.max()).nonzero().flatten()
    desc = cell_descriptors(energy)  # (h*w, D)
    points = torch.cat([desc, place * cell_places(h, w)], 1)  # (h*w, D + 2)
    labels = cluster_cells(points[sounding], max_groups, min_distance, sound=desc[sounding])
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


def find_objects(
    result: PixelsResult,
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
    )
    if not groups:
        return []
    audio = result.region_audio(torch.stack([g.cells.float() for g in groups]))  # (R, L)
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
    bank = torch.stack([torch.as_tensor(prototypes[n], dtype=vector.dtype) for n in names])  # (C, K)
    sims = F.cosine_similarity(bank, vector[None], dim=1)
    best = int(sims.argmax())
    return names[best], float(sims[best])


def release_prototypes(path: str | Path) -> dict[str, Tensor] | None:
    """Category prototypes stored in a release's ``config.json`` under ``info.prototypes`` (or None)."""
    path = Path(path)
    config = path / "config.json" if path.is_dir() else path.with_name("config.json")
    try:
        info = json.loads(config.read_text()).get("info", {})
    except (OSError, ValueError, AttributeError):
        return None
    found = info.get("prototypes") if isinstance(info, dict) else None
    if not isinstance(found, dict) or not found:
        return None
    return {str(k): torch.tensor(v, dtype=torch.float32) for k, v in found.items()}


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
    from pixelsound.index import read_index
    from pixelsound.io import read_frames

    index = Path(index)
    chosen: dict[str, list[Path]] = {}
    for record in read_index(index):
        name = record.get("category")
        if (
            name
            and (split is None or record.get("split") == split)
            and len(chosen.get(name, [])) < per_category
        ):
            chosen.setdefault(name, []).append(_resolve(index, record["path"]))
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


def _resolve(index: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else index.parent / p


# ------------------------------------------------------------------------------------------ metrics


def ciou(heatmap: Tensor | np.ndarray, gt: Tensor | np.ndarray, *, threshold: float | str = 0.2) -> float:
    """Consensus IoU of a heatmap against a ground-truth mask (DSOL / LVS).

    Args:
        heatmap: ``(h, w)`` on any grid; resized bilinearly to the mask's size.
        gt: ground-truth mask ``(H, W)``, bool or weights in [0, 1] (a consensus map).
        threshold: a float t keeps heatmap values above ``t x max`` (DSOL's duet evaluation, t = 0.2);
            ``"median"`` keeps the top half of the values (LVS).

    Returns:
        ``sum(A * G) / (sum(G) + sum(A * (G == 0)))`` with A the binarized heatmap.
    """
    gt, heat = _float64(gt), _float64(heatmap)
    if heat.dim() != 2 or gt.dim() != 2:
        raise ValueError(f"ciou: heatmap and gt must be 2-D, got {tuple(heat.shape)} and {tuple(gt.shape)}")
    heat = F.interpolate(heat[None, None], size=tuple(gt.shape), mode="bilinear", align_corners=False)[0, 0]
    if threshold == "median":
        cut = heat.flatten().sort().values[heat.numel() // 2]
        positive = heat >= cut
    else:
        positive = heat > float(threshold) * heat.max()
    inter = (positive * gt).sum()
    denom = gt.sum() + (positive & (gt == 0)).sum()
    return float(inter / denom) if denom > 0 else 0.0


def success_rates(cious: list[float] | np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """Share of samples whose cIoU reaches each threshold (default 0, 0.05, ..., 1). ``(21,)``."""
    thresholds = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds)
    values = np.asarray(cious, dtype=np.float64)
    return np.array([(values >= t - 1e-12).mean() if len(values) else 0.0 for t in thresholds])


def success_auc(cious: list[float] | np.ndarray) -> float:
    """Area under the success-rate curve over cIoU thresholds 0..1 (trapezoid, 21 points), as DSOL / LVS."""
    x = np.linspace(0, 1, 21)
    y = success_rates(cious, x)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def match_objects(heatmaps: list[Tensor], gts: list[Tensor]) -> list[int | None]:
    """Object for each ground-truth instrument: the assignment maximizing total cIoU (Hungarian).

    Returns:
        Per ground truth, the index of its object, or None when there are fewer objects.
    """
    if not heatmaps:
        return [None] * len(gts)
    scores = np.array([[ciou(h, g) for h in heatmaps] for g in gts])  # (G, O)
    rows, cols = linear_sum_assignment(-scores)
    found: list[int | None] = [None] * len(gts)
    for r, c in zip(rows, cols, strict=True):
        found[r] = int(c)
    return found


def mask_on_grid(mask: Tensor | np.ndarray, grid: tuple[int, int]) -> Tensor:
    """Share of each grid cell covered by a pixel mask ``(H, W)`` -> ``(h, w)`` in [0, 1]."""
    return F.adaptive_avg_pool2d(_float64(mask)[None, None], grid)[0, 0].float()


def _float64(x: Tensor | np.ndarray) -> Tensor:
    """A detached float64 tensor from a tensor or an array."""
    return (
        x.detach().double() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float64)
    )


def box_mask(mask: Tensor) -> Tensor:
    """The filled bounding box of a mask ``(H, W)`` bool -> same (all False for an empty mask)."""
    out = torch.zeros_like(mask, dtype=torch.bool)
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    if len(rows) and len(cols):
        out[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1] = True
    return out


def duet_scores(
    result: PixelsResult, gts: list[Tensor], stems: Tensor, categories: list[str] | None = None
) -> dict[str, object]:
    """Localization, separation and naming scores of one duet.

    Args:
        result: per-pixel separation of the duet video.
        gts: a pixel mask per instrument, bool ``(H, W)`` each.
        stems: each instrument's true sound ``(N, L)`` at ``result.sample_rate``.
        categories: each instrument's true name; with it ``named`` says, per instrument, whether the object
            matched to it carries that name.

    Returns:
        ``ciou`` (class-aware: mean over instruments of the matched object's heatmap against the instrument's
        box, DSOL), ``ciou_pixels`` (the same against its pixels), ``ciou_lvs`` (overall heatmap vs the union
        of the boxes, median threshold), ``sdr_region`` and ``sdr_object`` (per instrument, dB), ``objects``
        (number found), ``grid`` (cells, ``[h, w]``), ``peak_on`` (per instrument: the matched object's
        hottest cell lies on the instrument's box) and ``named`` (per instrument, or [] without categories).
    """
    from pixelsound.metrics import bss_eval

    gts = [torch.as_tensor(g, dtype=torch.bool) for g in gts]
    boxes = [box_mask(g) for g in gts]
    match = match_objects([o.heatmap for o in result.objects], gts)

    def class_aware(truths: list[Tensor]) -> list[float]:
        pairs = zip(match, truths, strict=True)
        return [ciou(result.objects[m].heatmap, g) if m is not None else 0.0 for m, g in pairs]

    per, per_pixels = class_aware(boxes), class_aware(gts)
    union = torch.stack(boxes).any(0)
    length = min(result.length, stems.shape[-1])
    regions = torch.stack([mask_on_grid(g, result.grid) for g in gts])  # (N, h, w)
    from_regions = result.region_audio(regions)[:, :length]
    silent = torch.zeros(length)
    from_objects = torch.stack([result.objects[m].audio[:length] if m is not None else silent for m in match])
    refs = stems[:, :length].double()
    sdr_region = bss_eval(refs, from_regions.double(), compute_permutation=False, silent="nan")["sdr"]
    sdr_object = bss_eval(refs, from_objects.double(), compute_permutation=False, silent="nan")["sdr"]
    peak_on = [
        m is not None and _peak_inside(result.objects[m].heatmap, b)
        for m, b in zip(match, boxes, strict=True)
    ]
    named = [
        m is not None and result.objects[m].category == c
        for m, c in zip(match, categories or [], strict=False)
    ]
    return {
        "peak_on": peak_on, "named": named,
        "ciou": float(np.mean(per)), "ciou_per_instrument": per, "ciou_pixels": float(np.mean(per_pixels)),
        "ciou_lvs": ciou(result.heatmap(), union, threshold="median"),
        "sdr_region": sdr_region.tolist(), "sdr_object": sdr_object.tolist(), "objects": len(result.objects),
        "grid": list(result.grid),
    }  # fmt: skip


def read_mask(path: Path) -> Tensor:
    """A builder mask PNG as bool ``(H, W)``."""
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("L")) > 127)


def duet_metrics(
    index: str | Path,
    model: str | Path | SoundOfPixels | None,
    *,
    options=None,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """cIoU / AUC and per-instrument SDR over the duets of a builder index (records with stems and masks).

    Args:
        index: e.g. ``duet_test.jsonl`` from ``pixelsound data instruments``.
        model: release folder / checkpoint / loaded model (None: the bundled one).
        options: :class:`pixelsound.pixels.PixelsOptions`.
        limit: first duets only.
        progress: a tqdm bar over duets.

    Returns:
        ``{"clips", "ciou", "ciou@0.3", "ciou@0.5", "auc", "ciou_lvs", "auc_lvs", "sdr_region", "sdr_object",
        "per_clip"}`` (means over clips; SDR means over instruments, NaN-free ones).
    """
    from tqdm import tqdm

    from pixelsound.index import read_index
    from pixelsound.io import read_audio
    from pixelsound.pixels import DEFAULT_MODEL, load_model, pixels

    index = Path(index)
    records = [r for r in read_index(index) if r.get("stems") and r.get("masks")][:limit]
    if not records:
        raise ValueError(f"{index}: no duet records with stems and masks")
    net = load_model(model)
    loaded = isinstance(model, torch.nn.Module)  # a loaded model carries no release prototypes
    names = None if loaded else release_prototypes(DEFAULT_MODEL if model is None else model)
    sr = net.cfg.audio.sample_rate
    per_clip = []
    for record in tqdm(records, desc="duets", disable=not progress):
        result = pixels(record["path"], net, options=options, progress=False, prototypes=names)
        gts = [read_mask(_resolve(index, m)) for m in record["masks"]]
        stems = [read_audio(_resolve(index, s), sr)[0] for s in record["stems"]]
        length = min(len(s) for s in stems)
        scores = duet_scores(result, gts, torch.stack([s[:length] for s in stems]), record.get("categories"))
        per_clip.append({"path": record["path"], "categories": record.get("categories"), **scores})
    return summarize_duets(per_clip)


def _peak_inside(heat: Tensor, box: Tensor) -> bool:
    """Whether the hottest cell of ``heat`` (h, w) falls inside ``box`` (bool, H, W), at the cell centre."""
    h, w = heat.shape
    row, col = divmod(int(heat.flatten().argmax()), w)
    height, width = box.shape
    return bool(box[int((row + 0.5) * height / h), int((col + 0.5) * width / w)])


def summarize_duets(per_clip: list[dict]) -> dict[str, object]:
    """Means over clips of :func:`duet_scores` outputs, with success rates and AUCs."""
    cious = [c["ciou"] for c in per_clip]
    lvs = [c["ciou_lvs"] for c in per_clip]
    rates = success_rates(cious)

    def mean(x: np.ndarray) -> float | None:
        return float(np.nanmean(x)) if np.isfinite(x).any() else None

    region = np.array([v for c in per_clip for v in c["sdr_region"]], dtype=np.float64)
    found = np.array([v for c in per_clip for v in c["sdr_object"]], dtype=np.float64)
    return {
        "clips": len(per_clip), "ciou": float(np.mean(cious)), "ciou@0.3": float(rates[6]),
        "ciou@0.5": float(rates[10]), "auc": success_auc(cious), "ciou_lvs": float(np.mean(lvs)),
        "ciou_pixels": float(np.mean([c["ciou_pixels"] for c in per_clip])),
        "auc_lvs": success_auc(lvs), "sdr_region": mean(region), "sdr_object": mean(found),
        "objects": float(np.mean([c["objects"] for c in per_clip])), "per_clip": per_clip,
        "peak_on": _share([v for c in per_clip for v in c.get("peak_on", [])]),
        "named": _share([v for c in per_clip for v in c.get("named", [])]),
    }  # fmt: skip


def _share(flags: list[bool]) -> float | None:
    return float(np.mean(flags)) if flags else None
