"""Programme loudness (ITU-R BS.1770-4, measured by ``pyloudnorm``), true peaks, a peak limiter and loudness
normalisation.

Integrated loudness is :class:`pyloudnorm.Meter`'s BS.1770-4 gated measurement (400 ms blocks, 75 % overlap,
-70 LUFS absolute and -10 LU relative gates; channel weights 1 for L, R, C and 1.41 for the surrounds, up to
five channels) with its ``"DeMan"`` K-weighting: both biquads recomputed for any sample rate from the analog
prototypes behind the standard's 48 kHz tables, which they reproduce to ~1e-8 (pyloudnorm's default
``"K-weighting"`` class rounds the prototypes, 3e-3 off at 48 kHz). A stereo 997 Hz sine of peak amplitude
``A`` in both channels reads ``20 log10(A)`` LUFS; the same sine in one channel only reads 3.01 dB less. A
signal shorter than one block, which pyloudnorm refuses, is measured here as one block of its whole length.

Peaks (pyloudnorm has no true-peak meter or limiter): :func:`true_peak` estimates the inter-sample peak by 4x
oversampling (band-limited interpolation by FFT, as BS.1770-4 annex 2 suggests with a polyphase filter);
:func:`limit_peaks` is a look-ahead limiter whose gain never exceeds what keeps every oversampled peak under
the ceiling, so the output's sample peaks are guaranteed below it and its true peaks are, to within the
oversampling's accuracy.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import torch
from scipy import ndimage
from torch import Tensor

BLOCK_SECONDS = 0.4  # the gating block (pyloudnorm's default, the standard's)


@functools.lru_cache(maxsize=8)
def meter(sample_rate: int) -> pyloudnorm.Meter:
    """The BS.1770-4 meter for a rate, with the exact K-weighting (pyloudnorm's ``"DeMan"`` filters)."""
    return pyloudnorm.Meter(sample_rate, filter_class="DeMan", block_size=BLOCK_SECONDS)


def k_weighting(sample_rate: int) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The meter's two K-weighting biquads for a rate: ``((b, a) shelf, (b, a) high-pass)``, float64 ``(3,)``.

    At 48 kHz: shelf b = [1.53512486, -2.69169619, 1.19839281], a = [1, -1.69065929, 0.73248077];
    high-pass b = [1, -2, 1], a = [1, -1.99004745, 0.99007225] (BS.1770-4 tables 1 and 2).
    """
    stages = [meter(sample_rate)._filters[name] for name in ("high_shelf_DeMan", "high_pass_DeMan")]
    as64 = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))  # noqa: E731
    return tuple((as64(f.b), as64(f.a)) for f in stages)  # type: ignore[return-value]


def _as_channels(audio: Tensor) -> Tensor:
    if audio.dim() == 1:
        return audio[None]
    if audio.dim() != 2 or audio.shape[-1] == 0:
        raise ValueError(f"loudness: audio must be (C, L) or (L,) with L > 0, got {tuple(audio.shape)}")
    return audio


def integrated_loudness(audio: Tensor, sample_rate: int) -> float:
    """Gated integrated loudness in LUFS (``-inf`` for silence or anything under the absolute gate).

    Args:
        audio: float waveform; 1-D is one channel; at most five channels (L, R, C, Ls, Rs).
        sample_rate: Hz (any; the K-weighting is recomputed for it).

    Returns:
        Loudness in LUFS.

    Shapes:
        audio ``(C, L)`` or ``(L,)``
    """
    x = _as_channels(audio).to(torch.float64).numpy().T  # (L, C), pyloudnorm's layout
    if x.shape[0] > round(BLOCK_SECONDS * sample_rate):
        return float(meter(sample_rate).integrated_loudness(x))
    return _one_block(x, sample_rate)


def _one_block(x: np.ndarray, sample_rate: int) -> float:
    """A signal shorter than a block: BS.1770's block loudness of the whole of it, under the -70 LUFS gate."""
    for stage in meter(sample_rate)._filters.values():  # the K-weighting
        x = stage.apply_filter(x.T).T
    weights = np.array([1.0, 1.0, 1.0, 1.41, 1.41][: x.shape[1]])  # as pyloudnorm's channel gains
    power = float((weights * np.mean(x**2, axis=0)).sum())
    loud = -0.691 + 10 * math.log10(max(power, 1e-30))
    return loud if loud > -70.0 else -math.inf


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
    within 0.05 LU); each iteration measures the limited audio. Silence is returned unchanged; a gain is
    never larger than ``max_gain_db``, so a very peaky input (a
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
    start = integrated_loudness(audio, sample_rate)
    if not math.isfinite(start):
        return Normalized(audio, 0.0, start, start, true_peak(audio))
    peaks = _oversampled_peaks(audio, 4)  # (L,); peaks scale with the gain, so measure them once
    ceiling = 10 ** ((peak_db - 0.05) / 20)
    radius = max(1, int(round(0.005 * sample_rate)))
    gain_db = min(target - start, max_gain_db)
    for _ in range(iterations):
        envelope = _envelope(peaks, 10 ** (gain_db / 20), ceiling, radius)  # (L,)
        loud = integrated_loudness(audio * envelope, sample_rate)
        if abs(loud - target) < 0.05 or gain_db >= max_gain_db:
            break
        gain_db = min(gain_db + target - loud, max_gain_db)
    out = (audio * envelope).float()
    return Normalized(out, gain_db, loud, start, true_peak(out))


def _envelope(peaks: Tensor, scale: float, ceiling: float, radius: int) -> Tensor:
    """Total gain per sample: ``scale`` times the limiter's gain, times a last scale holding the ceiling."""
    gain = scale * limiter_gain(peaks * scale, ceiling, radius)
    top = float((peaks * gain).max())
    return gain * min(1.0, ceiling / max(top, 1e-12))
