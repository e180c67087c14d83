"""Spectrograms and the log-frequency warp, as pure functions.

Every function keeps leading dimensions: a ``(..., L)`` waveform becomes a ``(..., F, T)`` spectrogram and
back. The warp from linear to log-spaced frequency bins is a matrix, so warping and unwarping are matmuls
that run batched, on any device, and are differentiable.

The log axis follows the Sound-of-Pixels code: bin ``j`` of ``n_log`` sits at frequency
``corner * ((1 + nyquist / corner) ** (j / (n_log - 1)) - 1)``, which is logarithmic well above ``corner`` and
close to linear below it (the paper's 11025 Hz setting puts ``corner`` at nyquist / 20). Each log bin takes a
triangular average of the linear bins around it, as wide as the local bin spacing and never narrower than one
linear bin: plain linear interpolation where log bins are denser than linear ones, an anti-aliased average
where they are sparser. Unwarping spreads each log bin back with the same triangles (the normalized
transpose), which is linear interpolation between log bins wherever they are sparser.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

PAPER_CORNER_HZ = 11025 / 2 / 20  # the original code's warp: linear position (21 ** u - 1) / 20 at 11025 Hz
LOG_EPS = 1e-4  # floor added to magnitudes before the log


def _flatten(x: Tensor, keep: int) -> tuple[Tensor, tuple[int, ...]]:
    """Fold all but the last ``keep`` dims into one batch dim; return it and the leading shape."""
    lead = tuple(x.shape[: x.dim() - keep])
    return x.reshape((-1,) + tuple(x.shape[x.dim() - keep :])), lead


def stft(wave: Tensor, n_fft: int, hop: int) -> Tensor:
    """Short-time Fourier transform with a Hann window, centred frames and reflect padding.

    Args:
        wave: waveform.
        n_fft: FFT size (also the window length).
        hop: hop between frames, in samples.

    Returns:
        Complex spectrogram.

    Shapes:
        wave ``(..., L)`` -> ``(..., n_fft // 2 + 1, L // hop + 1)``
    """
    flat, lead = _flatten(wave, 1)
    window = torch.hann_window(n_fft, device=wave.device, dtype=wave.dtype)
    spec = torch.stft(flat, n_fft, hop, window=window, center=True, pad_mode="reflect", return_complex=True)
    return spec.reshape(lead + tuple(spec.shape[-2:]))


def istft(spec: Tensor, n_fft: int, hop: int, length: int) -> Tensor:
    """Inverse of :func:`stft` (overlap-add with the same Hann window), equal to ``torch.istft``.

    The overlap-add is a sum of ``ceil(n_fft / hop)`` shifted slices instead of a ``fold``: faster for many
    rows (every grid cell of :mod:`pixelsound.pixels`), fastest with memory laid out frames first.

    Args:
        spec: complex spectrogram as made by :func:`stft`.
        n_fft: FFT size used by :func:`stft`.
        hop: hop used by :func:`stft`.
        length: number of samples to return (the original ``L``).

    Returns:
        Real waveform.

    Shapes:
        spec ``(..., n_fft // 2 + 1, T)`` -> ``(..., length)``
    """
    flat, lead = _flatten(spec, 2)  # (B, F_lin, T)
    n, _, frames_t = flat.shape
    window, envelope = _window_envelope(n_fft, hop, frames_t, flat.real.dtype, str(flat.device))
    frames = torch.fft.irfft(flat.transpose(1, 2), n=n_fft).mul_(window)  # (B, T, n_fft)
    parts = -(-n_fft // hop)
    out = frames.new_zeros(n, frames_t + parts - 1, hop)
    for j in range(parts):
        piece = frames[:, :, j * hop : (j + 1) * hop]  # the last piece may be shorter than hop
        out[:, j : j + frames_t, : piece.shape[-1]] += piece
    begin = n_fft // 2
    wave = out.view(n, -1)[:, begin : begin + length] / envelope[begin : begin + length]
    return F.pad(wave, (0, length - wave.shape[1])).reshape(lead + (length,))


@functools.lru_cache(maxsize=8)
def _window_envelope(
    n_fft: int, hop: int, frames_t: int, dtype: torch.dtype, device: str
) -> tuple[Tensor, Tensor]:
    """Hann window and its overlap-added square (what the inverse STFT divides by), cached.

    Shapes:
        -> ``(n_fft,)``, ``((T + ceil(n_fft / hop) - 1) * hop,)``
    """
    window = torch.hann_window(n_fft, device=device, dtype=dtype)
    parts = -(-n_fft // hop)
    sq = F.pad(window**2, (0, parts * hop - n_fft)).view(parts, hop)
    env = window.new_zeros(frames_t + parts - 1, hop)
    for j in range(parts):
        env[j : j + frames_t] += sq[j]
    return window, env.flatten().clamp_min(1e-11)


def log_bin_positions(n_lin: int, n_log: int, sample_rate: int, corner_hz: float = PAPER_CORNER_HZ) -> Tensor:
    """Fractional linear-bin index of each log bin (first at 0 Hz, last at Nyquist, log-spaced above corner).

    Shapes:
        -> ``(n_log,)`` float64, increasing from 0 to ``n_lin - 1``
    """
    if n_log < 2 or n_lin < 2:
        raise ValueError(
            f"log_freq_matrix needs at least 2 bins on each axis, got n_lin={n_lin}, n_log={n_log}"
        )
    nyquist = sample_rate / 2
    u = torch.linspace(0, 1, n_log, dtype=torch.float64)
    hz = corner_hz * ((1 + nyquist / corner_hz) ** u - 1)
    return hz / nyquist * (n_lin - 1)


def log_freq_matrix(n_lin: int, n_log: int, sample_rate: int, corner_hz: float = PAPER_CORNER_HZ) -> Tensor:
    """Linear-to-log frequency warp as a matrix of triangular interpolation weights (rows sum to 1).

    Args:
        n_lin: linear bins (``n_fft // 2 + 1``).
        n_log: log-spaced bins wanted (paper: 512 -> 256).
        sample_rate: audio sample rate in Hz (places the log axis in Hz).
        corner_hz: below this frequency the axis is close to linear.

    Returns:
        The warp matrix, float32.

    Shapes:
        -> ``(n_log, n_lin)``
    """
    pos = log_bin_positions(n_lin, n_log, sample_rate, corner_hz)  # (n_log,)
    gaps = pos.diff()
    left = torch.cat([gaps[:1], gaps]).clamp_min(1.0)  # half-width towards lower bins
    right = torch.cat([gaps, gaps[-1:]]).clamp_min(1.0)  # half-width towards higher bins
    lin = torch.arange(n_lin, dtype=torch.float64)
    offset = lin[None, :] - pos[:, None]  # (n_log, n_lin)
    half = torch.where(offset < 0, left[:, None], right[:, None])
    weights = (1 - offset.abs() / half).clamp_min(0)
    return (weights / weights.sum(1, keepdim=True)).float()


def unwarp_matrix(matrix: Tensor) -> Tensor:
    """The log-to-linear matrix that undoes a :func:`log_freq_matrix` warp (normalized transpose).

    Shapes:
        matrix ``(n_log, n_lin)`` -> ``(n_lin, n_log)``
    """
    back = matrix.transpose(0, 1)
    total = back.sum(1, keepdim=True)
    if bool((total <= 0).any()):
        raise ValueError("warp matrix leaves some linear bins uncovered; build it with log_freq_matrix")
    return back / total


def warp(x: Tensor, matrix: Tensor) -> Tensor:
    """Move a real spectrogram (magnitude, mask) from linear to log frequency.

    Shapes:
        x ``(..., n_lin, T)``, matrix ``(n_log, n_lin)`` -> ``(..., n_log, T)``
    """
    return torch.matmul(matrix.to(x.dtype), x)


def unwarp(x: Tensor, matrix: Tensor) -> Tensor:
    """Move a real spectrogram from log back to linear frequency.

    Args:
        x: log-frequency spectrogram.
        matrix: either the warp matrix ``(n_log, n_lin)`` from :func:`log_freq_matrix` (inverted here) or a
            precomputed :func:`unwarp_matrix` ``(n_lin, n_log)``; told apart by which axis matches ``x``.

    Shapes:
        x ``(..., n_log, T)`` -> ``(..., n_lin, T)``
    """
    n_log = x.shape[-2]
    if matrix.shape[0] == n_log and matrix.shape[1] != n_log:
        matrix = unwarp_matrix(matrix)
    if matrix.shape[1] != n_log:
        raise ValueError(f"unwarp: matrix {tuple(matrix.shape)} does not fit {n_log} log bins")
    return torch.matmul(matrix.to(x.dtype), x)


def log_magnitude(mag: Tensor, eps: float = LOG_EPS) -> Tensor:
    """``log(mag + eps)``: the audio net's input scale. Shapes: any -> same."""
    return torch.log(mag + eps)


def magnitude_weight(mix_mag: Tensor) -> Tensor:
    """Per-bin loss weight ``clamp(log1p(mix_mag), 1e-3, 10)`` (the paper's weighted loss). Shapes: any."""
    return torch.log1p(mix_mag).clamp(1e-3, 10.0)


def frames_for(length: int, hop: int) -> int:
    """STFT frames ``T`` that :func:`stft` makes from ``length`` samples."""
    return length // hop + 1


def samples_for(frames: int, hop: int) -> int:
    """The largest ``L`` whose centred STFT has ``frames`` frames (paper: 256 frames, hop 256 -> 65535)."""
    return frames * hop - 1


def compete(masks: Tensor, power: float) -> Tensor:
    """Masks of the sources of one mixture made to share each time-frequency bin.

    The synthesizer scores each source on its own, so in a bin both sources often keep much of the mixture
    (the SIR suffers). Here source i keeps ``m_i^p / sum_j m_j^p`` of the bin's largest mask ``max_j m_j``:
    the most likely source takes most of a contested bin, a bin no source claims stays empty, and one
    source alone keeps its mask. ``power = 0`` returns the masks as they are.

    Shapes:
        masks in [0, 1] ``(..., N, F, T)`` -> float32, the same shape
    """
    if power <= 0:
        return masks
    masks = masks.float()
    weights = masks.pow(power)
    return weights / weights.sum(-3, keepdim=True).clamp_min(1e-12) * masks.amax(-3, keepdim=True)
