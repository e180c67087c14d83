"""Programme loudness (ITU-R BS.1770-4), true-peak estimation, a peak limiter and loudness normalisation.

Integrated loudness follows BS.1770-4:

1. K-weighting of each channel: a high-shelf "pre-filter" (+4 dB above ~1.7 kHz, the head's acoustic effect)
   then the "RLB" high-pass (~38 Hz). The standard gives both biquads for 48 kHz only; here they are
   recomputed for any sample rate from the analog prototypes behind those coefficients (shelf: f0 =
   1681.97 Hz, gain 4.0 dB, Q 0.7072; high-pass: f0 = 38.135 Hz, Q 0.5003), which reproduces the published
   48 kHz coefficients to ~1e-8 and keeps the same response at other rates. Filtering is
   ``torchaudio.functional.lfilter`` in float64 with ``clamp=False`` (``biquad`` would clamp to [-1, 1]).
2. Mean square ``z_ij`` of channel ``i`` in 400 ms blocks overlapping by 75 % (100 ms hop).
3. Block loudness ``l_j = -0.691 + 10 log10(sum_i G_i z_ij)`` with channel weights ``G`` (1 for L, R, C;
   1.41 for surrounds).
4. Gating: blocks above the absolute gate (-70 LUFS) give a first loudness; blocks more than 10 LU below it
   (the relative gate) are dropped too; the integrated loudness is that of the mean square of the rest.

A stereo 997 Hz sine of peak amplitude ``A`` in both channels reads ``20 log10(A)`` LUFS (the -0.691 offset
cancels the K-weighting's +0.691 dB at 1 kHz); the same sine in one channel only reads 3.01 dB less. A
signal shorter than one block is measured as one block of its whole length (the standard leaves it undefined).

Peaks: :func:`true_peak` estimates the inter-sample peak by 4x oversampling (band-limited interpolation by
FFT, as BS.1770-4 annex 2 suggests with a polyphase filter); :func:`limit_peaks` is a look-ahead
limiter whose gain never exceeds what keeps every oversampled peak under the ceiling, so the output's sample
peaks are guaranteed below it and its true peaks are, to within the oversampling's accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio.functional as AF
from scipy import ndimage
from torch import Tensor

ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness
BLOCK_SECONDS = 0.4
OVERLAP = 0.75
SURROUND_WEIGHT = 1.41


def k_weighting(sample_rate: int) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The two K-weighting biquads for a rate: ``((b, a) shelf, (b, a) high-pass)``, float64 ``(3,)`` each.

    At 48 kHz: shelf b = [1.53512486, -2.69169619, 1.19839281], a = [1, -1.69065929, 0.73248077];
    high-pass b = [1, -2, 1], a = [1, -1.99004745, 0.99007225] (BS.1770-4 tables 1 and 2).
    """
    # stage 1: high shelf (bilinear transform of the analog prototype, pre-warped at f0)
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    shelf_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    # stage 2: second-order high-pass (RLB weighting)
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1 + k / q + k * k
    high_b = [1.0, -2.0, 1.0]
    high_a = [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    as64 = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return (as64(shelf_b), as64(shelf_a)), (as64(high_b), as64(high_a))


def k_weight(audio: Tensor, sample_rate: int) -> Tensor:
    """Apply the K-weighting filter to each channel.

    Shapes:
        audio ``(..., L)`` -> float64 ``(..., L)``
    """
    x = audio.to(torch.float64)
    for b, a in k_weighting(sample_rate):
        x = AF.lfilter(x, a, b, clamp=False)
    return x


def _as_channels(audio: Tensor) -> Tensor:
    if audio.dim() == 1:
        return audio[None]
    if audio.dim() != 2 or audio.shape[-1] == 0:
        raise ValueError(f"loudness: audio must be (C, L) or (L,) with L > 0, got {tuple(audio.shape)}")
    return audio


def channel_weights(channels: int) -> Tensor:
    """BS.1770 weights: 1 for up to three channels (L, R, C); 5.x layouts L, R, C, [LFE excluded], Ls, Rs."""
    weights = torch.ones(channels, dtype=torch.float64)
    if channels >= 5:
        weights[-2:] = SURROUND_WEIGHT
    return weights


def block_powers(audio: Tensor, sample_rate: int) -> Tensor:
    """Mean square of the K-weighted signal in gating blocks (400 ms, 75 % overlap).

    Shapes:
        audio ``(C, L)`` -> float64 ``(C, J)`` with J blocks (one block of the whole signal when L < 400 ms)
    """
    return _blocks(k_weight(_as_channels(audio), sample_rate) ** 2, sample_rate)


def _blocks(power: Tensor, sample_rate: int) -> Tensor:
    """Block means of a squared K-weighted signal. ``(C, L) -> (C, J)``."""
    block = int(round(BLOCK_SECONDS * sample_rate))
    hop = int(round(BLOCK_SECONDS * (1 - OVERLAP) * sample_rate))
    if power.shape[-1] < block:
        return power.mean(-1, keepdim=True)
    return power.unfold(-1, block, hop).mean(-1)  # (C, J)


def _lufs(power: Tensor) -> Tensor:
    return -0.691 + 10 * torch.log10(power.clamp_min(1e-30))


def gated_loudness(z: Tensor, weights: Tensor | None = None) -> float:
    """Integrated loudness from block powers: absolute gate (-70 LUFS), then relative gate (-10 LU).

    Shapes:
        z ``(C, J)`` from :func:`block_powers`
    """
    g = (weights if weights is not None else channel_weights(z.shape[0])).to(torch.float64)
    blocks = (g[:, None] * z).sum(0)  # (J,)
    loud = _lufs(blocks)
    kept = loud > ABSOLUTE_GATE
    if not bool(kept.any()):
        return -math.inf
    relative = float(_lufs(blocks[kept].mean())) + RELATIVE_GATE
    kept &= loud > relative
    return float(_lufs(blocks[kept].mean()))


def integrated_loudness(audio: Tensor, sample_rate: int, weights: Tensor | None = None) -> float:
    """Gated integrated loudness in LUFS (``-inf`` for silence or anything under the absolute gate).

    Args:
        audio: float waveform; 1-D is one channel.
        sample_rate: Hz (any; the K-weighting is recomputed for it).
        weights: per-channel weights (default :func:`channel_weights`).

    Returns:
        Loudness in LUFS.

    Shapes:
        audio ``(C, L)`` or ``(L,)``
    """
    return gated_loudness(block_powers(audio, sample_rate), weights)


def true_peak(audio: Tensor, factor: int = 4) -> float:
    """Estimated true (inter-sample) peak in dBTP, from ``factor``-times oversampling.

    Shapes:
        audio ``(C, L)`` or ``(L,)``
    """
    up = _oversampled_peaks(_as_channels(audio), factor)
    return 20 * math.log10(max(float(up.max()), 1e-12))


def sample_peak(audio: Tensor) -> float:
    """Largest absolute sample in dBFS."""
    return 20 * math.log10(max(float(audio.abs().max()), 1e-12))


def fast_length(n: int) -> int:
    """Smallest ``2^a 3^b 5^c >= n``: an FFT size without large prime factors (those can be 40x slower)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def oversample(x: Tensor, factor: int) -> Tensor:
    """Band-limited (ideal sinc) interpolation by zero-padding the spectrum.

    The signal is zero-padded at the end before the FFT so that the circular wrap-around does not ring into
    its first samples.

    Shapes:
        ``(C, L)`` -> ``(C, L * factor)``
    """
    length = x.shape[-1]
    n = fast_length(length + 64)
    spec = torch.fft.rfft(x, n=n)  # (C, n // 2 + 1)
    padded = spec.new_zeros(x.shape[0], n * factor // 2 + 1)
    padded[:, : spec.shape[-1]] = spec
    return torch.fft.irfft(padded, n=n * factor)[:, : length * factor] * factor


def _oversampled_peaks(x: Tensor, factor: int) -> Tensor:
    """Per original sample, the largest magnitude of it and its oversampled neighbours. ``(C, L) -> (L,)``."""
    if factor <= 1:
        return x.abs().amax(0)
    peaks = oversample(x.float(), factor).abs().unflatten(-1, (x.shape[-1], factor)).amax(-1)  # (C, L)
    return torch.maximum(peaks, x.abs()).amax(0)


def limiter_gain(peaks: Tensor, ceiling: float, radius: int) -> Tensor:
    """Smooth gain keeping ``peaks * gain <= ceiling``: running minimum of the needed gain over +-radius
    samples, then a moving average over the same span (O(L) filters from scipy.ndimage).

    Every average term is a minimum over a window containing the sample, so the gain is never above what the
    sample needs; it ramps down over ``radius`` samples before a peak and back up after it.

    Shapes:
        peaks ``(L,)`` -> ``(L,)`` float64
    """
    need = (ceiling / peaks.to(torch.float64).clamp_min(1e-12)).clamp(max=1.0).numpy()
    if need.min() >= 1:
        return torch.ones(len(need), dtype=torch.float64)
    floor = ndimage.minimum_filter1d(need, 2 * radius + 1, mode="nearest")
    gain = ndimage.uniform_filter1d(floor, 2 * radius + 1, mode="nearest")
    return torch.from_numpy(np.minimum(gain, need))  # the minimum guards rounding in the average


def limit_peaks(
    audio: Tensor,
    sample_rate: int,
    ceiling_db: float = -1.0,
    *,
    lookahead: float = 0.005,
    oversample_factor: int = 4,
) -> Tensor:
    """Look-ahead peak limiter: a smooth gain that keeps every (oversampled) peak at or under the ceiling.

    All channels share one gain (:func:`limiter_gain`), so the stereo image does not move; a final scale
    guarantees the sample peaks.

    Args:
        audio: float waveform.
        sample_rate: Hz.
        ceiling_db: peak ceiling in dBFS.
        lookahead: seconds of attack (and of release).
        oversample_factor: peaks are measured at this oversampling (1: sample peaks only).

    Returns:
        Limited audio, same dtype; sample peaks <= ceiling exactly.

    Shapes:
        ``(C, L)`` or ``(L,)`` -> same
    """
    x = _as_channels(audio)
    ceiling = 10 ** (ceiling_db / 20)
    peaks = _oversampled_peaks(x, oversample_factor)  # (L,)
    gain = limiter_gain(peaks, ceiling, max(1, int(round(lookahead * sample_rate))))
    return _apply(x, gain, ceiling).to(audio.dtype).reshape(audio.shape)


def _apply(x: Tensor, gain: Tensor, ceiling: float) -> Tensor:
    y = x.to(torch.float64) * gain
    return y * min(1.0, ceiling / max(float(y.abs().max()), 1e-12))


@dataclass(frozen=True)
class Normalized:
    """Result of :func:`normalize`: the audio and what was measured.

    Attributes:
        audio: normalised audio ``(C, L)``.
        gain_db: gain applied before limiting.
        loudness: integrated loudness of the result, LUFS.
        input_loudness: loudness of the input, LUFS.
        true_peak: estimated true peak of the result, dBTP.
    """

    audio: Tensor
    gain_db: float
    loudness: float
    input_loudness: float
    true_peak: float


def normalize(
    audio: Tensor,
    sample_rate: int,
    target: float = -16.0,
    peak_db: float = -1.0,
    *,
    iterations: int = 4,
    max_gain_db: float = 40.0,
) -> Normalized:
    """Bring audio to a target integrated loudness with peaks under ``peak_db``.

    The gain is set from the measured loudness, the limiter then holds the peaks, and since limiting lowers
    the loudness a little the gain is corrected and the limiter rerun (``iterations`` times at most, stopping
    within 0.05 LU). The input is K-weighted once; each iteration weights it by the gain envelope (which
    moves slowly next to the K-filter's time constants), and the result is measured exactly at the end.
    Silence is returned unchanged; a gain is never larger than ``max_gain_db``, so a very peaky input (a
    lone click) may end below the target: read ``loudness`` of the result.

    Args:
        audio: float waveform ``(C, L)``.
        sample_rate: Hz.
        target: integrated loudness wanted, LUFS (streaming platforms use -14 to -16; broadcast -23).
        peak_db: true-peak ceiling in dBTP (estimated by 4x oversampling).

    Returns:
        :class:`Normalized` with float32 audio.
    """
    audio = _as_channels(audio).float()
    weighted = k_weight(audio, sample_rate)  # (C, L), filtered once
    start = gated_loudness(_blocks(weighted**2, sample_rate))
    if not math.isfinite(start):
        return Normalized(audio, 0.0, start, start, true_peak(audio))
    peaks = _oversampled_peaks(audio, 4)  # (L,); peaks scale with the gain, so measure them once
    ceiling = 10 ** ((peak_db - 0.05) / 20)
    radius = max(1, int(round(0.005 * sample_rate)))
    gain_db = min(target - start, max_gain_db)
    for _ in range(iterations):
        envelope = _envelope(peaks, 10 ** (gain_db / 20), ceiling, radius)  # (L,)
        # the limiter's gain moves slowly next to the K-filter, so K(x * g) ~ K(x) * g
        loud = gated_loudness(_blocks((weighted * envelope) ** 2, sample_rate))
        if abs(loud - target) < 0.05 or gain_db >= max_gain_db:
            break
        gain_db = min(gain_db + target - loud, max_gain_db)
    out = (audio * envelope).float()
    return Normalized(out, gain_db, integrated_loudness(out, sample_rate), start, true_peak(out))


def _envelope(peaks: Tensor, scale: float, ceiling: float, radius: int) -> Tensor:
    """Total gain per sample: ``scale`` times the limiter's gain, times a last scale holding the ceiling."""
    gain = scale * limiter_gain(peaks * scale, ceiling, radius)
    top = float((peaks * gain).max())
    return gain * min(1.0, ceiling / max(top, 1e-12))
