"""Validation of a training run: fixed, seeded mixtures of held-out clips and their separation SDR.

:func:`held_out_set` reads the clips of an index with fixed windows, :func:`validation_batches` draws
``train.val_mixes`` mixtures of them once (seed :data:`VAL_SEED`, whatever the training seed) and keeps
them in memory, :func:`validate` measures the mean SDR of a model's separations and of the mixture itself.
Used by :mod:`pixelsound.train` after every epoch and by :mod:`pixelsound.adapt`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from pixelsound import metrics
from pixelsound.config import Config
from pixelsound.dataset import ClipDataset
from pixelsound.errors import TrainError
from pixelsound.mixing import MixtureItems, collate_mixtures, draw_groups, item_labels

VAL_SEED = 2018  # the validation mixtures do not depend on the training seed


def held_out_set(index: str, cfg: Config, categories: list[str]) -> Dataset | None:
    """Clips measured with fixed windows (validation, monitoring); None without an index or mixtures."""
    if not index or cfg.train.val_mixes <= 0:
        return None
    cache = cfg.data.cache_dir or None
    return ClipDataset(index, cfg.audio, cfg.frames, train=False, cache_dir=cache, categories=categories)


def validation_batches(
    val_set: Dataset | None, cfg: Config, name: str | None = None
) -> list[dict[str, torch.Tensor]]:
    """A fixed, seeded list of ``train.val_mixes`` mixtures (unit gains) of the clips of index ``name``
    (default ``data.val_index``), decoded once and kept in memory; none without clips."""
    if val_set is None:
        return []
    videos, categories = item_labels(val_set)
    loaded = MixtureItems(val_set)
    items = {i: loaded[i] for i in range(len(videos))}
    heard = [i for i, item in items.items() if _heard(item)]  # a silent window's source has no SDR
    try:
        rng = np.random.default_rng(VAL_SEED)
        labels = [videos[i] for i in heard], [categories[i] for i in heard]
        picks = draw_groups(*labels, cfg.train.val_mixes, cfg.data.num_mix, rng)  # (M, N) positions in heard
    except ValueError as err:
        raise TrainError(f"{name or cfg.data.val_index}: cannot form validation mixtures: {err}") from None
    groups = np.asarray(heard)[picks]  # (M, N) item numbers
    batches = []
    for first in range(0, len(groups), cfg.train.batch_size):
        chunk = groups[first : first + cfg.train.batch_size].reshape(-1)
        batch = collate_mixtures([items[int(i)] for i in chunk], cfg.data.num_mix)
        if batch is not None:
            batches.append(batch)
    return batches


def _heard(item: dict | None) -> bool:
    """Whether a validation item loaded and its window holds sound (peak above -80 dBFS)."""
    return isinstance(item, dict) and float(item["audio"].abs().max()) > 1e-4


@torch.no_grad()
def validate(
    model: nn.Module, batches: list[dict[str, torch.Tensor]], device: torch.device
) -> tuple[float, float]:
    """Mean SDR (dB, BSS-eval) of the separated sources and of the mixture itself, vs the true sources."""
    was_training = model.training
    model.eval()
    separated, mixture = [], []
    for batch in batches:
        sources = batch["sources"].to(device)  # (B, N, L)
        mix = sources.sum(1)  # (B, L)
        estimates = model.separate(mix, batch["frames"].to(device))  # (B, N, L)
        separated.append(metrics.sdr(sources, estimates).flatten().cpu())
        mixture.append(metrics.sdr(sources, mix[:, None].expand_as(sources)).flatten().cpu())
    model.train(was_training)
    if not batches:
        return math.nan, math.nan
    return float(torch.cat(separated).nanmean()), float(torch.cat(mixture).nanmean())
