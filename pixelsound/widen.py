"""Start a wider model from a narrower release without changing what it computes (``train --init``).

A release of width ``unet_channels = 16`` can seed a recipe of width 24 (and ``frame_width`` the same way):
every weight of the release goes into the leading slice of the wider tensor; a new channel's *incoming*
weights keep the wider model's fresh initialization and its *outgoing* weights are zero. The new channels
therefore compute something but nothing reads them yet, so the wider model's output equals the release's
exactly; training then grows the zero weights (their gradients are not zero) and the new channels join in.

Where a convolution reads a concatenation (the U-Net's decoder reads ``[skip, up]``), the release's input
channels are placed group by group, so each half keeps its meaning.

Training from scratch on the richest worlds does not start (see recipes/instruments/RESULTS.md), so growing a
model is how a larger one inherits what a smaller one already learned.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

# model settings that may grow between a release and the recipe started from it
WIDEN_KEYS = ("model.unet_channels", "model.frame_width")

# parameters whose input channels are a concatenation of equal groups: the U-Net's decoder convolutions read
# [skip, up] (two groups) at every level but the innermost
_GROUPED = re.compile(r"audio_net\.up\.(\d+)\.2\.weight$")


def _input_groups(name: str, unet_depth: int) -> int:
    match = _GROUPED.search(name)
    return 2 if match and int(match.group(1)) < unet_depth - 1 else 1


def _spread(old_size: int, new_size: int, groups: int) -> Tensor:
    """Where each of ``old_size`` input channels lands among ``new_size``, group by group. ``(old_size,)``"""
    if old_size % groups or new_size % groups:
        raise ValueError(f"cannot split {old_size} -> {new_size} channels into {groups} groups")
    old, new = old_size // groups, new_size // groups
    return torch.cat([torch.arange(old) + g * new for g in range(groups)])


def widen_tensor(old: Tensor, fresh: Tensor, groups: int = 1) -> Tensor:
    """``old`` inside a tensor of ``fresh``'s shape: leading output slice, input channels spread by group.

    Dim 0 (output channels, or the only dim of a BatchNorm vector) keeps ``fresh`` beyond ``old``'s size;
    for a convolution weight, the new input columns of the old output rows are zero (nothing reads a new
    channel yet) and the new output rows keep ``fresh``.

    Shapes:
        old ``(O, I, ...)`` or ``(O,)``, fresh ``(O', I', ...)`` or ``(O',)`` with ``O' >= O``, ``I' >= I``
    """
    if old.dim() != fresh.dim() or any(o > n for o, n in zip(old.shape, fresh.shape, strict=True)):
        raise ValueError(f"cannot widen {tuple(old.shape)} into {tuple(fresh.shape)}")
    if old.dim() == 0:
        return old.clone()
    out, rows = fresh.clone(), old.shape[0]
    if old.dim() == 1:
        out[:rows] = old
        return out
    cols = _spread(old.shape[1], fresh.shape[1], groups)
    out[:rows] = 0
    out[:rows, cols] = old.to(out.dtype)
    return out


def widen_state(old: dict[str, Tensor], model: nn.Module, unet_depth: int) -> dict[str, Tensor]:
    """A state dict for ``model`` (the wider one, freshly initialized) carrying ``old``'s weights.

    Raises:
        ValueError: the keys differ, or a tensor of ``old`` is larger than ``model``'s.
    """
    fresh = model.state_dict()
    if set(old) != set(fresh):
        differ = sorted(set(old) ^ set(fresh))
        raise ValueError(f"the release's parameters differ from the wider model's: {', '.join(differ[:3])}")
    state = {}
    for name, tensor in fresh.items():
        if old[name].shape == tensor.shape:
            state[name] = old[name]
        else:  # a new BatchNorm channel keeps the fresh statistics (mean 0, variance 1)
            state[name] = widen_tensor(old[name], tensor, _input_groups(name, unet_depth))
    return state
