"""Where a sound was recorded: room impulse responses, microphone colouring and background noise.

Two kinds of room, kept apart on purpose: ``synthetic_ir`` (early reflections and an exponentially decaying
noise tail, numpy only) colours training windows on the fly (``augment``), while ``simulated_ir`` (a shoebox
room by the image-source method of pyroomacoustics, plus a diffuse tail) colours the clips of the far split at
build time, so the far split's rooms come from a generator the model never trained on.

Every function draws from the ``numpy.random.Generator`` it is given and nothing else, so the same generator
state gives the same samples.

Shapes:
    audio (L,) float32 at ``sample_rate``; an impulse response (L_ir,) float32, L_ir samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
from scipy import signal


@dataclass(frozen=True)
class Colouring:
    """How much a recording is coloured (probabilities per window or clip, and level ranges).

    Attributes:
        room: probability of a room (impulse response convolution).
        rt60: (min, max) reverberation time in seconds.
        eq: probability of microphone colouring (shelves and a peak).
        noise: probability of background noise.
        snr_db: (min, max) signal-to-noise ratio of that noise.
    """

    room: float = 0.8
    rt60: tuple[float, float] = (0.15, 1.5)
    eq: float = 0.7
    noise: float = 0.5
    snr_db: tuple[float, float] = (10.0, 40.0)


TRAINING = Colouring()
FAR = Colouring(room=0.85, rt60=(0.2, 1.4), eq=0.8, noise=0.6, snr_db=(12.0, 35.0))


def _tail(rng: np.random.Generator, n: int, sample_rate: int, rt60: float) -> np.ndarray:
    """A diffuse tail: noise decaying by 60 dB in rt60 seconds, darker as it decays (n,)."""
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    cutoff = min(rng.uniform(2000.0, 7000.0), 0.45 * sample_rate)
    b, a = signal.butter(1, cutoff / (sample_rate / 2))
    return signal.lfilter(b, a, noise)


def synthetic_ir(rng: np.random.Generator, sample_rate: int, rt60: tuple[float, float] = (0.15, 1.1)):
    """A procedural room: direct sound, a few early reflections and a diffuse tail.

    Returns:
        float32 (L_ir,) with the direct sound at sample 0 and unit peak.
    """
    decay = rng.uniform(*rt60)
    n = int(min(decay, 1.2) * sample_rate)
    ir = np.zeros(n)
    ir[0] = 1.0
    for _ in range(int(rng.integers(3, 10))):  # early reflections within 3..50 ms
        at = int(rng.uniform(0.003, 0.05) * sample_rate)
        ir[min(at, n - 1)] += rng.uniform(-0.6, 0.6)
    start = int(rng.uniform(0.005, 0.03) * sample_rate)
    direct_to_reverb = 10 ** (rng.uniform(-6.0, 12.0) / 20)  # dB of direct over diffuse energy
    tail = _tail(rng, n - start, sample_rate, decay)
    tail *= 1.0 / (direct_to_reverb * np.sqrt(np.sum(tail**2)) + 1e-12)
    ir[start:] += tail
    return (ir / np.abs(ir).max()).astype(np.float32)


def simulated_ir(rng: np.random.Generator, sample_rate: int, rt60: tuple[float, float] = (0.2, 1.4)):
    """A shoebox room by the image-source method (pyroomacoustics), source and microphone placed at random.

    Reflections up to order 10; the rest of the decay is a diffuse tail matched to the room's RT60.

    Returns:
        float32 (L_ir,), unit peak, starting at the direct sound.
    """
    dims = rng.uniform([3.0, 3.0, 2.4], [14.0, 11.0, 6.0])
    decay = float(rng.uniform(*rt60))
    for _ in range(12):  # a short RT60 in a big room needs absorption above 1: let such a room ring longer
        try:
            absorption, _ = pra.inverse_sabine(decay, dims)
            break
        except ValueError:
            decay *= 1.2
    else:
        raise ValueError(f"no shoebox room of {dims} rings for {decay:.2f} s")
    room = pra.ShoeBox(dims, fs=sample_rate, materials=pra.Material(absorption), max_order=10)
    room.add_source(rng.uniform([0.5, 0.5, 0.8], dims - 0.5))
    room.add_microphone(rng.uniform([0.5, 0.5, 0.8], dims - 0.5))
    room.compute_rir()
    early = np.asarray(room.rir[0][0], dtype=np.float64)
    early = early[int(np.argmax(np.abs(early) > 0.1 * np.abs(early).max())) :]  # from the direct sound
    n = max(len(early), int(min(decay, 1.5) * sample_rate))
    ir = np.zeros(n)
    ir[: len(early)] = early
    late = int(0.04 * sample_rate)
    tail = _tail(rng, n - late, sample_rate, decay)
    ir[late:] += tail * np.sqrt(np.sum(early[late:] ** 2) + 1e-12) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    return (ir / np.abs(ir).max()).astype(np.float32)


def convolve(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """``audio`` through the room ``ir``, same length and RMS as the dry audio.

    Shapes:
        audio (L,), ir (L_ir,) -> (L,)
    """
    wet = signal.fftconvolve(audio.astype(np.float64), ir.astype(np.float64))[: len(audio)]
    return match_rms(wet, audio)


def microphone(audio: np.ndarray, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Colour ``audio`` like a microphone and preamp: a low cut, a high shelf and a presence peak.

    Shapes:
        audio (L,) -> (L,), RMS kept.
    """
    nyq = sample_rate / 2
    x = audio.astype(np.float64)
    low = rng.uniform(40.0, 300.0)
    x = signal.sosfilt(signal.butter(2, low / nyq, "highpass", output="sos"), x)
    high = min(rng.uniform(2500.0, 9000.0), 0.9 * nyq)
    damped = signal.sosfilt(signal.butter(1, high / nyq, "lowpass", output="sos"), x)
    mix = rng.uniform(0.0, 0.8)  # how much of the top is rolled off
    x = (1 - mix) * x + mix * damped
    centre = min(rng.uniform(400.0, 4000.0), 0.7 * nyq)
    width = 2 ** rng.uniform(0.25, 1.0)  # half the band's width in octaves, as a ratio
    band = [centre / width, min(centre * width, 0.95 * nyq)]
    x = x + rng.uniform(-0.5, 0.8) * signal.sosfilt(
        signal.butter(1, np.array(band) / nyq, "bandpass", output="sos"), x
    )
    return match_rms(x, audio)


def background_noise(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Unit-RMS noise with a random spectral slope (white to brown), sometimes with mains hum (n,)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / sample_rate), 20.0)
    spectrum *= freqs ** (-rng.uniform(0.0, 1.0))  # 0 white, 0.5 pink, 1 brown
    noise = np.fft.irfft(spectrum, n)
    if rng.random() < 0.2:
        t = np.arange(n) / sample_rate
        noise += 0.5 * np.std(noise) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    return noise / (np.std(noise) + 1e-12)


def colour(
    audio: np.ndarray, rng: np.random.Generator, sample_rate: int, how: Colouring, simulated: bool = False
) -> np.ndarray:
    """Room, microphone and noise, each with its probability in ``how`` (the order of a real recording).

    Args:
        audio: dry mono audio (L,).
        rng: the only source of randomness.
        sample_rate: Hz.
        how: probabilities and ranges.
        simulated: rooms by ``simulated_ir`` (far split) instead of ``synthetic_ir`` (training).

    Returns:
        float32 (L,), RMS of the dry audio (silence stays silence).
    """
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    if rms < 1e-6:
        return audio.astype(np.float32)
    x = audio
    draws = rng.random(3)  # always three draws, so one choice does not shift the others
    if draws[0] < how.room:
        make = simulated_ir if simulated else synthetic_ir
        x = convolve(x, make(rng, sample_rate, how.rt60))
    if draws[1] < how.eq:
        x = microphone(x, rng, sample_rate)
    if draws[2] < how.noise:
        snr = rng.uniform(*how.snr_db)
        x = x + background_noise(rng, len(x), sample_rate) * rms * 10 ** (-snr / 20)
        x = match_rms(x, audio)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def match_rms(x: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``x`` scaled to the RMS of ``like``."""
    target = np.sqrt(np.mean(like.astype(np.float64) ** 2))
    return x * (target / (np.sqrt(np.mean(x**2)) + 1e-12))
