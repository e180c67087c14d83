"""A sound bank learned from unlabeled video: per visual prototype, event-aligned snippets of separated sound.

``pixelsound bank build INDEX --model M -o bank/``:

1. for each video of the index (with audio; the ``train`` split by default), the model's frame net gives a
   clip vector (of a crop around the thing that moves, :func:`pixelsound.regions.moving_vector`, as Foley
   describes the objects of a silent video),
   and the model separates the clip's sound from its own soundtrack by looking at its frames (windows
   overlap-added, :func:`pixelsound.separate.separate_waveform`), which keeps what the visible thing makes;
2. the separated sound is cut into event-aligned snippets: from each audio onset
   (:func:`pixelsound.onsets.detect_onsets`) to the next one (at most ``max_snippet`` seconds), with short
   fades; each snippet keeps its strength (peak level of its first 50 ms);
3. the clip vectors are clustered by k-means on the unit sphere (cosine) into visual *prototypes*; each
   prototype keeps up to ``snippets`` of its clips' snippets, spread over their strengths, a radius (how far
   from the centroid its own clips lie) and, where the index has categories, the majority category and its
   purity. No labels are needed to build the bank; categories are only attached.

The bank (:class:`pixelsound.soundbank.Bank`: its folder format and lookup) is saved into the output folder.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from pixelsound import onsets
from pixelsound.checkpoint import load_model
from pixelsound.clip import FileClip, TensorClip
from pixelsound.index import read_index
from pixelsound.regions import moving_vector
from pixelsound.separate import separate_waveform
from pixelsound.soundbank import Bank, BankError

log = logging.getLogger(__name__)

# ================================================================================================= building


def kmeans(x: Tensor, k: int, *, iterations: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Spherical k-means (cosine) with k-means++ seeding.

    Args:
        x: vectors ``(M, K)`` (normalized here).
        k: clusters (at most M).
        iterations: Lloyd iterations at most.
        seed: seeding.

    Returns:
        ``(centroids (k, K) unit length, labels (M,))``.
    """
    x = F.normalize(x.float(), dim=1)
    k = min(k, len(x))
    gen = torch.Generator().manual_seed(seed)
    chosen = [int(torch.randint(len(x), (1,), generator=gen))]
    for _ in range(1, k):
        dist = (1 - x @ x[chosen].T).clamp_min(0).amin(1)  # (M,)
        probs = dist**2 / (dist**2).sum() if float(dist.sum()) > 0 else torch.full_like(dist, 1 / len(x))
        chosen.append(int(torch.multinomial(probs, 1, generator=gen)))
    centroids = x[chosen].clone()
    labels = torch.zeros(len(x), dtype=torch.long)
    for step in range(iterations):
        new = (x @ centroids.T).argmax(1)
        if step and torch.equal(new, labels):
            break
        labels = new
        for c in range(k):
            if (labels == c).any():
                centroids[c] = F.normalize(x[labels == c].mean(0), dim=0)
    return centroids, labels


def cut_snippets(
    wave: Tensor, sample_rate: int, times: np.ndarray, *, max_snippet: float = 0.75, fade: float = 0.02
) -> list[tuple[Tensor, float]]:
    """Event-aligned snippets: from 10 ms before each onset to 10 ms before the next (at most ``max_snippet``
    seconds), faded in (5 ms) and out (``fade``); with each one's strength (peak of its first 50 ms).

    Shapes:
        wave ``(L,)`` -> list of ``((L_s,), strength)``
    """
    out = []
    bounds = list(times) + [len(wave) / sample_rate + 0.01]
    for t, nxt in zip(bounds[:-1], bounds[1:], strict=True):
        start = max(0, int(round((t - 0.01) * sample_rate)))
        stop = min(len(wave), int(round((min(nxt, t + max_snippet) - 0.01) * sample_rate)))
        if stop - start < int(0.05 * sample_rate):
            continue
        piece = wave[start:stop].clone()
        n_in, n_out = min(len(piece), int(0.005 * sample_rate)), min(len(piece), int(fade * sample_rate))
        piece[:n_in] *= torch.linspace(0, 1, n_in)
        piece[len(piece) - n_out :] *= torch.linspace(1, 0, n_out)
        out.append((piece, float(piece[: int(0.05 * sample_rate)].abs().max())))
    return out


@dataclass
class ClipSounds:
    """What one training clip gives the bank: its visual vector, category and snippets."""

    feature: Tensor  # (K,)
    category: str | None
    snippets: list[tuple[Tensor, float]]


@torch.inference_mode()
def clip_sounds(
    model, path: str | Path, category: str | None, seconds: float, max_snippet: float
) -> ClipSounds:
    """Separate one clip by its own frames, cut the result at its onsets and take its visual vector."""
    cfg = model.cfg
    sr, size = cfg.audio.sample_rate, cfg.frames.size
    clip = FileClip(path, scan=False)
    duration = min(clip.duration, seconds)
    wave = clip.audio(sr, duration=duration)  # (L,)
    fps = 4.0
    frames = clip.frames_at(np.arange(max(1, int(duration * fps))) / fps, size)  # (V, 3, S, S)
    feature = moving_vector(model, frames)
    separated = separate_waveform(model, wave, [TensorClip(frames, fps)])
    events = onsets.detect_onsets(separated[0], sr)
    return ClipSounds(
        feature, category, cut_snippets(separated[0], sr, events.times, max_snippet=max_snippet)
    )


def _spread(strengths: list[float], count: int) -> list[int]:
    """Indices of ``count`` items spread evenly over the sorted strengths (all when fewer)."""
    order = np.argsort(strengths)
    if len(order) <= count:
        return order.tolist()
    return order[np.linspace(0, len(order) - 1, count).round().astype(int)].tolist()


def assemble(
    clips: list[ClipSounds], prototypes: int, snippets: int, sample_rate: int, seed: int = 0
) -> Bank:
    """Cluster clip vectors into prototypes and gather each prototype's snippets.

    Args:
        clips: per clip, its vector, category and snippets.
        prototypes: clusters wanted (at most the number of clips).
        snippets: most snippets kept per prototype (spread over strengths).
        sample_rate: rate of the snippets.
        seed: k-means seeding.

    Returns:
        The :class:`Bank` (``info`` holds clips per prototype).
    """
    if not clips:
        raise BankError("no clips to build a bank from")
    features = torch.stack([c.feature for c in clips])  # (M, K)
    centroids, labels = kmeans(features, prototypes, seed=seed)
    unit = F.normalize(features.float(), dim=1)
    dist = 1 - (unit * centroids[labels]).sum(1)  # (M,)
    radius, cats, purity, waves, owner, strength = [], [], [], [], [], []
    for p in range(len(centroids)):
        members = (labels == p).nonzero().flatten().tolist()
        own = dist[members]
        radius.append(max(0.05, 1.5 * float(own.max())) if members else 0.05)
        named = Counter(clips[m].category for m in members if clips[m].category)
        top = named.most_common(1)
        cats.append(top[0][0] if top else None)
        purity.append(top[0][1] / sum(named.values()) if top else 0.0)
        pool = [s for m in members for s in clips[m].snippets]
        for i in _spread([s[1] for s in pool], snippets):
            waves.append(pool[i][0].float())
            owner.append(p)
            strength.append(pool[i][1])
    info = {
        "clips": len(clips),
        "clips_per_prototype": torch.bincount(labels, minlength=len(centroids)).tolist(),
    }
    return Bank(
        sample_rate,
        centroids,
        torch.tensor(radius),
        cats,
        purity,
        waves,
        torch.tensor(owner, dtype=torch.long),
        torch.tensor(strength, dtype=torch.float32),
        info,
    )


def build_bank(
    index: str | Path,
    model: Any,
    out: str | Path,
    *,
    prototypes: int = 16,
    split: str | None = "train",
    max_clips: int = 200,
    seconds: float = 20.0,
    snippets: int = 32,
    max_snippet: float = 0.75,
    seed: int = 0,
) -> Bank:
    """Build a bank from the videos of an index and save it into ``out``.

    Args:
        index: JSON-lines index (:mod:`pixelsound.index`); records without audio are skipped.
        model: release folder or checkpoint, a loaded model, or None for the bundled model
            (:func:`pixelsound.checkpoint.load_model`).
        out: bank folder.
        prototypes: visual prototypes (k-means clusters).
        split: only records of this split (None or records without a split: all).
        max_clips: at most this many clips (spread evenly over the index).
        seconds: at most this much of each clip.
        snippets: snippets kept per prototype.
        max_snippet: longest snippet in seconds.
        seed: clustering seed.

    Returns:
        The saved :class:`Bank`.
    """
    net = load_model(model)  # None: the bundled one
    cfg = net.cfg
    records = [
        r
        for r in read_index(index)
        if r.get("has_audio", True) and (split is None or r.get("split") in (None, split))
    ]
    if not records:
        raise BankError(f"{index}: no clips with audio{f' in split {split!r}' if split else ''}")
    records = [
        records[i] for i in np.linspace(0, len(records) - 1, min(max_clips, len(records))).round().astype(int)
    ]
    clips = []
    for r in tqdm(records, desc="bank", unit="clip"):
        try:
            clips.append(clip_sounds(net, r["path"], r.get("category"), seconds, max_snippet))
        except Exception as err:  # noqa: BLE001 - one bad clip is logged and skipped, never fatal
            log.warning("%s: skipped (%s)", r["path"], err)
    bank = assemble(clips, prototypes, snippets, cfg.audio.sample_rate, seed)
    source = str(Path(model).resolve()) if isinstance(model, (str, Path)) else None
    bank.info.update(model=source, index=str(Path(index).resolve()), split=split, k=cfg.model.k)
    bank.save(out)
    return bank


def format_bank(bank: Bank) -> str:
    """One line per prototype: id, category, purity, clips and snippets."""
    per_clip = bank.info.get("clips_per_prototype", [None] * len(bank))
    lines = [f"bank: {len(bank)} prototypes, {len(bank.snippets)} snippets at {bank.sample_rate} Hz"]
    for p in range(len(bank)):
        lines.append(
            f"  {p:3d}  {bank.categories[p] or '-':<14} purity {bank.purity[p]:.2f}  clips {per_clip[p]}  "
            f"snippets {int((bank.owner == p).sum())}  radius {float(bank.radius[p]):.3f}"
        )
    return "\n".join(lines)


# ================================================================================================= CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`pixelsound bank build INDEX --model M -o BANK` and `pixelsound bank show BANK`."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="separate training videos and store snippets per visual prototype")
    b.add_argument("index", type=Path, help="JSON-lines index of videos with sound")
    b.add_argument("--model", type=Path, help="release folder or checkpoint (default: the bundled model)")
    b.add_argument("-o", "--out", required=True, type=Path, help="bank folder")
    b.add_argument("--prototypes", type=int, default=16, help="visual prototypes (default 16)")
    b.add_argument("--split", default="train", help="split of the index to use ('' for all; default train)")
    b.add_argument("--max-clips", type=int, default=200, help="at most this many clips (default 200)")
    b.add_argument("--seconds", type=float, default=20.0, help="at most this much of each clip (default 20)")
    b.add_argument("--snippets", type=int, default=32, help="snippets per prototype (default 32)")
    b.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("show", help="list a bank's prototypes")
    s.add_argument("bank", type=Path)


def run(args: argparse.Namespace) -> int:
    if args.action == "show":  # the listing is the verb's output (stdout); status goes to the log
        print(format_bank(Bank.load(args.bank)))
        return 0
    bank = build_bank(
        args.index,
        args.model,
        args.out,
        prototypes=args.prototypes,
        split=args.split or None,
        max_clips=args.max_clips,
        seconds=args.seconds,
        snippets=args.snippets,
        seed=args.seed,
    )
    log.info("%s\nwrote %s", format_bank(bank), args.out)
    return 0
