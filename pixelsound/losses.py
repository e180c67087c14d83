"""Mix-and-separate: mask targets from the known sources and the weighted losses on the predicted masks.

Targets are computed on the warped (log-frequency) grid, from warped linear magnitudes, as in the original
code. ``cfg.model.mask`` picks the target:

* ``"binary"``: ``source > binary_threshold * mixture`` (magnitudes). This is what the Sound-of-Pixels code
  trains with (``mags[n] > 0.5 * mag_mix``), the paper's default. With two sources it approximates the paper's
  text, "the target sound is the dominant one"; with more sources several or none may be on in a bin.
* ``"dominant"``: the paper's text literally: ``source >= every other source`` (exactly one on per bin, ties
  aside).
* ``"ratio"``: ``source / mixture`` clamped to [0, 1].

Binary kinds use binary cross-entropy on the logits, ``"ratio"`` an L1 loss on the sigmoid masks; both
weighted per bin by ``clamp(log1p(mixture magnitude), 1e-3, 10)`` so silent bins count little.

Two more self-supervised terms, both off by default:

* a silent region of a training scene (:mod:`pixelsound.views`, ``train.scene_silence``) owns nothing of the
  mixture: its target mask is all zeros;
* ``model.contrast > 0`` adds ``contrast x`` :func:`contrastive_loss` between each source's visual vector
  and the model's :class:`~pixelsound.model.SoundEmbedding` of its own solo, so that a visual vector says
  *which* sound it is (what naming a silent object by the sound bank needs), not only which part of this
  mixture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from pixelsound import distrib
from pixelsound.spec import magnitude_weight

MASK_KINDS = ("binary", "dominant", "ratio")


def binary_target(mags: Tensor, mix_mag: Tensor, threshold: float = 0.5) -> Tensor:
    """1 where a source's magnitude exceeds ``threshold`` x the mixture's. ``(B, N, F, T)``, ``(B, F, T)``."""
    return (mags > threshold * mix_mag[:, None]).to(mags.dtype)


def dominant_target(mags: Tensor) -> Tensor:
    """1 where a source is at least as loud as every other source. Shapes: ``(B, N, F, T)`` -> same."""
    return (mags >= mags.amax(1, keepdim=True)).to(mags.dtype)


def ratio_target(mags: Tensor, mix_mag: Tensor) -> Tensor:
    """``source / mixture`` clamped to [0, 1]. ``(B, N, F, T)``, ``(B, F, T)`` -> ``(B, N, F, T)``."""
    return (mags / mix_mag[:, None].clamp_min(1e-8)).clamp(0.0, 1.0)


def mask_target(kind: str, mags: Tensor, mix_mag: Tensor, threshold: float = 0.5) -> Tensor:
    """The target masks named by ``kind`` (one of :data:`MASK_KINDS`).

    Args:
        kind: ``"binary"``, ``"dominant"`` or ``"ratio"``.
        mags: warped magnitudes of each source ``(B, N, F, T)``.
        mix_mag: warped magnitude of the mixture ``(B, F, T)``.
        threshold: the binary target's fraction of the mixture magnitude.

    Returns:
        Targets in [0, 1], ``(B, N, F, T)``.
    """
    if kind == "binary":
        return binary_target(mags, mix_mag, threshold)
    if kind == "dominant":
        return dominant_target(mags)
    if kind == "ratio":
        return ratio_target(mags, mix_mag)
    raise ValueError(f"model.mask: unknown mask kind {kind!r} (known: {', '.join(MASK_KINDS)})")


def mask_loss(kind: str, logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Weighted BCE on logits for binary kinds, weighted L1 on ``sigmoid(logits)`` for ``"ratio"``.

    Shapes:
        logits, target ``(B, N, F, T)``, weight broadcastable to them -> scalar
    """
    weight = weight.expand_as(target)
    if kind == "ratio":
        return (weight * (torch.sigmoid(logits) - target).abs()).mean()
    return F.binary_cross_entropy_with_logits(logits, target, weight=weight)


def contrastive_loss(visual: Tensor, sounds: Tensor, temperature: float = 0.1) -> Tensor:
    """InfoNCE both ways: the i-th visual vector should be nearer (cosine) the i-th sound than any other.

    Shapes:
        visual ``(M, K)``, sounds ``(M, K)`` -> scalar
    """
    v = F.normalize(visual.float(), dim=-1)
    a = F.normalize(sounds.float(), dim=-1)
    logits = v @ a.T / temperature  # (M, M)
    labels = torch.arange(len(v), device=v.device)
    return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2


def mix_and_separate_loss(
    model: torch.nn.Module, sources: Tensor, frames: Tensor, regions: Tensor | None = None
) -> tuple[Tensor, dict[str, float]]:
    """Mix the sources, predict each one's mask from its frames, and score the masks against the truth.

    Args:
        model: a :class:`pixelsound.model.SoundOfPixels` (or a DDP wrapper around one).
        sources: solo waveforms, already gain-scaled, ``(B, N, L)``.
        frames: each source's frames ``(B, N, V, 3, H, W)``, or one scene per mixture ``(B, V, 3, H, W)``.
        regions: with a scene, where each source is in it, ``(B, N, H, W)``; regions after the N-th are
            silent (their target is all zeros).

    Returns:
        The scalar loss, and stats: ``loss``, ``mask_mean``, ``target_mean``, ``error`` (weighted mean
        absolute difference between predicted and target masks, comparable across mask kinds), and
        ``contrast`` with the contrastive term.
    """
    net = getattr(model, "module", model)
    kind, threshold = net.cfg.model.mask, net.cfg.model.binary_threshold
    b, n = sources.shape[:2]
    out = model(sources.sum(1), frames, regions)  # masks (B, N or more, F, T)
    with torch.no_grad():
        _, mags = net.spectrogram(sources)  # (B, N, F, T)
        target = mask_target(kind, mags, out.mix_mag, threshold)
        silent = out.logits.shape[1] - n
        target = torch.cat([target, target.new_zeros(b, silent, *target.shape[2:])], 1)
        weight = magnitude_weight(out.mix_mag)[:, None]  # (B, 1, F, T)
    loss = mask_loss(kind, out.logits, target, weight)
    contrast = None
    if net.sound_embedding is not None:
        sounds = net.sound_embedding(mags)  # (B, N, K)
        # negatives from the whole global batch: P processes train as one with the same batch
        visual = distrib.gather_rows(out.visual[:, :n].flatten(0, 1))  # (B_global * N, K)
        contrast = contrastive_loss(visual, distrib.gather_rows(sounds.flatten(0, 1)))
        loss = loss + net.cfg.model.contrast * contrast
    with torch.no_grad():
        error = (weight * (out.masks - target).abs()).sum() / (weight.sum() * target.shape[1])
        stats = {
            "loss": float(loss.detach()),
            "mask_mean": float(out.masks.mean()),
            "target_mean": float(target.mean()),
            "error": float(error),
        }
        if contrast is not None:
            stats["contrast"] = float(contrast)
    return loss, stats
