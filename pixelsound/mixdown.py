"""Layering object tracks into a stereo soundtrack: pan, distance gain, a shared room reverb, loudness.

One concern, the mixdown of object tracks into a stereo soundtrack (the desk's steps below).

``mixdown`` follows a mixing desk:

1. each object's mono track gets a gain from its size on screen (closer objects look bigger and sound
   louder: amplitude proportional to apparent linear size, :func:`distance_gain`) and a constant-power pan
   from its horizontal position (:func:`pan_gains`: ``L = cos(theta)``, ``R = sin(theta)``, so
   ``L^2 + R^2 = 1`` wherever the object is);
2. the panned tracks are summed on a stereo bus; a mono send of the bus feeds one shared reverb, a
   convolution (``torchaudio.functional.fftconvolve``) with a synthetic stereo impulse response for the room
   preset (:func:`room_impulse`: sparse early reflections, then exponentially decaying noise whose high band
   dies faster than its low band; the two channels use independent noise, which makes the tail wide);
3. other stereo layers join the bus (:class:`Layer`): an ambience bed, the voice, the video's own sound.
   Each is levelled relative to the objects' bus (its loudness, BS.1770, is set to the bus's plus its
   ``level_db``: an ambience sits under the objects whatever their absolute level), and while the key layer
   (the voice) speaks, everything else is ducked (:func:`duck_gain`: a sidechain gain with look-ahead,
   attack and release);
4. the sum is normalised to a target loudness (BS.1770, :mod:`pixelsound.loudness`) with a peak ceiling.

Stems come back too: each object's panned dry track, the reverb return and each layer, all scaled by the
master gain (and the ducking), so they add up to the master before its limiter.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

from pixelsound import loudness

LN1000 = math.log(1000.0)
LINE_LUFS = -23.0  # a voice line at 0 dB gain is levelled to this loudness (see pixelsound.voice)


@dataclass(frozen=True)
class Room:
    """A room preset for the shared reverb.

    Attributes:
        name: preset name (``dry``, ``room``, ``hall``, ``outdoor``).
        rt60: seconds for the low band of the tail to decay by 60 dB.
        hf_ratio: the high band's RT60 relative to ``rt60`` (air and walls absorb highs).
        crossover_hz: split between the tail's low and high bands.
        wet: reverb return level relative to the dry bus (linear).
        pre_delay: seconds before the first reflection.
        reflections: number of early reflections.
        early_span: seconds over which early reflections arrive (and the tail builds up).
        tail: level of the diffuse tail relative to the early reflections (outdoors: little).
    """

    name: str
    rt60: float
    hf_ratio: float
    crossover_hz: float
    wet: float
    pre_delay: float
    reflections: int
    early_span: float
    tail: float = 1.0


ROOMS: dict[str, Room] = {
    r.name: r
    for r in (
        Room("dry", 0.12, 0.6, 4000.0, 0.06, 0.002, 3, 0.008),
        Room("room", 0.5, 0.6, 4000.0, 0.22, 0.004, 8, 0.03),
        Room("hall", 2.0, 0.5, 3000.0, 0.4, 0.02, 14, 0.08),
        Room("outdoor", 0.3, 0.3, 2000.0, 0.12, 0.008, 2, 0.06, tail=0.25),
    )
}


def room(name: str | Room) -> Room:
    """The preset called ``name`` (a Room passes through); an unknown name raises ValueError."""
    if isinstance(name, Room):
        return name
    try:
        return ROOMS[name]
    except KeyError:
        raise ValueError(f"unknown room preset {name!r} (known: {', '.join(ROOMS)})") from None


def pan_gains(pan: Tensor | float) -> Tensor:
    """Constant-power pan law: ``pan`` -1 (left) .. 1 (right) -> ``(left, right)`` gains, ``L^2 + R^2 = 1``.

    Shapes:
        pan ``(N,)`` (or a float) -> ``(N, 2)`` (or ``(2,)``)
    """
    p = torch.as_tensor(pan, dtype=torch.float64).clamp(-1, 1)
    theta = (p + 1) * math.pi / 4
    return torch.stack([torch.cos(theta), torch.sin(theta)], -1)


def pan_from_x(x: Tensor | float, width: float = 0.8) -> Tensor:
    """Pan position from a horizontal position ``x`` in [0, 1] of the frame (0.5 centre); ``width`` < 1 keeps
    objects at the edges off the hard left/right. Shapes: any -> same."""
    return ((torch.as_tensor(x, dtype=torch.float64) * 2 - 1) * width).clamp(-1, 1)


def distance_gain(area: Tensor | float, reference: float = 0.05, low_db: float = -18.0, high_db: float = 6.0):
    """Gain in dB of an object covering ``area`` (fraction of the frame): 0 dB at ``reference``, +6 dB per
    doubling of its linear size (``10 log10(area / reference)``), clamped to [low_db, high_db].

    Shapes:
        any -> same (float64)
    """
    a = torch.as_tensor(area, dtype=torch.float64).clamp_min(1e-9)
    return (10 * torch.log10(a / reference)).clamp(low_db, high_db)


def _one_pole_lowpass(x: Tensor, cutoff: float, sample_rate: int) -> Tensor:
    pole = math.exp(-2 * math.pi * min(cutoff, 0.45 * sample_rate) / sample_rate)
    return AF.lfilter(x, x.new_tensor([1.0, -pole]), x.new_tensor([1 - pole, 0.0]), clamp=False)


def room_impulse(preset: str | Room, sample_rate: int, seed: int = 0) -> Tensor:
    """Synthetic stereo impulse response of a room preset, with unit total energy.

    Early reflections are single taps of random sign at random times in
    ``[pre_delay, pre_delay + early_span]``; the diffuse tail is noise, split into a low and a high band that
    decay with ``rt60`` and ``rt60 * hf_ratio``, fading in over the early span. No direct sound (the dry path
    carries it).

    Args:
        preset: room name or :class:`Room`.
        sample_rate: Hz.
        seed: noise and reflection seed.

    Returns:
        float32 impulse response.

    Shapes:
        -> ``(2, L_ir)``, ``L_ir`` = pre-delay + early span + RT60
    """
    r = room(preset)
    gen = torch.Generator().manual_seed(int(seed))
    n = int(round((r.pre_delay + r.early_span + r.rt60) * sample_rate))
    t = torch.arange(n, dtype=torch.float64) / sample_rate  # (L_ir,)
    noise = torch.randn(2, n, generator=gen, dtype=torch.float64)
    low = _one_pole_lowpass(noise, r.crossover_hz, sample_rate)
    high = noise - low
    after = (t - r.pre_delay).clamp_min(0)
    build = 1 - torch.exp(-after / max(r.early_span / 3, 1e-3))  # tail fades in after the pre-delay
    tail = low * torch.exp(-LN1000 * t / r.rt60) + high * torch.exp(-LN1000 * t / (r.rt60 * r.hf_ratio))
    tail = tail * build * (t >= r.pre_delay)
    tail = tail / tail.pow(2).sum().sqrt().clamp_min(1e-12) * r.tail
    early = torch.zeros(2, n, dtype=torch.float64)
    times = r.pre_delay + r.early_span * torch.rand(2, r.reflections, generator=gen, dtype=torch.float64)
    signs = torch.randint(0, 2, (2, r.reflections), generator=gen).to(torch.float64) * 2 - 1
    levels = (0.4 + 0.5 * torch.rand(2, r.reflections, generator=gen, dtype=torch.float64)) * signs
    levels = levels * torch.exp(-LN1000 * times / r.rt60)
    idx = (times * sample_rate).round().long().clamp(max=n - 1)
    early.scatter_add_(1, idx, levels)
    ir = early / early.pow(2).sum().sqrt().clamp_min(1e-12) + tail
    return (ir / ir.pow(2).sum().sqrt()).float()


def reverb(send: Tensor, ir: Tensor) -> Tensor:
    """Convolve a mono send with a stereo impulse response, cut to the send's length.

    The send is zero-padded so that the FFT size has only small prime factors (see
    :func:`pixelsound.loudness.fast_length`); ``fftconvolve`` on awkward sizes is many times slower.

    Shapes:
        send ``(L,)``, ir ``(2, L_ir)`` -> ``(2, L)``
    """
    length, taps = send.shape[-1], ir.shape[-1]
    padded = torch.zeros(loudness.fast_length(length + taps - 1) - taps + 1)
    padded[:length] = send
    wet = AF.fftconvolve(padded[None].expand(ir.shape[0], -1), ir.to(torch.float32))
    return wet[:, :length]


def spatialize(tracks: Tensor, pans: Tensor, gains_db: Tensor) -> Tensor:
    """Pan and scale mono tracks onto stereo.

    Shapes:
        tracks ``(N, L)``, pans ``(N,)`` in [-1, 1], gains_db ``(N,)`` -> ``(N, 2, L)``
    """
    g = pan_gains(pans) * 10 ** (torch.as_tensor(gains_db, dtype=torch.float64)[:, None] / 20)  # (N, 2)
    return tracks[:, None, :] * g[:, :, None].to(tracks.dtype)


@dataclass(frozen=True)
class Duck:
    """Sidechain ducking: while the key (the voice) sounds, the other layers drop by ``depth_db``.

    Attributes:
        depth_db: how far the ducked layers go down.
        attack: seconds of the (linear in dB) ramp down; it starts this early (look-ahead), so the others
            are fully down when speech starts.
        release: seconds of the ramp back up once speech has stopped for ``hold`` seconds.
        hold: gaps in speech shorter than this keep the duck (between words).
        threshold_db: the key counts as sounding where its 10 ms power is within this of its loudest.
    """

    depth_db: float = 10.0
    attack: float = 0.08
    release: float = 0.4
    hold: float = 0.25
    threshold_db: float = -35.0


def key_activity(key: Tensor, sample_rate: int, threshold_db: float, hold: float) -> np.ndarray:
    """Where a key signal sounds: its power over 10 ms (centred) within ``threshold_db`` of its loudest,
    held for ``hold`` seconds after each active sample.

    Shapes:
        key ``(L,)`` -> bool ``(L,)``
    """
    x = key.double().numpy()
    half = max(1, int(0.005 * sample_rate))
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    idx = np.arange(len(x))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half, len(x))
    power = (energy[hi] - energy[lo]) / (hi - lo)
    top = float(power.max()) if len(power) else 0.0
    if top <= 0:
        return np.zeros(len(x), dtype=bool)
    active = power >= top * 10 ** (threshold_db / 10)
    last = np.maximum.accumulate(np.where(active, idx, -(10**12)))  # last active sample at or before each
    return (idx - last) <= int(hold * sample_rate)


def duck_gain(key: Tensor, sample_rate: int, duck: Duck) -> Tensor:
    """Gain for the ducked layers: 1 where the key is quiet, ``-depth_db`` while it sounds, with linear (in
    dB) ramps of ``attack`` seconds (started ``attack`` early) and ``release`` seconds.

    Shapes:
        key ``(L,)`` -> ``(L,)``
    """
    active = key_activity(key, sample_rate, duck.threshold_db, duck.hold)
    lead = min(len(active), int(round(duck.attack * sample_rate)))
    active = np.concatenate([active[lead:], np.zeros(lead, dtype=bool)]) | active  # look-ahead
    amount = np.zeros(len(active))  # 0: no duck .. 1: fully down
    bounds = [0, *(np.flatnonzero(np.diff(active.astype(np.int8))) + 1).tolist(), len(active)]
    now = 0.0
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        target = 1.0 if active[a] else 0.0
        seconds = duck.attack if target > now else duck.release
        step = 1.0 / max(1.0, seconds * sample_rate)
        ramp = now + np.sign(target - now) * step * np.arange(1, b - a + 1)
        amount[a:b] = np.minimum(ramp, target) if target > now else np.maximum(ramp, target)
        now = float(amount[b - 1]) if b > a else now
    return torch.from_numpy(10 ** (-duck.depth_db * amount / 20)).float()


@dataclass(frozen=True)
class Layer:
    """A stereo layer mixed beside the objects.

    Attributes:
        name: what it is (``ambience``, ``voice``, ``original``); its stem's name.
        audio: float ``(2, L)``.
        level_db: its loudness relative to the objects' bus (wet and dry), LU.
        loudness: the loudness its audio stands for (None: measured). The voice passes LINE_LUFS so that the
            gains of its lines stay as set.
        ducked: lowered while the key sounds.
        key: drives the ducking (the voice); not ducked itself.
    """

    name: str
    audio: Tensor
    level_db: float = 0.0
    loudness: float | None = None
    ducked: bool = True
    key: bool = False


@dataclass(frozen=True)
class Mix:
    """A finished mixdown.

    Attributes:
        audio: the master, float32 ``(2, L)``, at the target loudness with peaks under the ceiling.
        reverb: the shared reverb return at master gain (and ducking), ``(2, L)``; ``stems.sum(0) + reverb``
            (plus the layers) is the master before its limiter.
        loudness: integrated loudness of ``audio``, LUFS (-inf for silence).
        true_peak: estimated true peak of ``audio``, dBTP.
        gain_db: master gain applied.
        layers: each layer as mixed, at master gain, ``name -> (2, L)``.
        duck: the ducking gain applied to the objects and the ducked layers, ``(L,)`` (None without a key).
        stems: each object's panned dry track at master gain (and ducking), ``(N, 2, L)`` (None from
            :func:`mix_bus`: a caller that streams its objects makes their stems with :func:`master_stem`).
    """

    audio: Tensor
    reverb: Tensor
    loudness: float
    true_peak: float
    gain_db: float
    layers: dict[str, Tensor] = field(default_factory=dict)
    duck: Tensor | None = None
    stems: Tensor | None = None


def mixdown(
    tracks: Tensor,
    pans: Tensor,
    gains_db: Tensor,
    preset: str | Room,
    sample_rate: int,
    *,
    target_lufs: float = -16.0,
    peak_db: float = -1.0,
    seed: int = 0,
    layers: list[Layer] = (),
    duck: Duck | None = None,
) -> Mix:
    """Layer mono object tracks into a loudness-normalised stereo master with a shared room reverb.

    Args:
        tracks: one mono track per object.
        pans: -1 (left) .. 1 (right) per object (see :func:`pan_from_x`).
        gains_db: per-object gain (see :func:`distance_gain`).
        preset: room preset name or :class:`Room`.
        sample_rate: Hz.
        target_lufs: integrated loudness of the master.
        peak_db: true-peak ceiling of the master, dBTP.
        seed: the impulse response's seed.
        layers: stereo layers beside the objects (ambience, voice, ...), each levelled against the objects'
            bus; a key layer ducks the others.
        duck: ducking settings (default :class:`Duck`).

    Returns:
        :class:`Mix`.

    Shapes:
        tracks ``(N, L)``, pans ``(N,)``, gains_db ``(N,)`` -> Mix.audio ``(2, L)``, Mix.stems ``(N, 2, L)``
    """
    if tracks.dim() != 2:
        raise ValueError(f"mixdown: tracks must be (N, L), got {tuple(tracks.shape)}")
    tracks = tracks.float()
    pans = torch.as_tensor(pans, dtype=torch.float64).reshape(-1)
    gains_db = torch.as_tensor(gains_db, dtype=torch.float64).reshape(-1)
    if len(pans) != len(tracks) or len(gains_db) != len(tracks):
        raise ValueError(f"mixdown: {len(tracks)} tracks but {len(pans)} pans and {len(gains_db)} gains")
    stems = spatialize(tracks, pans, gains_db)  # (N, 2, L)
    bus = stems.sum(0) if len(stems) else torch.zeros(2, tracks.shape[-1])  # (2, L)
    settings = {"target_lufs": target_lufs, "peak_db": peak_db, "seed": seed, "layers": layers, "duck": duck}
    mix = mix_bus(bus, preset, sample_rate, **settings)
    if mix.duck is not None:
        stems.mul_(mix.duck)  # in place: with hundreds of objects the stems are the bulk of the memory
    return dataclasses.replace(mix, stems=stems.mul_(10 ** (mix.gain_db / 20)))


def mix_bus(
    bus: Tensor,
    preset: str | Room,
    sample_rate: int,
    *,
    target_lufs: float = -16.0,
    peak_db: float = -1.0,
    seed: int = 0,
    layers: list[Layer] = (),
    duck: Duck | None = None,
) -> Mix:
    """The master from the objects' dry stereo bus (their panned tracks summed): the room's reverb of the bus,
    the layers levelled against it, ducking under the key layer, loudness and true-peak ceiling.

    :func:`mixdown` sums its tracks into the bus; a caller with many objects sums them one at a time (memory
    ``O(L)``) and makes each object's stem afterwards with :func:`master_stem`. Arguments as for
    :func:`mixdown`.

    Shapes:
        bus ``(2, L)`` -> Mix.audio ``(2, L)`` (Mix.stems None)
    """
    r = room(preset)
    wet = reverb(bus.mean(0), room_impulse(r, sample_rate, seed)) * r.wet  # (2, L)
    levelled = level_layers(layers, bus + wet, sample_rate, target_lufs)  # name -> (2, L)
    keys = [lay.name for lay in layers if lay.key]
    gain = (
        duck_gain(sum(levelled[k] for k in keys).mean(0), sample_rate, duck or Duck()) if keys else None
    )  # (L,)
    ducked = {lay.name for lay in layers if lay.ducked and not lay.key}
    if gain is not None:
        bus, wet = bus * gain, wet * gain
        levelled = {k: v * gain if k in ducked else v for k, v in levelled.items()}
    master = bus + wet + sum(levelled.values(), torch.zeros(2, 1))
    if layers and not keys and not bool(bus.abs().max() > 0):  # only beds: they stay as far under the target
        target_lufs += max(lay.level_db for lay in layers)  # as they would sit under sounding objects
    # peaky impacts under a voice need more rounds of gain-and-limit than the default to reach the target
    norm = loudness.normalize(master, sample_rate, target_lufs, peak_db, iterations=12)
    scale = 10 ** (norm.gain_db / 20)
    return Mix(
        norm.audio,
        wet * scale,
        norm.loudness,
        norm.true_peak,
        norm.gain_db,
        {k: v * scale for k, v in levelled.items()},
        gain,
    )


def master_stem(panned: Tensor, mix: Mix) -> Tensor:
    """An object's panned dry track ``(2, L)`` (:func:`spatialize`) as it sits in the master: ducked and at
    master gain, in place. Shapes: ``(2, L) -> (2, L)``."""
    if mix.duck is not None:
        panned.mul_(mix.duck)
    return panned.mul_(10 ** (mix.gain_db / 20))


def level_layers(layers: list[Layer], bus: Tensor, sample_rate: int, fallback: float) -> dict[str, Tensor]:
    """Each layer scaled so its loudness is the bus's plus its ``level_db`` (``fallback`` LUFS stands for a
    silent bus). Shapes: bus ``(2, L)`` -> ``name -> (2, L)``."""
    reference = loudness.integrated_loudness(bus, sample_rate) if bus.abs().max() > 0 else -math.inf
    reference = reference if math.isfinite(reference) else fallback
    out = {}
    for lay in layers:
        if lay.audio.shape != bus.shape:
            raise ValueError(
                f"mixdown: layer {lay.name!r} is {tuple(lay.audio.shape)}, the bus {tuple(bus.shape)}"
            )
        own = (
            lay.loudness if lay.loudness is not None else loudness.integrated_loudness(lay.audio, sample_rate)
        )
        gain_db = reference + lay.level_db - own if math.isfinite(own) else 0.0
        out[lay.name] = lay.audio.float() * 10 ** (gain_db / 20)
    return out
