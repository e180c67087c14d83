"""Mix-and-separate batches: which clips are mixed together, how they are stacked, and their random gains.

Mixing happens in the training step, not in the data loader: the loader only yields solo clips, grouped N
at a time by :class:`MixtureBatchSampler`; :func:`collate_mixtures` stacks a batch of groups into
``sources (B, N, L)`` and ``frames (B, N, V, 3, H, W)``; the trainer scales the sources by :func:`draw_gains`
(a generator it owns, so resuming is exact) and the loss sums them into the mixture.

Grouping is a pure function of ``(seed, epoch)``: every process of a distributed run draws the same global
list of groups and takes its own contiguous slice of each global batch, so 2 processes with batch B/2 see
exactly the groups that 1 process with batch B sees. Each requested item also carries a key, ``(epoch,
position in the epoch's global list)``; a dataset offering ``draw(i, key)`` (see :class:`MixtureItems`) takes
its randomness (the random window) from that key alone, so a resumed run, a multi-process run and DataLoader
workers all read exactly the same windows.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import numpy as np
import torch

from pixelsound.index import video_key

log = logging.getLogger(__name__)

_WINDOW = 64  # how far ahead in the shuffled stream a compatible partner is looked for


def item_labels(dataset: Any) -> tuple[list[str], list[int]]:
    """The video and category of every item of a dataset, without decoding anything.

    The video is the record's ``"video"`` entry when the index has one, else
    :func:`pixelsound.index.video_key` (the file stem: clips cut from one video share it, as the train / val /
    test split assumes); without records every item counts as its own video. Categories come from
    ``dataset.category_of(i)`` (-1: unknown).

    Returns:
        ``(videos, categories)``, each of length ``len(dataset)``.
    """
    n = len(dataset)
    records = getattr(dataset, "records", None)
    if records is not None and len(records) == n:
        videos = [str(r.get("video") or video_key(r)) for r in records]
    else:
        videos = [str(i) for i in range(n)]
    category_of = getattr(dataset, "category_of", None)
    categories = [int(category_of(i)) for i in range(n)] if category_of else [-1] * n
    return videos, categories


def _fits(item: int, group: list[int], videos: np.ndarray, categories: np.ndarray, by_category: bool) -> bool:
    """Whether ``item`` may join ``group``: another video and, when asked, another (known) category."""
    if any(videos[item] == videos[g] for g in group):
        return False
    if not by_category or categories[item] < 0:
        return True
    return all(categories[item] != categories[g] for g in group)


def _any_fitting(
    group: list[int], videos: np.ndarray, categories: np.ndarray, by_category: bool
) -> np.ndarray:
    """Indices of all items that may join ``group`` (the slow path, when none fits close ahead)."""
    ok = ~np.isin(videos, videos[group])
    if by_category:
        used = categories[group]
        ok &= ~np.isin(categories, used[used >= 0])
    return np.flatnonzero(ok)


def draw_groups(
    videos: Sequence[str], categories: Sequence[int], num_groups: int, num_mix: int, rng: np.random.Generator
) -> np.ndarray:
    """Draw groups of ``num_mix`` items from different videos, and different categories when enough are known.

    Items are taken in shuffled order, passes over the data following each other, so each item appears about
    equally often; a partner that fits is looked for a little ahead in that order, or else drawn at random
    among all items that fit.

    Args:
        videos: video key of each item.
        categories: category of each item (-1 unknown).
        num_groups: how many groups to draw.
        num_mix: N, items per group.
        rng: numpy generator (the only source of randomness).

    Returns:
        int64 array of item indices. Shapes: (num_groups, N).
    """
    _, vids = np.unique(np.asarray(videos), return_inverse=True)
    cats = np.asarray(categories, dtype=np.int64)
    if vids.max(initial=-1) + 1 < num_mix:
        raise ValueError(f"need clips from at least {num_mix} different videos to mix {num_mix} sources")
    by_category = len(np.unique(cats[cats >= 0])) >= num_mix
    stream: deque[int] = deque()
    groups = np.empty((num_groups, num_mix), dtype=np.int64)
    for g in range(num_groups):
        while len(stream) < _WINDOW + num_mix:
            stream.extend(rng.permutation(len(cats)).tolist())
        group = [stream.popleft()]
        while len(group) < num_mix:
            ahead = islice(stream, _WINDOW)
            j = next((j for j, item in enumerate(ahead) if _fits(item, group, vids, cats, by_category)), None)
            if j is not None:
                group.append(stream[j])
                del stream[j]
            else:
                group.append(int(rng.choice(_any_fitting(group, vids, cats, by_category))))
        groups[g] = group
    return groups


class MixtureBatchSampler(torch.utils.data.Sampler[list[tuple[int, tuple[int, int]]]]):
    """Batch sampler yielding ``B * N`` requests ``(item, key)`` per batch: B groups of N clips to be mixed.

    Use it as a DataLoader ``batch_sampler`` over :class:`MixtureItems` with :func:`collate_mixtures`. The
    groups of an epoch are a pure function of ``(seed, epoch)``; ``set_epoch(epoch, start_batch)`` picks the
    epoch and where in it to start, which is all a resumed run needs. ``key = (epoch, position)`` numbers
    the draw in the epoch's global list, the same whatever the number of processes.

    Args:
        videos, categories: see :func:`item_labels`.
        batch_size: B, groups per batch for this process.
        num_mix: N, clips per group.
        seed: base seed of the grouping.
        steps_per_epoch: batches per epoch; 0 means one pass over the items (each clip used once).
        rank, world_size: this process's slice of every global batch of ``batch_size * world_size`` groups.
    """

    def __init__(
        self,
        videos: Sequence[str],
        categories: Sequence[int],
        *,
        batch_size: int,
        num_mix: int,
        seed: int = 0,
        steps_per_epoch: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not 2 <= num_mix <= 4:
            raise ValueError(f"num_mix must be 2, 3 or 4, got {num_mix}")
        self.videos, self.categories = list(videos), list(categories)
        self.batch_size, self.num_mix, self.seed = batch_size, num_mix, seed
        self.rank, self.world_size = rank, world_size
        global_batch = batch_size * world_size
        self.num_batches = steps_per_epoch or max(1, len(self.videos) // (num_mix * global_batch))
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Choose the epoch to iterate and the batch to start from (a resumed run starts mid-epoch)."""
        self.epoch, self.start_batch = epoch, start_batch

    def epoch_groups(self, epoch: int) -> np.ndarray:
        """All groups of an epoch, every process's share. Shapes: (num_batches * B * world_size, N)."""
        rng = np.random.default_rng([self.seed, epoch])
        total = self.num_batches * self.batch_size * self.world_size
        return draw_groups(self.videos, self.categories, total, self.num_mix, rng)

    def __len__(self) -> int:
        return self.num_batches - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, tuple[int, int]]]]:
        groups = self.epoch_groups(self.epoch)
        global_batch, n = self.batch_size * self.world_size, self.num_mix
        for b in range(self.start_batch, self.num_batches):
            first = b * global_batch + self.rank * self.batch_size  # this process's first group
            items = groups[first : first + self.batch_size].reshape(-1).tolist()
            yield [(item, (self.epoch, first * n + k)) for k, item in enumerate(items)]


class MixtureItems(torch.utils.data.Dataset):
    """What the DataLoader reads: one solo clip per request, and never an exception.

    A request is ``i`` or ``(i, key)`` (from :class:`MixtureBatchSampler`). With a key, a dataset that offers
    ``draw(i, key)`` is asked for that draw: its randomness (the random window) then follows from the key
    alone, which makes resumed and distributed runs exact; other datasets get ``dataset[i]``. An item that
    raises becomes None (logged) and :func:`collate_mixtures` drops its group; the clip dataset already
    replaces unreadable files, so this is the last line of defence.
    """

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset
        self.keyed = callable(getattr(dataset, "draw", None))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, request: int | tuple[int, tuple[int, ...]]) -> Any:
        i, key = request if isinstance(request, tuple) else (request, None)
        try:
            return self.dataset.draw(i, key) if key is not None and self.keyed else self.dataset[i]
        except Exception as err:  # any failure of one item must not stop training
            log.warning("item %d could not be loaded: %s: %s", i, type(err).__name__, err)
            return None


def _item_problem(item: Any) -> str | None:
    """Why a dataset item cannot be used, or None when it is fine."""
    if not isinstance(item, dict) or "audio" not in item or "frames" not in item:
        return f"not a clip dict ({type(item).__name__})"
    audio, frames = item["audio"], item["frames"]
    if not isinstance(audio, torch.Tensor) or audio.dim() != 1:
        return "audio is not a 1-D tensor"
    if not torch.isfinite(audio).all():
        return "audio has NaN or inf"
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[1] != 3:
        return "frames are not a (V, 3, H, W) tensor"
    return None


def collate_mixtures(items: list[Any], num_mix: int) -> dict[str, torch.Tensor] | None:
    """Stack ``B * N`` solo clips (consecutive runs of N form a group) into mixture-ready tensors.

    A group with a bad item (None, wrong shape, NaN audio, or shapes unlike the first good group) is dropped
    with a warning; ``"group"`` says which groups of the batch were kept, so per-group randomness (gains)
    stays aligned.

    Args:
        items: dataset items ``{"frames": uint8 (V, 3, H, W), "audio": (L,), "category": int, "index": int}``.
        num_mix: N.

    Returns:
        ``{"sources": (B, N, L), "frames": (B, N, V, 3, H, W), "category": (B, N), "index": (B, N),
        "group": (B,)}``, or None when no group survives.
    """
    kept: list[int] = []
    shapes: tuple | None = None
    for g in range(len(items) // num_mix):
        group = items[g * num_mix : (g + 1) * num_mix]
        problems = [(i, p) for i, p in ((i, _item_problem(it)) for i, it in enumerate(group)) if p]
        if not problems:
            here = tuple((it["audio"].shape, it["frames"].shape) for it in group)
            if len(set(here)) != 1 or (shapes is not None and here[0] != shapes):
                problems = [(0, f"shapes {here} differ from the batch's {shapes}")]
            shapes = shapes or here[0]
        if problems:
            i, why = problems[0]
            where = group[i].get("index", "?") if isinstance(group[i], dict) else "?"
            log.warning("skipping a mixture: item %s: %s", where, why)
            continue
        kept.append(g)
    if not kept:
        return None
    chosen = [items[g * num_mix + n] for g in kept for n in range(num_mix)]
    B, N = len(kept), num_mix

    def stack(key: str) -> torch.Tensor:
        values = [torch.as_tensor(it.get(key, -1)) for it in chosen]
        return torch.stack(values).reshape(B, N, *values[0].shape)

    return {
        "sources": stack("audio").float(),  # (B, N, L)
        "frames": stack("frames"),  # (B, N, V, 3, H, W)
        "category": stack("category").long(),  # (B, N)
        "index": stack("index").long(),  # (B, N)
        "group": torch.tensor(kept, dtype=torch.long),  # (B,)
    }


def draw_gains(
    generator: torch.Generator, batch: int, num_mix: int, gain_min: float, gain_max: float
) -> torch.Tensor:
    """Random gain per source, uniform in ``[gain_min, gain_max]``.

    In a distributed run every process draws the gains of the whole global batch (the same numbers, from
    identically seeded generators) and keeps its own rows, so the result does not depend on the world size.

    Returns:
        Tensor float32. Shapes: (batch, N).
    """
    return torch.empty(batch, num_mix).uniform_(gain_min, gain_max, generator=generator)
