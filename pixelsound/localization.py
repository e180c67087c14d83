"""How well sounding objects and heatmaps find the instruments of a duet (DSOL / LVS protocols).

:func:`ciou` binarizes a heatmap (above ``0.2 x max`` as DSOL's duet evaluation, or above the median as LVS)
and scores it against a ground-truth mask, ``|A and G| / (|G| + |A and not G|)``. As in those protocols
(MUSIC-Duet and VGG-SS are annotated with boxes), the ground truth of :func:`duet_scores` is each
instrument's bounding box (:func:`box_mask`); the score against its exact pixels is kept beside it
(``ciou_pixels``; stricter, as a grid of cells cannot draw a shape). :func:`success_auc` is the area under
the success-rate curve over cIoU thresholds 0, 0.05, ..., 1. :func:`duet_metrics` runs both on builder
duets (:func:`pixelsound.pixels.pixels` on each, objects from :mod:`pixelsound.objects`), with the SDR of the
sound made from each instrument's true region (and of the object matched to it) against the instrument's
stem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.optimize import linear_sum_assignment
from torch import Tensor
from tqdm import tqdm

from pixelsound.checkpoint import load_model, release_prototypes
from pixelsound.index import read_index
from pixelsound.io import read_audio
from pixelsound.metrics import bss_eval
from pixelsound.model import SoundOfPixels
from pixelsound.pixels import PixelsResult, pixels


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
        peak, its hottest 3 x 3 neighbourhood, lies on the instrument's box) and ``named`` (per instrument,
        or [] without categories).
    """
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
    from_regions = result.region_audio(regions, share=True)[:, :length]
    silent = torch.zeros(length)
    from_objects = torch.stack([result.objects[m].audio[:length] if m is not None else silent for m in match])
    refs = stems[:, :length].double()
    sdr_region = bss_eval(refs, from_regions.double(), compute_permutation=False, silent="nan")["sdr"]
    sdr_object = bss_eval(refs, from_objects.double(), compute_permutation=False, silent="nan")["sdr"]
    peak_on = [
        m is not None and peak_inside(result.objects[m].peak, result.grid, b)
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
    index = Path(index)
    records = [r for r in read_index(index) if r.get("stems") and r.get("masks")][:limit]
    if not records:
        raise ValueError(f"{index}: no duet records with stems and masks")
    net = load_model(model)
    names = release_prototypes(model)  # None for a loaded model: it carries no release prototypes
    sr = net.cfg.audio.sample_rate
    per_clip = []
    for record in tqdm(records, desc="duets", disable=not progress):
        result = pixels(record["path"], net, options=options, progress=False, prototypes=names)
        gts = [read_mask(index.parent / m) for m in record["masks"]]
        stems = [read_audio(index.parent / s, sr)[0] for s in record["stems"]]
        length = min(len(s) for s in stems)
        scores = duet_scores(result, gts, torch.stack([s[:length] for s in stems]), record.get("categories"))
        per_clip.append({"path": record["path"], "categories": record.get("categories"), **scores})
    return summarize_duets(per_clip)


def peak_inside(peak: tuple[int, int], grid: tuple[int, int], box: Tensor) -> bool:
    """Whether cell ``peak`` (row, col) of an ``(h, w)`` grid falls inside ``box`` (bool, H, W), at the cell
    centre (an object's :attr:`pixelsound.objects.SoundingObject.peak`)."""
    (row, col), (h, w) = peak, grid
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
