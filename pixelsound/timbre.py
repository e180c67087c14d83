"""What an instrument sounds like, varied: a training window played a little faster or slower (pitch and the
body's resonances move together, as for a smaller or larger instrument) and heard through a random smooth
spectral envelope, so that the audio net meets more timbres than the training world's sound sources hold.

``data.timbre`` is the share of training windows so varied (:class:`pixelsound.dataset.ClipDataset`); the
window is varied before its room (:mod:`pixelsound.rooms`): the instrument first, then where it was heard.
Every function draws from the ``numpy.random.Generator`` it is given and nothing else.

Shapes:
    audio (L,) float32 at ``sample_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelsound import rooms


@dataclass(frozen=True)
class Timbre:
    """How far a window's timbre moves.

    Attributes:
        semitones: the speed changes by up to this many semitones either way (uniform in semitones).
        envelope_db: the spectral envelope's gains are uniform in [-envelope_db, +envelope_db].
        bands: points of the envelope, spaced evenly in log frequency from 80 Hz to the Nyquist frequency.
    """

    semitones: float = 2.0
    envelope_db: float = 6.0
    bands: int = 10


TRAINING = Timbre()


def draw_speed(rng: np.random.Generator, how: Timbre = TRAINING) -> float:
    """A playback speed: source samples read per output sample (> 1 plays faster and higher)."""
    return float(2.0 ** (rng.uniform(-how.semitones, how.semitones) / 12.0))


def source_samples(length: int, speed: float) -> int:
    """Samples of source audio that ``length`` output samples read at ``speed``."""
    return int(np.ceil(length * speed)) + 1


def play_at(audio: np.ndarray, speed: float, length: int) -> np.ndarray:
    """``length`` samples of ``audio`` played at ``speed`` (linear interpolation; past its end: silence).

    Shapes:
        audio (n,) with n >= :func:`source_samples` (length, speed) for the whole window -> float32 (length,)
    """
    at = np.arange(length, dtype=np.float64) * speed
    return np.interp(at, np.arange(len(audio)), audio.astype(np.float64), right=0.0).astype(np.float32)


def envelope(
    audio: np.ndarray, rng: np.random.Generator, sample_rate: int, how: Timbre = TRAINING
) -> np.ndarray:
    """``audio`` through a random smooth gain curve over log frequency, RMS kept (silence stays silence).

    Shapes:
        audio (L,) -> float32 (L,)
    """
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    gains_db = rng.uniform(-how.envelope_db, how.envelope_db, how.bands)
    if rms < 1e-6:
        return audio.astype(np.float32)
    spectrum = np.fft.rfft(audio.astype(np.float64))
    freqs = np.fft.rfftfreq(len(audio), 1.0 / sample_rate)
    points = np.geomspace(80.0, sample_rate / 2, how.bands)
    curve = np.interp(np.log(np.maximum(freqs, 1.0)), np.log(points), gains_db)  # flat outside the points
    out = rooms.match_rms(np.fft.irfft(spectrum * 10 ** (curve / 20), len(audio)), audio)
    return np.clip(out, -1.0, 1.0).astype(np.float32)
