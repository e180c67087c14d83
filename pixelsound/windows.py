"""The one chunking core: how a long signal is cut into model windows and put back together.

Every long-input path (``separate``, ``pixels``, ``score``, ``bank``, the data set's items) plans its windows,
weights them and picks their frames here, as demucs keeps all chunked inference in ``apply.py``:

* a *plan* gives the windows' first samples (and lengths): :func:`flush_starts` (a fixed hop, the last
  window flush with the end: ``separate``), :func:`even_plan` (evenly spaced starts on a grid, the last window
  running to the end: ``pixels``), :func:`spread_starts` (a few windows spread over a clip: ``score``);
* overlap-add *weights*: :func:`fade_weights` (linear ramps, never 0, normalised by their sum afterwards, see
  :class:`OverlapAdd`) or :func:`crossfade_weights` (cross-fades that already sum to one);
* *frame times*: :func:`frame_times`, the centres of ``V`` equal parts of each window, where a model window's
  frames are taken (as in training); :func:`frame_starts` lets a window that starts just after the previous
  one take the same frames.

Shapes: J windows, V frames per window, L samples.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ------------------------------------------------------------------------------------------------- plans


def flush_starts(length: int, window: int, overlap: float) -> list[int]:
    """First samples of windows covering ``length``, ``round(window * (1 - overlap))`` apart, the last one
    flush with the end (one window when ``length <= window``). ``-> J starts``."""
    if length <= window:
        return [0]
    hop = max(1, round(window * (1 - overlap)))
    count = math.ceil((length - window) / hop) + 1
    return [min(i * hop, length - window) for i in range(count)]


def frame_starts(starts: list[int], window: int, reuse: float = 0.1) -> list[int]:
    """Where each window's frames are taken: at its own start, except that a window starting less than
    ``reuse * window`` samples after the previous window's frame start takes that one's frames.

    ``flush_starts`` puts the last window flush with the end, so a clip a little longer than the window
    gets a second window shifted by a few frames; with the same frames it costs no second run of the frame
    net (:class:`pixelsound.inference.FrameFeatures` finds them). ``-> J`` sample offsets.
    """
    out: list[int] = []
    for start in starts:
        out.append(out[-1] if out and start - out[-1] < reuse * window else start)
    return out


def even_plan(total: int, chunk: int, overlap: float, align: int = 1) -> list[tuple[int, int]]:
    """``(start, length)`` of chunks covering ``total`` samples, evenly spaced.

    Starts are multiples of ``align`` (the STFT hop, so every chunk's frames fall on the whole signal's frame
    grid); each chunk is ``chunk`` long except the last, which runs to the end (up to ``align - 1`` longer).
    Consecutive chunks share at least ``overlap * chunk`` samples; one chunk when ``total <= chunk``.

    Raises:
        ValueError: ``overlap`` outside [0, 0.5].
    """
    if not 0 <= overlap <= 0.5:
        raise ValueError(f"overlap must be in [0, 0.5], got {overlap}")
    if total <= chunk:
        return [(0, total)]
    hop = max(1, int(chunk * (1 - overlap)))
    count = math.ceil((total - chunk) / hop) + 1
    starts = sorted({int(i * (total - chunk) / (count - 1)) // align * align for i in range(count)})
    return [(s, chunk) for s in starts[:-1]] + [(starts[-1], total - starts[-1])]


def spread_starts(duration: float, window: float, count: int) -> np.ndarray:
    """Start times of at most ``count`` windows of ``window`` seconds spread evenly over ``duration`` seconds
    (one at 0 when the clip is no longer than a window). ``-> (J,)`` seconds."""
    if duration <= window:
        return np.zeros(1)
    n = max(1, min(count, int(math.ceil(duration / window))))
    return np.linspace(0.0, duration - window, n)


# ----------------------------------------------------------------------------------------------- weights


def fade_weights(window: int, fade: int) -> Tensor:
    """Overlap-add weights: linear ramps of ``fade`` samples at both ends, never 0. ``-> (window,)``."""
    t = torch.arange(window, dtype=torch.float32)
    return ((torch.minimum(t + 1, window - t)) / max(fade, 1)).clamp(max=1.0)


def _ramp(n: int, overlap: int) -> Tensor:
    """Rise from 0 to 1 over the middle half of the first ``overlap`` of ``n`` samples. ``-> (n,)``."""
    t = torch.arange(n, dtype=torch.float64)
    if overlap <= 0:
        return torch.ones(n, dtype=torch.float64)
    lo, width = overlap / 4, overlap / 2
    return ((t + 0.5 - lo) / width).clamp(0, 1)


def crossfade_weights(plan: list[tuple[int, int]]) -> list[Tensor]:
    """Cross-fade weights for the chunks of an :func:`even_plan`: 0 in the outer quarters of each overlap,
    1 outside overlaps, linear in between, so every sample's weights sum to one and chunk edges never count.

    Returns:
        One float32 ``(length,)`` weight per chunk.
    """
    weights = []
    for i, (start, length) in enumerate(plan):
        left = sum(plan[i - 1]) - start if i > 0 else 0
        right = start + length - plan[i + 1][0] if i + 1 < len(plan) else 0
        weights.append(torch.minimum(_ramp(length, left), _ramp(length, right).flip(0)))
    total = torch.zeros(sum(plan[-1]), dtype=torch.float64)
    for (start, length), w in zip(plan, weights, strict=True):
        total[start : start + length] += w
    total = total.clamp_min(1e-12)
    return [(w / total[s : s + n]).float() for (s, n), w in zip(plan, weights, strict=True)]


class OverlapAdd:
    """Weighted windows added into one signal, divided by the summed weights at the end.

    Shapes:
        pieces ``(..., n)`` added at ``start`` with weights ``(n,)`` -> ``(..., length)``
    """

    def __init__(self, length: int, device: torch.device | str = "cpu"):
        self.length, self.total = length, None
        self.norm = torch.zeros(length, device=device)  # (L,)

    def add(self, start: int, piece: Tensor, weight: Tensor) -> None:
        if self.total is None:
            self.total = piece.new_zeros(*piece.shape[:-1], self.length)  # (..., L)
        n = piece.shape[-1]
        self.total[..., start : start + n] += piece * weight
        self.norm[start : start + n] += weight

    def result(self) -> Tensor:
        """The weighted sum over the summed weights. ``-> (..., L)``."""
        if self.total is None:
            raise ValueError("OverlapAdd: nothing was added")
        return self.total / self.norm


# ------------------------------------------------------------------------------------------------ pieces


def frame_times(starts: Tensor, window: float, num_frames: int) -> Tensor:
    """Centres of ``num_frames`` equal parts of windows of ``window`` seconds beginning at ``starts``
    (seconds): where a model window's frames are taken, as in training. ``(J,)`` -> float64 ``(J, V)``."""
    offsets = (torch.arange(num_frames, dtype=torch.float64) + 0.5) * window / num_frames  # (V,)
    return torch.as_tensor(starts).double()[:, None] + offsets


def piece(wave: Tensor, start: int, length: int) -> Tensor:
    """``length`` samples from ``start``, zero-padded past the end. ``(..., L)`` -> ``(..., length)``."""
    part = wave[..., start : start + length]
    return F.pad(part, (0, length - part.shape[-1]))
