"""Ambience beds: procedural, seamless environment sound of any length (room tone, wind, rain, rumble, crowd,
chirps, water), and a bed chosen from what a scene looks like.

One concern, ambience beds: the block synthesizer, its presets and the choice of a bed from the scene.

A bed is generated in blocks by a small stateful synthesizer: white or pink noise through IIR filters whose
state carries from block to block (``scipy.signal.sosfilt`` with ``zi``), slow modulators that are smoothed
noise with the same carried state, and short events (rain drops, bird chirps, bubbles) that either excite
resonant filters (so they ring on across a block boundary by themselves) or are overlap-added with their tail
carried into the next block. Nothing is looped, so a ten-minute bed has no seam anywhere; and its end is
crossfaded into its start (:func:`bed`), so a video played in a loop does not click either. A bed is a pure
function of its name, parameters, seed, length and rate.

Each bed has a few parameters (:data:`BEDS`, with defaults and ranges); the two channels are independent
noise and ``width`` (0 mono .. 1 fully decorrelated) sets the stereo spread by mid/side.

:func:`choose` picks a bed from the room preset (:func:`pixelsound.spotting.guess_room`) and a scene's simple
statistics (:func:`scene_stats`: brightness, saturation, sky, green or blue ground, grey, motion).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal
from torch import Tensor

BLOCK_SECONDS = 1.0  # synthesis block; state carries across blocks, so this is invisible in the output
LOOP_SECONDS = 1.0  # the end of a bed is crossfaded into its start over this long (at most a quarter of it)
PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])  # -3 dB/octave (Kellet)
PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])


@dataclass(frozen=True)
class BedSpec:
    """A kind of ambience bed.

    Attributes:
        name: what cue sheets and ``--ambience`` call it.
        about: one line for people.
        level_db: default loudness relative to the objects (LU; quieter beds sit lower).
        params: parameter name -> ``(default, low, high)``.
    """

    name: str
    about: str
    level_db: float
    params: dict[str, tuple[float, float, float]]


BEDS: dict[str, BedSpec] = {
    b.name: b
    for b in (
        BedSpec("room_tone", "a quiet room: low pink noise, optional mains hum", -26.0, {
            "cutoff_hz": (500.0, 100.0, 4000.0), "hum": (0.0, 0.0, 1.0), "hum_hz": (50.0, 40.0, 400.0)}),
        BedSpec("wind", "band-limited noise in gusts", -18.0, {
            "strength": (0.6, 0.0, 1.0), "gustiness": (0.5, 0.0, 1.0), "cutoff_hz": (800.0, 200.0, 4000.0)}),
        BedSpec("rain", "hiss and a patter of drops", -18.0, {
            "density": (0.5, 0.0, 1.0), "heaviness": (0.5, 0.0, 1.0)}),
        BedSpec("rumble", "distant traffic: a low rumble with passing swells", -18.0, {
            "depth_hz": (120.0, 40.0, 400.0), "swell": (0.5, 0.0, 1.0), "hiss": (0.3, 0.0, 1.0)}),
        BedSpec("crowd", "a murmur of voices, no words", -22.0, {
            "people": (8.0, 1.0, 32.0), "activity": (0.5, 0.0, 1.0)}),
        BedSpec("chirps", "birds chirping, insects buzzing", -20.0, {
            "rate": (2.0, 0.1, 20.0), "pitch_hz": (3500.0, 1000.0, 8000.0), "insects": (0.3, 0.0, 1.0)}),
        BedSpec("water", "a stream: babbling noise and bubbles", -18.0, {
            "flow": (0.5, 0.0, 1.0), "bubbles": (0.5, 0.0, 1.0)}),
    )
}  # fmt: skip
NONE = "none"  # the name that means "no ambience"


def spec(name: str) -> BedSpec:
    """The bed called ``name``; an unknown name raises ValueError listing the known ones."""
    try:
        return BEDS[name]
    except KeyError:
        raise ValueError(f"unknown ambience {name!r} (known: {', '.join([*BEDS, NONE])})") from None


def resolve_params(name: str, params: dict | None = None) -> dict[str, float]:
    """A bed's parameters: defaults updated by ``params``; unknown keys and values out of range raise
    ValueError."""
    bed = spec(name)
    out = {k: v[0] for k, v in bed.params.items()}
    for key, value in (params or {}).items():
        if key not in bed.params:
            raise ValueError(f"ambience {name!r} has no parameter {key!r} (known: {', '.join(bed.params)})")
        _, low, high = bed.params[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(
                f"ambience {name!r}: {key} must be a number in [{low:g}, {high:g}], got {value!r}"
            )
        out[key] = float(value)
    return out


# ============================================================================================ building blocks


class Filter:
    """An IIR filter (second-order sections) whose state carries from one call to the next, so a signal
    filtered block by block is exactly the signal filtered at once. ``(C, n) -> (C, n)``."""

    def __init__(self, sos: np.ndarray, channels: int):
        self.sos = np.atleast_2d(sos)
        self.zi = np.zeros((len(self.sos), channels, 2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y, self.zi = signal.sosfilt(self.sos, x, axis=-1, zi=self.zi)
        return y


def butter(order: int, hz: float | tuple[float, float], kind: str, sr: int) -> np.ndarray:
    """Butterworth sections, cut-offs kept below Nyquist."""
    top = 0.45 * sr
    if isinstance(hz, tuple):  # a band above a low rate's Nyquist shrinks to just under it
        hz = (min(hz[0], 0.7 * top), min(hz[1], top))
    else:
        hz = min(hz, top)
    return signal.butter(order, hz, kind, fs=sr, output="sos")


def resonator(hz: float, decay: float, sr: int) -> np.ndarray:
    """One two-pole resonance at ``hz`` ringing for ``decay`` seconds (to 1/e), as one section."""
    r = math.exp(-1.0 / (decay * sr))
    w = 2 * math.pi * min(hz, 0.45 * sr) / sr
    return np.array([[1.0 - r, 0.0, 0.0, 1.0, -2 * r * math.cos(w), r * r]])


class Modulator:
    """Slow random control signal: white noise smoothed twice by one-pole filters at ``hz``, scaled to unit
    standard deviation. It is computed at a control rate (about 40 points per cycle of ``hz``) and
    interpolated linearly to audio samples on a grid that runs on across calls, so it is smooth everywhere
    and cheap. ``n -> (C, n)``."""

    def __init__(self, hz: float, channels: int, sr: int, rng: np.random.Generator):
        self.rng, self.channels = rng, channels
        self.hop = max(1, int(sr / (40 * hz)))  # audio samples per control point
        pole = math.exp(-2 * math.pi * hz * self.hop / sr)
        one = np.array([1 - pole, 0.0, 0.0, 1.0, -pole, 0.0])
        self.filter = Filter(np.stack([one, one]), channels)
        self.scale = 1.0 / math.sqrt((1 - pole) ** 4 * (1 + pole**2) / (1 - pole**2) ** 3)
        self._points(int(3 / (1 - pole)) + 1)  # warm up: start from a typical state, not from zero
        self.first, self.known, self.t = 0, self._points(2), 0  # control point `first` is known[:, 0]

    def _points(self, m: int) -> np.ndarray:
        return self.filter(self.rng.standard_normal((self.channels, m))) * self.scale

    def __call__(self, n: int) -> np.ndarray:
        last = (self.t + n - 1) // self.hop + 1  # the last control point this block needs
        if last >= self.first + self.known.shape[1]:
            more = self._points(max(64, last - self.first - self.known.shape[1] + 1))
            self.known = np.concatenate([self.known, more], 1)
        where = (self.t + np.arange(n)) / self.hop - self.first  # positions in control points
        grid = np.arange(self.known.shape[1])
        out = np.stack([np.interp(where, grid, row) for row in self.known])
        self.t += n
        keep = self.t // self.hop - self.first  # drop points no later block needs
        self.known, self.first = self.known[:, keep:], self.first + keep
        return out


class Carry:
    """Overlap-add of events whose tails run past the block they start in. ``add`` then ``take(n)``."""

    def __init__(self, channels: int):
        self.buffer = np.zeros((channels, 0))

    def add(self, start: int, wave: np.ndarray) -> None:
        """Add ``wave`` ``(C, m)`` starting ``start`` samples into the current block."""
        end = start + wave.shape[1]
        if end > self.buffer.shape[1]:
            self.buffer = np.pad(self.buffer, ((0, 0), (0, end - self.buffer.shape[1])))
        self.buffer[:, start:end] += wave

    def take(self, n: int) -> np.ndarray:
        """The current block's ``n`` samples; what runs past them waits for the next block."""
        if self.buffer.shape[1] < n:
            self.buffer = np.pad(self.buffer, ((0, 0), (0, n - self.buffer.shape[1])))
        out, self.buffer = self.buffer[:, :n], self.buffer[:, n:]
        return out


def _impulses(rng: np.random.Generator, rate: float, n: int, sr: int, channels: int = 2) -> np.ndarray:
    """Poisson impulses at ``rate`` per second with random amplitudes in [0.2, 1]. ``-> (C, n)``."""
    out = np.zeros((channels, n))
    for c in range(channels):
        count = rng.poisson(rate * n / sr)
        out[c, rng.integers(0, n, count)] += rng.uniform(0.2, 1.0, count)
    return out


# ================================================================================================ the beds


class Synth:
    """Base of the bed synthesizers: ``block(n)`` gives the next ``n`` stereo samples ``(2, n)``."""

    def __init__(self, p: dict[str, float], sr: int, rng: np.random.Generator):
        self.p, self.sr, self.rng, self.t = p, sr, rng, 0

    def noise(self, n: int, channels: int = 2) -> np.ndarray:
        return self.rng.standard_normal((channels, n))

    def block(self, n: int) -> np.ndarray:
        out = self.make(n)
        self.t += n
        return out

    def make(self, n: int) -> np.ndarray:  # pragma: no cover - every bed defines it
        raise NotImplementedError


class RoomTone(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.pink = Filter(signal.tf2sos(PINK_B, PINK_A), 2)
        self.band = Filter(butter(2, (60.0, p["cutoff_hz"]), "bandpass", sr), 2)  # no sub-bass

    def make(self, n):
        out = self.band(self.pink(self.noise(n))) * 4.0
        if self.p["hum"] > 0:
            t = (self.t + np.arange(n)) / self.sr
            w = 2 * np.pi * self.p["hum_hz"] * t
            out += self.p["hum"] * 0.3 * (np.sin(w) + 0.5 * np.sin(2 * w) + 0.25 * np.sin(3 * w))
        return out


class Wind(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.body = Filter(butter(2, (60.0, p["cutoff_hz"]), "bandpass", sr), 2)
        self.whistle = Filter(butter(2, (p["cutoff_hz"], 3 * p["cutoff_hz"]), "bandpass", sr), 2)
        self.gusts = Modulator(0.25, 1, sr, rng)
        self.sway = Modulator(0.1, 1, sr, rng)

    def make(self, n):
        g = 0.5 + 0.5 * np.tanh(self.p["gustiness"] * 1.5 * self.gusts(n) + 0.3 * self.sway(n))  # (1, n)
        base = 0.3 + 0.7 * self.p["strength"]
        return base * (self.body(self.noise(n)) * (0.4 + g) + self.whistle(self.noise(n)) * g**2 * 0.6)


class Rain(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.hiss = Filter(butter(2, (1500.0, 9000.0), "bandpass", sr), 2)
        self.drops = [Filter(resonator(hz, 0.004, sr), 2) for hz in (1800.0, 3100.0, 4700.0)]

    def make(self, n):
        rate = 50 + 1500 * self.p["density"]
        hiss = self.hiss(self.noise(n)) * (0.3 + 0.7 * self.p["heaviness"])
        drops = sum(f(_impulses(self.rng, rate / 3, n, self.sr)) for f in self.drops)
        return hiss + drops * 2.0


class Rumble(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.low = Filter(butter(2, p["depth_hz"], "lowpass", sr), 2)
        self.tyres = Filter(butter(2, (400.0, 2500.0), "bandpass", sr), 2)
        self.swells = Modulator(0.08, 2, sr, rng)
        self.brown = Filter(np.array([[1.0, 0.0, 0.0, 1.0, -0.995, 0.0]]), 2)
        self.sub = Filter(butter(2, 35.0, "highpass", sr), 2)  # felt, not heard: kept out

    def make(self, n):
        swell = np.exp(self.p["swell"] * 0.8 * self.swells(n))  # (2, n): passing cars, left and right
        low = self.sub(self.low(self.brown(self.noise(n)))) * 0.6
        return (low + self.p["hiss"] * 0.5 * self.tyres(self.noise(n))) * swell


class Crowd(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.k = int(round(p["people"]))
        self.voice = Filter(butter(2, (250.0, 2500.0), "bandpass", sr), 2)
        self.formant = Filter(resonator(700.0, 0.002, sr), 2)
        self.syllables = Modulator(4.0, self.k, sr, rng)
        self.phrases = Modulator(0.3, self.k, sr, rng)
        theta = (rng.uniform(-0.9, 0.9, self.k) + 1) * np.pi / 4
        self.pans = np.stack([np.cos(theta), np.sin(theta)])  # (2, K)

    def make(self, n):
        phrases = 1 / (1 + np.exp(-3 * (self.phrases(n) + 0.3 + self.p["activity"])))  # talking or not
        speech = (0.4 + np.logaddexp(0, 2 * self.syllables(n)) / 2) * phrases  # (K, n): soft syllables
        # each talker's noise shaped by its syllables, panned, then band-limited on the stereo bus (the
        # envelopes are slow next to the voice band, so shaping before or after the filter sounds alike)
        talkers = self.pans @ (self.noise(n, self.k) * speech) / math.sqrt(self.k)  # (2, n)
        return (self.voice(talkers) + 0.5 * self.formant(talkers)) * 2.0


class Chirps(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.carry = Carry(2)
        self.buzz = Filter(butter(2, (5000.0, 7500.0), "bandpass", sr), 2)
        self.pulse = Modulator(30.0, 1, sr, rng)
        self.floor = Filter(butter(1, 2000.0, "highpass", sr), 2)

    def chirp(self) -> np.ndarray:
        """One call: a few quick up- or down-sweeps, panned. ``-> (2, m)``."""
        rng, sr = self.rng, self.sr
        length, notes = rng.uniform(0.04, 0.12), int(rng.integers(1, 4))
        t = np.arange(int(length * sr)) / sr
        f0 = self.p["pitch_hz"] * rng.uniform(0.7, 1.3)
        sweep = f0 * (1 + rng.choice([-0.4, 0.5]) * t / length)
        phase = 2 * np.pi * np.cumsum(sweep) / sr
        one = np.sin(phase) * np.sin(np.pi * t / length) ** 2
        gap = np.zeros(int(rng.uniform(0.03, 0.08) * sr))
        call = np.concatenate([np.concatenate([one * rng.uniform(0.5, 1.0), gap]) for _ in range(notes)])
        theta = (rng.uniform(-0.8, 0.8) + 1) * np.pi / 4
        return np.stack([np.cos(theta) * call, np.sin(theta) * call]) * rng.uniform(0.3, 1.0)

    def make(self, n):
        for start in np.sort(self.rng.integers(0, n, self.rng.poisson(self.p["rate"] * n / self.sr))):
            self.carry.add(int(start), self.chirp())
        buzz = self.buzz(self.noise(n)) * np.maximum(self.pulse(n), 0) * self.p["insects"] * 0.4
        return self.carry.take(n) * 0.5 + buzz + 0.02 * self.floor(self.noise(n))


class Water(Synth):
    def __init__(self, p, sr, rng):
        super().__init__(p, sr, rng)
        self.body = Filter(butter(2, (200.0, 3000.0), "bandpass", sr), 2)
        self.babble = Modulator(12.0, 2, sr, rng)
        self.bubbles = [Filter(resonator(hz, 0.012, sr), 2) for hz in (600.0, 900.0, 1400.0, 2100.0)]

    def make(self, n):
        flow = self.p["flow"]
        body = self.body(self.noise(n)) * (0.6 + 0.4 * np.tanh(self.babble(n))) * (0.3 + 0.7 * flow)
        rate = (20 + 200 * flow) * self.p["bubbles"]
        pops = sum(f(_impulses(self.rng, rate / 4, n, self.sr)) for f in self.bubbles)
        return body + pops * 0.2


SYNTHS: dict[str, type[Synth]] = {
    "room_tone": RoomTone,
    "wind": Wind,
    "rain": Rain,
    "rumble": Rumble,
    "crowd": Crowd,
    "chirps": Chirps,
    "water": Water,
}


# ================================================================================================ a bed


def generate(
    name: str,
    length: int,
    sample_rate: int,
    *,
    seed: int = 0,
    params: dict | None = None,
    block: int | None = None,
) -> np.ndarray:
    """A bed's raw stereo signal, made block by block with its state carried (no seams; not loop-closed).

    Shapes:
        -> float64 ``(2, length)``
    """  # fmt: skip
    p = resolve_params(name, params)
    synth = SYNTHS[name](p, sample_rate, np.random.default_rng([int(seed), list(BEDS).index(name)]))
    block = block or max(1, int(BLOCK_SECONDS * sample_rate))
    out = np.empty((2, length))
    for start in range(0, length, block):
        out[:, start : start + block] = synth.block(min(block, length - start))
    return out


def stereo_width(x: np.ndarray, width: float) -> np.ndarray:
    """Mid/side spread: 0 collapses to mono, 1 keeps the two channels as they are. ``(2, L) -> (2, L)``."""
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2 * width
    return np.stack([mid + side, mid - side])


def bed(
    name: str,
    length: int,
    sample_rate: int,
    *,
    seed: int = 0,
    width: float = 0.8,
    params: dict | None = None,
) -> Tensor:
    """An ambience bed of ``length`` samples, seamless inside and around its loop point.

    The bed is generated ``X`` samples longer than asked (:func:`generate`) and its first ``X`` samples are
    an equal-power crossfade from the extra tail into the head, so sample ``length - 1`` runs on into
    sample 0 exactly as it ran on into the extra tail: played in a loop there is no discontinuity.

    Args:
        name: a bed of :data:`BEDS`.
        length: samples.
        sample_rate: Hz.
        seed: the bed's randomness.
        width: stereo spread, 0 (mono) .. 1.
        params: bed parameters (see :data:`BEDS`; missing ones take their defaults).

    Returns:
        float32 stereo bed at about -20 dBFS RMS (mixdown levels it against the objects).

    Shapes:
        -> ``(2, length)``
    """
    fade = min(int(LOOP_SECONDS * sample_rate), length // 4)
    raw = stereo_width(generate(name, length + fade, sample_rate, seed=seed, params=params), width)
    if fade > 0:
        theta = (np.arange(fade) + 0.5) / fade * np.pi / 2
        raw[:, :fade] = raw[:, :fade] * np.sin(theta) + raw[:, length:] * np.cos(theta)
    raw = raw[:, :length]
    rms = float(np.sqrt(np.mean(raw**2))) if length else 0.0
    return torch.from_numpy(raw * (0.1 / rms if rms > 1e-12 else 1.0)).float()


# ============================================================================================= from the scene


def scene_stats(rest: Tensor, activity: float) -> dict[str, float]:
    """Simple statistics of a scene's rest pose (uint8 ``(3, h, w)``) for choosing a bed: mean brightness
    and saturation, sky (sky-blue fraction of the upper third), green and blue (fractions of the ground:
    grass, water; the ground is the lowest fifth of the picture), grey (unsaturated fraction), and
    ``activity`` (fraction of pixels that move, passed in).
    """
    rgb = rest.permute(1, 2, 0).numpy().astype(np.float64) / 255  # (h, w, 3)
    hsv = np.stack(np.vectorize(colorsys.rgb_to_hsv)(rgb[..., 0], rgb[..., 1], rgb[..., 2]), -1)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    third, ground = max(1, len(hsv) // 3), len(hsv) - max(1, len(hsv) // 5)  # upper third; lowest fifth
    sky = (h > 0.5) & (h < 0.7) & (s > 0.25) & (v > 0.6)
    green = (h > 0.17) & (h < 0.45) & (s > 0.25) & (v > 0.2)
    blue = (h > 0.45) & (h < 0.7) & (s > 0.3) & (v > 0.2)
    stats = {
        "brightness": v.mean(),
        "saturation": s.mean(),
        "sky": sky[:third].mean(),
        "green": green[ground:].mean(),
        "blue": blue[ground:].mean(),
        "grey": (s < 0.12).mean(),
        "activity": activity,
    }
    return {k: round(float(x), 3) for k, x in stats.items()}


def choose(room: str, stats: dict[str, float]) -> str:
    """A bed for a scene: outdoors (a sky, or the ``outdoor`` room) green ground -> ``chirps``, blue
    ground -> ``water``, grey and busy -> ``rumble``, dark -> ``rain``, else ``wind``; indoors a ``hall`` ->
    ``crowd``, anything else -> ``room_tone``."""
    if room == "outdoor" or stats["sky"] > 0.5:
        if stats["green"] > 0.3:
            return "chirps"
        if stats["blue"] > 0.5:
            return "water"
        if stats["grey"] > 0.5 and stats["activity"] > 0.05:
            return "rumble"
        return "rain" if stats["brightness"] < 0.3 else "wind"
    return "crowd" if room == "hall" else "room_tone"
