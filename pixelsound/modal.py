"""Procedural impact sounds by modal synthesis: a struck object rings as a sum of exponentially damped sines.

An impact excites the object's vibration modes. Each mode ``k`` has a frequency ``f_k``, a decay rate ``d_k``
(amplitude ``exp(-d_k t)``; ``T60 = ln(1000) / d_k``) and an amplitude ``a_k``:

    x(t) = gain * sum_k a_k * exp(-d_k t) * sin(2 pi f_k t)

* **material** sets the mode pattern (frequency ratios to the fundamental and their relative levels), the
  decay rate of the fundamental and how much faster higher modes die (``d_k = d_0 (f_k / f_0) ** p``, a
  Rayleigh-like damping law): metal rings for seconds, wood and plastic thud for a tenth of a second;
* **size** scales every frequency by ``1 / size`` (a twice larger object sounds an octave lower);
* **impact speed** sets the gain (amplitude proportional to speed) and the brightness: a harder hit is a
  shorter contact, whose force spectrum reaches higher, so upper modes are weighted by a low-pass
  ``1 / (1 + (f_k / f_c) ** 2)`` with ``f_c`` proportional to speed; a short noise click marks the contact.

A seed names the object (its mode frequencies are jittered a little) and a hit index varies each hit's mode
levels and click, so two hits on one object are never bit-identical copies; the same arguments always give the
same samples. Tracks of many hits run through a resonator bank (one two-pole filter per mode), so their cost
does not grow with the number of hits. Every function is pure and returns float32 ``(L,)`` tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchaudio.functional as AF
from torch import Tensor

LN1000 = math.log(1000.0)  # amplitude decay of 60 dB, in nepers
MAX_SECONDS = 3.0  # longest impact rendered when no duration is given


@dataclass(frozen=True)
class Material:
    """What a material sounds like when struck.

    Attributes:
        name: material name used in cue sheets and sidecars.
        ratios: mode frequencies relative to the fundamental, ``(M,)``.
        levels: relative mode amplitudes before the brightness filter, ``(M,)``.
        f0: fundamental in Hz of an object of size 1.
        decay: amplitude decay rate of the fundamental in 1/s (``T60 = ln(1000) / decay``).
        decay_power: higher modes decay at ``decay * (f_k / f0) ** decay_power``.
        contact_hz: brightness cutoff of a hit at speed 1 (proportional to speed, floor at 0.05).
        click: level of the contact noise click relative to the modes.
        jitter: relative random spread of mode frequencies per seed.
    """

    name: str
    ratios: tuple[float, ...]
    levels: tuple[float, ...]
    f0: float
    decay: float
    decay_power: float
    contact_hz: float
    click: float = 0.1
    jitter: float = 0.01

    @property
    def t60(self) -> float:
        """Seconds for the fundamental to fall by 60 dB."""
        return LN1000 / self.decay


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        # free-free bar modes; short, dull ring
        Material("wood", (1.0, 2.756, 5.404, 8.933), (1.0, 0.55, 0.3, 0.15), 420.0, 30.0, 1.0, 2500.0, 0.25),
        # circular plate modes; long, bright, inharmonic ring
        Material(
            "metal",
            (1.0, 1.594, 2.136, 2.296, 2.653, 2.918, 3.156, 3.501),
            (1.0, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35),
            650.0,
            2.5,
            0.6,
            5000.0,
            0.05,
        ),
        # thin shell (wine-glass-like) modes; high, clear, medium ring
        Material(
            "glass", (1.0, 2.32, 4.25, 6.63, 9.38), (1.0, 0.5, 0.3, 0.2, 0.1), 1400.0, 7.0, 0.8, 8000.0, 0.04
        ),
        # hollow plastic; short knock with a few inharmonic modes
        Material("plastic", (1.0, 1.82, 3.1, 4.6), (1.0, 0.6, 0.35, 0.2), 520.0, 55.0, 0.8, 2200.0, 0.35),
        # rubber ball; a low, heavily damped thump
        Material("rubber", (1.0, 1.51, 2.31), (1.0, 0.4, 0.15), 160.0, 90.0, 0.5, 600.0, 0.15),
        # stone / ceramic; hard, bright, fast decay
        Material(
            "stone", (1.0, 2.15, 3.62, 5.21, 7.4), (1.0, 0.7, 0.5, 0.35, 0.2), 900.0, 40.0, 1.2, 6000.0, 0.5
        ),
    )
}


@dataclass(frozen=True)
class Modes:
    """The modes of one impact: frequencies in Hz, decay rates in 1/s, amplitudes; each ``(M,)`` float64."""

    freqs: Tensor
    decays: Tensor
    amps: Tensor


def material(name: str | Material) -> Material:
    """The :class:`Material` called ``name`` (a Material passes through).

    Raises:
        ValueError: naming the unknown material and the known ones.
    """
    if isinstance(name, Material):
        return name
    try:
        return MATERIALS[name]
    except KeyError:
        raise ValueError(f"unknown material {name!r} (known: {', '.join(MATERIALS)})") from None


def _check(size: float, speed: float) -> None:
    if not (size > 0 and math.isfinite(size)):
        raise ValueError(f"modal: size must be a positive number, got {size}")
    if not (speed >= 0 and math.isfinite(speed)):
        raise ValueError(f"modal: impact speed must be >= 0, got {speed}")


def _cutoff(mat: Material, speed: float) -> float:
    """Brightness cutoff in Hz of a hit: the contact gets shorter (its spectrum wider) as speed grows."""
    return mat.contact_hz * max(speed, 0.05)


def _generators(seed: int, hit: int) -> tuple[torch.Generator, torch.Generator]:
    """Per-object generator (mode frequencies) and per-hit generator (levels, click)."""
    obj = torch.Generator().manual_seed(int(seed))
    per_hit = torch.Generator().manual_seed(int(seed) * 104729 + int(hit) + 1)
    return obj, per_hit


def modes(
    mat: str | Material,
    size: float = 1.0,
    speed: float = 0.5,
    *,
    sample_rate: int = 44100,
    seed: int = 0,
    hit: int = 0,
) -> Modes:
    """Mode frequencies, decay rates and amplitudes of one impact.

    Args:
        mat: material name or :class:`Material`.
        size: object size (1 = reference; frequencies scale as ``1 / size``).
        speed: impact speed, 0 (touch) .. 1 (hard hit); larger values are allowed.
        sample_rate: modes at or above 0.45 * sample_rate are dropped.
        seed: the object: jitters its mode frequencies (by the material's ``jitter``).
        hit: which hit on that object: jitters the mode levels (by 10 %).

    Returns:
        :class:`Modes`; amplitudes include the speed gain and the brightness filter, ``amps.sum() <= speed``.

    Shapes:
        each field ``(M,)`` with M <= the material's mode count
    """
    mat = material(mat)
    _check(size, speed)
    obj, per_hit = _generators(seed, hit)
    ratios = torch.tensor(mat.ratios, dtype=torch.float64)
    jitter = 1 + mat.jitter * torch.randn(len(ratios), generator=obj, dtype=torch.float64)
    jitter[0] = 1.0  # the fundamental stays where size puts it
    freqs = mat.f0 / size * ratios * jitter  # (M,)
    decays = mat.decay * (freqs / freqs[0]) ** mat.decay_power
    bright = 1 / (1 + (freqs / (_cutoff(mat, speed))) ** 2)
    levels = torch.tensor(mat.levels, dtype=torch.float64)
    levels = levels * (1 + 0.1 * (torch.rand(len(levels), generator=per_hit, dtype=torch.float64) - 0.5))
    amps = speed * levels * bright / levels.sum()
    keep = freqs < 0.45 * sample_rate
    return Modes(freqs[keep], decays[keep], amps[keep])


def damped_sinusoids(freqs: Tensor, decays: Tensor, amps: Tensor, length: int, sample_rate: int) -> Tensor:
    """``sum_k amps_k exp(-decays_k t) sin(2 pi freqs_k t)``, computed directly (the reference form).

    Args:
        freqs: Hz. decays: 1/s. amps: linear.
        length: samples to render.
        sample_rate: Hz.

    Returns:
        float32 waveform.

    Shapes:
        freqs, decays, amps ``(M,)`` -> ``(L,)``
    """
    t = torch.arange(length, dtype=torch.float64) / sample_rate  # (L,)
    freqs, decays, amps = (x.to(torch.float64)[:, None] for x in (freqs, decays, amps))  # (M, 1)
    return (amps * torch.exp(-decays * t) * torch.sin(2 * math.pi * freqs * t)).sum(0).float()


def resonate(excitation: Tensor, freqs: Tensor, decays: Tensor, sample_rate: int) -> Tensor:
    """Drive a bank of two-pole resonators, one per mode, with per-mode excitations.

    Mode ``k`` is the filter ``r sin(w) z^-1 / (1 - 2 r cos(w) z^-1 + r^2 z^-2)`` with ``r = exp(-d_k / sr)``
    and ``w = 2 pi f_k / sr``, whose impulse response is exactly ``exp(-d_k t) sin(2 pi f_k t)``. An
    excitation with a unit impulse at sample ``n`` therefore adds :func:`damped_sinusoids` starting there,
    at a cost independent of how many hits there are and how long they ring. Runs in float64 (poles near 1).

    Args:
        excitation: impulses (any signal) per mode.
        freqs: Hz. decays: 1/s.
        sample_rate: Hz.

    Returns:
        float64 response per mode.

    Shapes:
        excitation ``(M, L)``, freqs, decays ``(M,)`` -> ``(M, L)``
    """
    r = torch.exp(-decays.to(torch.float64) / sample_rate)  # (M,)
    w = 2 * math.pi * freqs.to(torch.float64) / sample_rate
    zero, one = torch.zeros_like(r), torch.ones_like(r)
    a = torch.stack([one, -2 * r * torch.cos(w), r * r], 1)  # (M, 3)
    b = torch.stack([zero, r * torch.sin(w), zero], 1)
    return AF.lfilter(excitation.to(torch.float64), a, b, clamp=False)


def _click(mat: Material, speed: float, sample_rate: int, gen: torch.Generator) -> Tensor:
    """Contact noise: a few ms of decaying noise, low-passed at the hit's brightness. ``-> (n,)``."""
    n = int(0.012 * sample_rate)
    noise = torch.randn(n, generator=gen, dtype=torch.float64)
    cutoff = min(_cutoff(mat, speed), 0.45 * sample_rate)
    pole = math.exp(-2 * math.pi * cutoff / sample_rate)
    smooth = AF.lfilter(noise, noise.new_tensor([1.0, -pole]), noise.new_tensor([1 - pole, 0.0]), clamp=False)
    env = torch.exp(-torch.arange(n, dtype=torch.float64) / (0.002 * sample_rate))
    return (mat.click * speed * smooth / smooth.abs().max().clamp_min(1e-12) * env).float()


def impact_length(mat: str | Material, sample_rate: int = 44100) -> int:
    """Samples until the fundamental has decayed by 60 dB (at most ``MAX_SECONDS``, at least 20 ms)."""
    return int(round(min(MAX_SECONDS, max(0.02, material(mat).t60)) * sample_rate))


def impact(
    mat: str | Material,
    size: float = 1.0,
    speed: float = 0.5,
    *,
    sample_rate: int = 44100,
    duration: float | None = None,
    seed: int = 0,
    hit: int = 0,
) -> Tensor:
    """The sound of one impact.

    Args:
        mat: material name (see ``MATERIALS``) or :class:`Material`.
        size: object size (1 = reference; larger sounds lower).
        speed: impact speed, 0 .. 1 (gain and brightness grow with it).
        sample_rate: Hz.
        duration: seconds to render; default until the fundamental has decayed by 60 dB (at most 3 s).
        seed: the object (mode frequency jitter); hit: which hit (level jitter, click). Same arguments, same
            samples.

    Returns:
        float32 waveform; its peak is at most about ``speed * (1 + click)``.

    Shapes:
        -> ``(L,)``
    """
    return impact_track(
        [0.0], [speed], mat, size, 0, sample_rate=sample_rate, seed=seed, first_hit=hit, duration=duration
    )


def impact_track(
    times: list[float],
    speeds: list[float],
    mat: str | Material,
    size: float,
    length: int,
    *,
    sample_rate: int = 44100,
    seed: int = 0,
    first_hit: int = 0,
    duration: float | None = None,
) -> Tensor:
    """One object's impacts at the given times: hit ``i`` is :func:`impact` with ``hit=first_hit + i``.

    All hits share the object's mode frequencies (``seed``) and ring on through later hits, as a struck object
    does; the resonator bank (:func:`resonate`) makes the cost independent of the number of hits.

    Args:
        times: seconds of each hit; speeds: its impact speed.
        mat, size, seed: the object.
        length: samples of the track; 0 means "as long as one impact rings" (or ``duration`` seconds).
        sample_rate: Hz.

    Returns:
        float32 track.

    Shapes:
        -> ``(length,)``
    """
    mat = material(mat)
    if len(times) != len(speeds):
        raise ValueError(f"impact_track: {len(times)} times but {len(speeds)} speeds")
    if length <= 0:
        length = (
            int(round(duration * sample_rate)) if duration is not None else impact_length(mat, sample_rate)
        )
    base = modes(mat, size, 1.0, sample_rate=sample_rate, seed=seed)
    excitation = torch.zeros(len(base.freqs), length, dtype=torch.float64)  # (M, L)
    clicks = []
    for i, (t, speed) in enumerate(zip(times, speeds, strict=True)):
        start = int(round(t * sample_rate))
        if not 0 <= start < length:
            continue
        excitation[:, start] += modes(
            mat, size, speed, sample_rate=sample_rate, seed=seed, hit=first_hit + i
        ).amps
        if mat.click > 0 and speed > 0:
            clicks.append((t, _click(mat, speed, sample_rate, _generators(seed, first_hit + i)[1])))
    wave = resonate(excitation, base.freqs, base.decays, sample_rate).sum(0).float()  # (L,)
    return wave + place(clicks, length, sample_rate)


def place(sounds: list[tuple[float, Tensor]], length: int, sample_rate: int) -> Tensor:
    """Add sounds into a silent track at their start times (sounds running past the end are cut).

    Args:
        sounds: ``(start seconds, waveform (L_i,))`` pairs; negative starts are cut at 0.
        length: samples of the track.
        sample_rate: Hz.

    Returns:
        float32 track.

    Shapes:
        -> ``(length,)``
    """
    track = torch.zeros(length, dtype=torch.float32)
    for start, wave in sounds:
        first = int(round(start * sample_rate))
        skip, first = max(0, -first), max(0, first)
        n = min(len(wave) - skip, length - first)
        if n > 0:
            track[first : first + n] += wave[skip : skip + n].float()
    return track
