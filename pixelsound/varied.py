"""Varied silent test clips with exact event times: impacts under ballistic physics and instruments that move
with the music in many ways. Made to measure event detection and sync on clips unlike the training data's.

One concern, the varied test-clip generator: both kinds share its config, clip record, sprites and seeding.

* **impacts** (:func:`impact_clip`): one or two balls or boxes (wood, metal, glass, plastic, rubber; drawn so
  the material shows, boxes rotate in flight) under any gravity and restitution: thrown, bouncing ever lower
  with quick small hops until they rest, then thrown again. The motion is solved in closed form, so every
  contact (the smallest hops included) has an exact time and impact speed; the true soundtrack is a modal
  impact (:mod:`pixelsound.modal`) at every contact, panned and mixed in a room.
* **instruments** (:func:`instrument_clip`): one or two drawn instruments whose pictures bounce, swell, tilt
  and kick sideways on each note (a fast-rising, decaying pulse scaled by the note's loudness), while they
  sway slowly and drift (motion that is *not* an onset); rhythms are steady or irregular, with a human's
  timing spread of a few ms, and the loudness swells and fades. The true soundtrack: a decaying harmonic tone
  per note.

Every clip is a pure function of ``(kind, seed, index)``. Seeds: the benchmark uses seeds 100 and 101
(``benchmarks/bench_events.py``); thresholds were tuned on seeds 7 and 8 only (``TUNING_SEEDS``).

Time convention: frame ``i`` shows the scene at ``i / fps``; sidecar event times are in seconds.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

from pixelsound import mixdown, modal
from pixelsound.bounce import scene_background

MATERIALS = ("wood", "metal", "glass", "plastic", "rubber")
SCENES = {"studio": "dry", "living": "room", "hall": "hall", "park": "outdoor"}
TUNING_SEEDS = (7, 8)
BENCHMARK_SEEDS = (100, 101)
SUPERSAMPLE = 4  # frames are drawn this many times larger and reduced (sub-pixel positions show)


@dataclass(frozen=True)
class VariedConfig:
    """Clip settings.

    Attributes:
        seconds: clip length.
        fps: frame rate.
        size: frame side in pixels (square frames).
        sample_rate: soundtrack rate.
    """

    seconds: float = 6.0
    fps: float = 25.0
    size: int = 160
    sample_rate: int = 22050


@dataclass
class Clip:
    """A rendered clip: frames uint8 ``(V, 3, H, W)``, true soundtrack ``(2, L)``, sidecar (JSON-ready)."""

    frames: torch.Tensor
    audio: torch.Tensor
    sidecar: dict = field(default_factory=dict)

    @property
    def onsets(self) -> np.ndarray:
        """All true event times of the clip, sorted. ``-> (E,)``."""
        times = [t for o in self.sidecar["objects"] for t in o["onsets"]]
        return np.sort(np.array(times, dtype=np.float64))


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))


# ============================================================================================ impacts


@dataclass(frozen=True)
class Flight:
    """One ballistic piece of motion: from ``start`` to ``end`` (s), height of the object's bottom above the
    floor ``h0 + v0 (t - start) - g (t - start)^2 / 2`` (px), horizontal ``x0 + vx (t - start)``, rotation
    ``a0 + spin (t - start)`` (rad). A rest is a flight with ``v0 = 0`` and ``g`` ignored (``h0 = 0``)."""

    start: float
    end: float
    h0: float
    v0: float
    x0: float
    vx: float
    a0: float
    spin: float
    rest: bool = False


def _bounces(
    rng: np.random.Generator,
    t: float,
    x: float,
    v: float,
    vx: float,
    angle: float,
    phys: tuple,
    shape: str,
    seconds: float,
) -> tuple[list[Flight], list[tuple[float, float, float]], float, float]:
    """A take-off from the floor at time ``t`` with upward speed ``v``: flights until the rebound is slower
    than ``v_min``; ``phys = (g, e, v_min)``. Returns ``(flights, contacts (time, impact speed px/s, x), x,
    angle)`` at rest. A box turns a whole number of quarter turns per flight (it lands flat)."""
    g, e, v_min = phys
    flights, contacts = [], []
    while t < seconds:
        duration = 2 * v / g
        turns = int(rng.integers(-2, 3)) if shape == "box" and duration > 0.3 else 0
        spin = turns * (math.pi / 2) / duration if shape == "box" else vx / 12.0
        flights.append(Flight(t, t + duration, 0.0, v, x, vx, angle, spin))
        t, x, angle = t + duration, x + vx * duration, angle + spin * duration
        contacts.append((t, v, x))  # lands as fast as it left
        v, vx = v * e, vx * 0.6
        if v < v_min:
            break
    return flights, contacts, x, angle


def _throws(
    rng: np.random.Generator,
    lane: tuple[float, float],
    half: float,
    room: float,
    phys: tuple,
    shape: str,
    seconds: float,
) -> tuple[list[Flight], list[tuple[float, float, float]]]:
    """The whole life of one object: a drop from a height, then bounces, rests and throws until the clip
    ends. ``phys = (g, e)``. Returns its flights and contacts ``(time, impact speed px/s, x)``."""
    g, e = phys
    v_min = math.sqrt(2 * g * 0.015 * room / 0.8)  # the smallest hop rises about 1.5 % of the frame
    lo, hi = lane[0] + half + 2, lane[1] - half - 2
    x = float(rng.uniform(lo + 0.3 * (hi - lo), hi - 0.3 * (hi - lo)))
    h0 = float(rng.uniform(0.3, 0.9) * room)
    fall = math.sqrt(2 * h0 / g)
    turns = int(rng.integers(-1, 2)) if shape == "box" else 0
    a0 = -turns * math.pi / 2 if shape == "box" else float(rng.uniform(0, 2 * math.pi))
    flights = [Flight(0.0, fall, h0, 0.0, x, 0.0, a0, turns * math.pi / 2 / fall)]
    contacts = [(fall, g * fall, x)]
    t, v, vx, angle = fall, g * fall * e, 0.0, a0 + turns * math.pi / 2
    while t < seconds:
        more, hit, x, angle = _bounces(rng, t, x, v, vx, angle, (g, e, v_min), shape, seconds)
        flights += more
        contacts += hit
        t = more[-1].end if more else t
        pause = float(rng.uniform(0.3, 1.2))
        flights.append(Flight(t, t + pause, 0.0, 0.0, x, 0.0, angle, 0.0, rest=True))
        t += pause
        v = math.sqrt(2 * g * float(rng.uniform(0.25, 0.85)) * room)  # thrown up again
        vx = (float(rng.uniform(lo, hi)) - x) / (4 * v / g)  # towards a new place in the lane
    return flights, [c for c in contacts if c[0] < seconds]


def _pose(flights: list[Flight], g: float, t: float) -> tuple[float, float, float]:
    """``(x, height of the bottom, angle)`` of an object at time ``t``."""
    for f in flights:
        if f.start <= t < f.end or f is flights[-1]:
            if f.rest:
                return f.x0, 0.0, f.a0
            dt = min(t, f.end) - f.start
            h = f.h0 + f.v0 * dt - g * dt * dt / 2
            return f.x0 + f.vx * dt, max(h, 0.0), f.a0 + f.spin * dt
    return flights[-1].x0, 0.0, flights[-1].a0


def object_colour(material: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """A colour a person would read as the material (wider ranges than :mod:`pixelsound.bounce`'s)."""
    if material == "wood":
        return _hsv(rng.uniform(0.05, 0.11), rng.uniform(0.45, 0.75), rng.uniform(0.4, 0.72))
    if material == "metal":
        return _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.0, 0.1), rng.uniform(0.6, 0.88))
    if material == "glass":
        return _hsv(rng.uniform(0.45, 0.58), rng.uniform(0.2, 0.42), rng.uniform(0.85, 1.0))
    if material == "plastic":
        hue = rng.choice([0.0, 0.15, 0.33, 0.6, 0.8, 0.92]) + rng.uniform(-0.03, 0.03)
        return _hsv(hue, rng.uniform(0.75, 0.95), rng.uniform(0.8, 1.0))
    return _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.05, 0.5), rng.uniform(0.08, 0.24))  # rubber


def object_sprite(
    shape: str, material: str, colour: tuple, half: float, rng: np.random.Generator
) -> Image.Image:
    """A ball or box of ``half`` px half-size as RGBA (drawn large, reduced later), with the material's marks:
    wood grain, a metal sheen, see-through glass with a glint, glossy plastic, matte rubber."""
    s = SUPERSAMPLE
    side = int(math.ceil(2 * half * s)) + 4
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = tuple(int(255 * x) for x in colour)
    alpha = int(rng.uniform(150, 200)) if material == "glass" else 255
    box = (2, 2, side - 3, side - 3)
    outline = tuple(int(0.45 * v) for v in c) + (255,)
    if shape == "ball":
        draw.ellipse(box, fill=c + (alpha,), outline=outline, width=max(1, s))
    else:
        draw.rounded_rectangle(
            box, radius=int(side * 0.08), fill=c + (alpha,), outline=outline, width=max(1, s)
        )
    if material == "wood":
        dark = tuple(int(0.72 * v) for v in c) + (255,)
        for k in range(int(rng.integers(3, 6))):
            y = int(side * (0.15 + 0.7 * k / 5 + rng.uniform(-0.03, 0.03)))
            draw.line(
                (side * 0.15, y, side * 0.85, y + side * rng.uniform(-0.08, 0.08)), fill=dark, width=max(1, s)
            )
    if material == "metal":  # a bright band across
        draw.line(
            (side * 0.2, side * 0.35, side * 0.8, side * 0.3),
            fill=(255, 255, 255, 170),
            width=max(2, side // 10),
        )
    if material in ("glass", "plastic"):
        r = side * (0.09 if material == "glass" else 0.07)
        hx, hy = side * 0.33, side * 0.32
        draw.ellipse((hx - r, hy - r, hx + r, hy + r), fill=(255, 255, 255, 235))
    if shape == "ball":  # keep marks inside the disc
        disc = Image.new("L", (side, side), 0)
        ImageDraw.Draw(disc).ellipse(box, fill=255)
        img.putalpha(Image.fromarray(np.minimum(np.asarray(img.getchannel("A")), np.asarray(disc))))
    return img.filter(ImageFilter.GaussianBlur(0.6 * s))


@dataclass(frozen=True)
class Thing:
    """An impact object: shape (ball/box), material, half size (px), colour, lane, modal seed."""

    shape: str
    material: str
    half: float
    colour: tuple[float, float, float]
    lane: tuple[float, float]
    seed: int


def _thing(
    rng: np.random.Generator, lane: tuple[float, float], size: int, behind: np.ndarray, seed: int
) -> Thing:
    """A random object that stands out from the background behind it."""
    for _ in range(30):
        material = str(rng.choice(MATERIALS))
        colour = object_colour(material, rng)
        if np.abs(np.array(colour) - behind).max() >= 0.3:
            break
    shape = str(rng.choice(["ball", "box"]))
    return Thing(shape, material, float(rng.uniform(0.045, 0.085) * size), colour, lane, seed)


def _draw_impacts(
    background: np.ndarray,
    things: list[Thing],
    lives: list[list[Flight]],
    g: float,
    floor_y: float,
    times: np.ndarray,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Frames (drawn SUPERSAMPLE times larger, reduced) and per thing its centre ``(x, y)`` per frame."""
    s = SUPERSAMPLE
    size = background.shape[0]
    base = Image.fromarray(background).resize((size * s, size * s), Image.Resampling.BILINEAR)
    sprites = [object_sprite(t.shape, t.material, t.colour, t.half, rng) for t in things]
    frames, centres = [], [np.zeros((len(times), 2)) for _ in things]
    for v, t in enumerate(times):
        img = base.copy()
        shade = ImageDraw.Draw(img, "RGBA")
        poses = [_pose(life, g, float(t)) for life in lives]
        for thing, (x, h, _) in zip(things, poses, strict=True):
            lift = min(1.0, h / (0.5 * floor_y))
            w = thing.half * (1.0 - 0.4 * lift) * s
            shade.ellipse(
                (x * s - w, floor_y * s - 0.2 * w, x * s + w, floor_y * s + 0.2 * w),
                fill=(0, 0, 0, int(45 * (1 - 0.7 * lift))),
            )
        for k, (thing, spr, (x, h, angle)) in enumerate(zip(things, sprites, poses, strict=True)):
            turned = spr.rotate(math.degrees(angle), resample=Image.Resampling.BICUBIC, expand=True)
            cy = floor_y - h - thing.half
            centres[k][v] = (x, cy)
            img.paste(
                turned, (int(round(x * s - turned.width / 2)), int(round(cy * s - turned.height / 2))), turned
            )
        frames.append(np.asarray(img.resize((size, size), Image.Resampling.BOX).convert("RGB")))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous(), centres


def impact_clip(seed: int, index: int, cfg: VariedConfig = VariedConfig()) -> Clip:
    """Impact clip ``index`` of ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([seed, index, 1])
    size = cfg.size
    scene = str(rng.choice(list(SCENES)))
    floor_y = float(int(rng.uniform(0.8, 0.92) * size))
    g = float(rng.uniform(1.0, 4.0) * size)  # px / s^2: any gravity
    e = float(rng.uniform(0.35, 0.8))  # restitution
    count = int(rng.integers(1, 3))
    lanes = [(0.0, float(size))] if count == 1 else [(0.0, size / 2), (size / 2, float(size))]
    background = scene_background(scene, rng, size, int(floor_y))
    things, lives, contacts = [], [], []
    for i, lane in enumerate(lanes):
        behind = background[: int(floor_y), int(lane[0]) : int(lane[1])].reshape(-1, 3).mean(0) / 255
        thing = _thing(rng, lane, size, behind, seed * 1000 + index * 10 + i)
        room = floor_y - 2 * thing.half - 6
        life, hit = _throws(rng, lane, thing.half, room, (g, e), thing.shape, cfg.seconds)
        things.append(thing)
        lives.append(life)
        contacts.append(hit)
    times = np.arange(int(round(cfg.seconds * cfg.fps))) / cfg.fps
    frames, centres = _draw_impacts(background, things, lives, g, floor_y, times, rng)
    reference = math.sqrt(2 * g * 0.5 * size)  # speed 1: a drop from half the frame height
    audio = _impact_audio(things, contacts, reference, SCENES[scene], size, cfg)
    objects = [
        {
            "kind": "impact",
            "shape": t.shape,
            "material": t.material,
            "category": t.material,
            "half_size": round(t.half, 2),
            "x": round(float(np.mean(c[:, 0])) / size, 4),
            "side": "center" if count == 1 else ("left", "right")[k],
            "onsets": [round(h[0], 6) for h in hit],
            "speeds": [round(min(1.0, h[1] / reference), 4) for h in hit],
            "centres": np.round(c, 3).tolist(),
        }
        for k, (t, hit, c) in enumerate(zip(things, contacts, centres, strict=True))
    ]
    sidecar = {
        "kind": "impacts",
        "seed": [seed, index],
        "fps": cfg.fps,
        "seconds": cfg.seconds,
        "width": size,
        "height": size,
        "scene": scene,
        "room": SCENES[scene],
        "gravity": round(g, 3),
        "restitution": round(e, 4),
        "floor_y": floor_y,
        "objects": objects,
    }
    return Clip(frames, audio, sidecar)


def _impact_audio(
    things: list[Thing], contacts: list[list], reference: float, room: str, size: int, cfg: VariedConfig
) -> torch.Tensor:
    """Modal impacts at every contact, panned by position, mixed in the room. ``-> (2, L)``."""
    length = int(round(cfg.seconds * cfg.sample_rate))
    tracks, pans, gains = [], [], []
    for thing, hit in zip(things, contacts, strict=True):
        tracks.append(
            modal.impact_track(
                [h[0] for h in hit],
                [min(1.0, h[1] / reference) for h in hit],
                thing.material,
                2 * thing.half / (0.18 * size),
                length,
                sample_rate=cfg.sample_rate,
                seed=thing.seed,
            )
        )
        pans.append(float(mixdown.pan_from_x(np.mean([h[2] for h in hit]) / size if hit else 0.5)))
        gains.append(float(mixdown.distance_gain((2 * thing.half) ** 2 / size**2)))
    mix = mixdown.mixdown(torch.stack(tracks), torch.tensor(pans), torch.tensor(gains), room, cfg.sample_rate)
    return mix.audio


# ======================================================================================== instruments

INSTRUMENTS = ("guitar", "drum", "bell", "horn", "keys")


def instrument_sprite(kind: str, side: int, rng: np.random.Generator) -> Image.Image:
    """A drawn instrument, RGBA ``side`` px square: guitar, drum, bell, horn or keys, in random colours."""
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    main = tuple(
        int(255 * c) for c in _hsv(rng.uniform(0, 1), rng.uniform(0.5, 0.9), rng.uniform(0.55, 0.95))
    )
    second = tuple(
        int(255 * c) for c in _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.9))
    )
    ink, w = (25, 25, 25, 255), max(2, side // 40)
    s = side
    if kind == "guitar":
        d.rectangle((0.45 * s, 0.05 * s, 0.55 * s, 0.5 * s), fill=second, outline=ink, width=w)
        d.ellipse((0.28 * s, 0.38 * s, 0.72 * s, 0.7 * s), fill=main, outline=ink, width=w)
        d.ellipse((0.22 * s, 0.55 * s, 0.78 * s, 0.95 * s), fill=main, outline=ink, width=w)
        d.ellipse((0.44 * s, 0.62 * s, 0.56 * s, 0.74 * s), fill=ink)
    elif kind == "drum":
        d.rectangle((0.12 * s, 0.35 * s, 0.88 * s, 0.82 * s), fill=main, outline=ink, width=w)
        d.ellipse((0.12 * s, 0.72 * s, 0.88 * s, 0.92 * s), fill=main, outline=ink, width=w)
        d.ellipse((0.12 * s, 0.25 * s, 0.88 * s, 0.45 * s), fill=(235, 230, 215, 255), outline=ink, width=w)
        for k in range(5):
            x = (0.18 + 0.16 * k) * s
            d.line((x, 0.42 * s, x + 0.08 * s, 0.82 * s), fill=second, width=w)
    elif kind == "bell":
        d.polygon(
            [
                (0.5 * s, 0.08 * s),
                (0.7 * s, 0.3 * s),
                (0.85 * s, 0.8 * s),
                (0.15 * s, 0.8 * s),
                (0.3 * s, 0.3 * s),
            ],
            fill=main,
            outline=ink,
        )
        d.rectangle((0.1 * s, 0.78 * s, 0.9 * s, 0.86 * s), fill=second, outline=ink, width=w)
        d.ellipse((0.43 * s, 0.84 * s, 0.57 * s, 0.96 * s), fill=ink)
    elif kind == "horn":
        d.polygon(
            [
                (0.1 * s, 0.45 * s),
                (0.55 * s, 0.4 * s),
                (0.9 * s, 0.1 * s),
                (0.9 * s, 0.9 * s),
                (0.55 * s, 0.6 * s),
                (0.1 * s, 0.55 * s),
            ],
            fill=main,
            outline=ink,
        )
        d.ellipse((0.82 * s, 0.1 * s, 0.98 * s, 0.9 * s), fill=second, outline=ink, width=w)
        for k in range(3):
            d.rectangle(
                ((0.25 + 0.1 * k) * s, 0.3 * s, (0.3 + 0.1 * k) * s, 0.42 * s), fill=second, outline=ink
            )
    else:  # keys
        d.rectangle((0.05 * s, 0.3 * s, 0.95 * s, 0.75 * s), fill=(250, 250, 245, 255), outline=ink, width=w)
        d.rectangle((0.05 * s, 0.2 * s, 0.95 * s, 0.32 * s), fill=main, outline=ink, width=w)
        for k in range(1, 9):
            x = (0.05 + 0.1 * k) * s
            d.line((x, 0.32 * s, x, 0.75 * s), fill=ink, width=max(1, w // 2))
            if k % 7 not in (3, 0):
                d.rectangle((x - 0.025 * s, 0.32 * s, x + 0.025 * s, 0.55 * s), fill=ink)
    return img.filter(ImageFilter.GaussianBlur(0.5))


def rhythm(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Note onsets: a tempo of 70-170 bpm, steady (every beat or half beat) or irregular (notes of 1/2 to 2
    beats, rests), played with a human's timing spread of 2-12 ms. ``-> (E,)`` seconds."""
    beat = 60.0 / float(rng.uniform(70, 170))
    steady = rng.random() < 0.5
    step = beat / 2 if steady and beat > 0.55 else beat
    t, out = float(rng.uniform(0.15, 0.6)), []
    while t < seconds - 0.15:
        out.append(t)
        t += step if steady else beat * float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0, 3.0]))
    spread = float(rng.uniform(0.002, 0.012))
    times = np.array(out) + rng.normal(0, spread, len(out))
    return times[(times > 0.05) & (times < seconds - 0.1)]


@dataclass(frozen=True)
class Moves:
    """How an instrument moves: per-note pulse amplitudes (bounce and side kick in px, swell as a scale
    fraction, tilt in degrees), the pulse's rise time (s), and slow sway/drift (not onsets)."""

    bounce: float
    kick: float
    swell: float
    tilt: float
    rise: float
    sway_x: float
    sway_tilt: float
    sway_scale: float
    sway_hz: tuple[float, float, float]
    phase: tuple[float, float, float]
    drift: tuple[float, float]


def _moves(rng: np.random.Generator, size: int) -> Moves:
    """Random motion: at least one of bounce, side kick, swell, tilt; sways as large as the pulses."""
    on = rng.random(4) < 0.55
    on[int(rng.integers(4))] = True
    u = rng.uniform(0.4, 1.0, 4) * on
    return Moves(
        bounce=float(u[0] * 0.05 * size),
        kick=float(u[1] * 0.035 * size),
        swell=float(u[2] * 0.1),
        tilt=float(u[3] * 9.0),
        rise=float(rng.uniform(0.03, 0.08)),
        sway_x=float(rng.uniform(0, 0.04) * size),
        sway_tilt=float(rng.uniform(0, 7.0)),
        sway_scale=float(rng.uniform(0, 0.05)),
        sway_hz=tuple(float(f) for f in rng.uniform(0.12, 0.6, 3)),
        phase=tuple(float(p) for p in rng.uniform(0, 2 * math.pi, 3)),
        drift=(float(rng.uniform(-0.06, 0.06) * size), float(rng.uniform(-0.03, 0.03) * size)),
    )


def pulses(times: np.ndarray, onsets: np.ndarray, levels: np.ndarray, rise: float) -> np.ndarray:
    """Sum of note pulses ``level * u * exp(1 - u)``, ``u = (t - onset) / rise`` (0 before the onset): a fast
    rise to ``level`` at ``rise`` s, then a decay. ``times (V,)`` -> ``(V, E)`` per note."""
    u = (times[:, None] - onsets[None, :]) / rise
    return np.where(u > 0, levels[None, :] * u * np.exp(1 - np.maximum(u, 0)), 0.0)


def _poses(
    moves: Moves, times: np.ndarray, onsets: np.ndarray, levels: np.ndarray, signs: np.ndarray, seconds: float
):
    """Per frame ``(dx px, dy px, scale, angle deg)`` of an instrument. ``-> 4 x (V,)``."""
    p = pulses(times, onsets, levels, moves.rise)  # (V, E)
    fx, fa, fs = moves.sway_hz
    px, pa, ps = moves.phase
    dx = moves.kick * (p * signs).sum(1) + moves.sway_x * np.sin(2 * math.pi * fx * times + px)
    dx = dx + moves.drift[0] * times / seconds
    dy = -moves.bounce * p.sum(1) + moves.drift[1] * times / seconds
    scale = 1 + moves.swell * p.sum(1) + moves.sway_scale * np.sin(2 * math.pi * fs * times + ps)
    angle = moves.tilt * (p * signs[::-1]).sum(1) + moves.sway_tilt * np.sin(2 * math.pi * fa * times + pa)
    return dx, dy, scale, angle


def note_sound(
    kind: str, pitch: float, level: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """A decaying harmonic tone (plucked, struck or blown by kind), ~1 s. ``-> (n,)``."""
    n = int(sample_rate * 1.0)
    t = np.arange(n) / sample_rate
    decay = {"guitar": 3.0, "drum": 12.0, "bell": 1.5, "horn": 2.0, "keys": 4.0}[kind]
    attack = {"horn": 0.02}.get(kind, 0.003)
    wave = np.zeros(n)
    for k in range(1, 7):
        ratio = k if kind != "bell" else (1.0, 2.4, 3.9, 5.4, 6.8, 8.3)[k - 1]
        wave += (
            (0.7**k)
            * np.exp(-decay * (1 + 0.3 * k) * t)
            * np.sin(2 * math.pi * pitch * ratio * t + rng.uniform(0, 6))
        )
    if kind == "drum":
        wave += 0.5 * rng.normal(0, 1, n) * np.exp(-40 * t)
    return level * wave * np.minimum(1.0, t / attack)


def _instrument_audio(
    kinds: list[str],
    notes: list[tuple],
    pans: list[float],
    room: str,
    cfg: VariedConfig,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Each instrument's notes, panned and mixed in a room. ``-> (2, L)``."""
    length = int(round(cfg.seconds * cfg.sample_rate))
    tracks = []
    for kind, (onsets, levels, pitches) in zip(kinds, notes, strict=True):
        track = np.zeros(length)
        for t, level, pitch in zip(onsets, levels, pitches, strict=True):
            sound = note_sound(kind, pitch, level, cfg.sample_rate, rng)
            start = int(round(t * cfg.sample_rate))
            end = min(length, start + len(sound))
            track[start:end] += sound[: end - start]
        tracks.append(torch.from_numpy(track).float())
    mix = mixdown.mixdown(
        torch.stack(tracks), torch.tensor(pans), torch.zeros(len(tracks)), room, cfg.sample_rate
    )
    return mix.audio


def _draw_instruments(
    background: np.ndarray, sprites: list[Image.Image], centres: list[tuple], poses: list, count: int
) -> torch.Tensor:
    """Frames: each sprite moved, scaled and turned by its pose (drawn SUPERSAMPLE times larger)."""
    s = SUPERSAMPLE
    size = background.shape[0]
    base = Image.fromarray(background).resize((size * s, size * s), Image.Resampling.BILINEAR)
    frames = []
    for v in range(count):
        img = base.copy()
        for spr, (cx, cy), (dx, dy, scale, angle) in zip(sprites, centres, poses, strict=True):
            side = max(4, int(round(spr.width * scale[v])))
            turned = spr.resize((side, side), Image.Resampling.BILINEAR).rotate(
                float(angle[v]), resample=Image.Resampling.BICUBIC, expand=True
            )
            x, y = (cx + dx[v]) * s - turned.width / 2, (cy + dy[v]) * s - turned.height / 2
            img.paste(turned, (int(round(x)), int(round(y))), turned)
        frames.append(np.asarray(img.resize((size, size), Image.Resampling.BOX).convert("RGB")))
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()


def instrument_clip(seed: int, index: int, cfg: VariedConfig = VariedConfig()) -> Clip:
    """Instrument clip ``index`` of ``seed``: a solo or a duet (see the module docstring)."""
    rng = np.random.default_rng([seed, index, 2])
    size = cfg.size
    scene = str(rng.choice(list(SCENES)))
    background = scene_background(scene, rng, size, int(rng.uniform(0.75, 0.95) * size))
    count = int(rng.integers(1, 3))
    times = np.arange(int(round(cfg.seconds * cfg.fps))) / cfg.fps
    kinds, sprites, centres, poses, notes, objects = [], [], [], [], [], []
    for k in range(count):
        kind = str(rng.choice(INSTRUMENTS))
        side = int(rng.uniform(0.3, 0.42 if count == 2 else 0.55) * size)
        cx = size / 2 if count == 1 else size * (0.27 + 0.46 * k) + rng.uniform(-0.03, 0.03) * size
        cy = size * float(rng.uniform(0.42, 0.58))
        onsets = rhythm(rng, cfg.seconds)
        swell = 0.35 + 0.65 * (
            0.5 + 0.5 * np.sin(2 * math.pi * onsets / cfg.seconds * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
        )
        levels = swell * rng.uniform(0.75, 1.0, len(onsets))  # loudness: swells and fades, accents
        signs = rng.choice([-1.0, 1.0], len(onsets))
        moves = _moves(rng, size)
        pitches = float(rng.uniform(150, 500)) * 2 ** (rng.choice([0, 2, 4, 7, 9, 12], len(onsets)) / 12)
        kinds.append(kind)
        sprites.append(instrument_sprite(kind, side * SUPERSAMPLE, rng))
        centres.append((cx, cy))
        poses.append(_poses(moves, times, onsets, levels, signs, cfg.seconds))
        notes.append((onsets, levels, pitches))
        objects.append(
            {
                "kind": "instrument",
                "category": kind,
                "x": round(cx / size, 4),
                "side": "center" if count == 1 else ("left", "right")[k],
                "onsets": np.round(onsets, 6).tolist(),
                "levels": np.round(levels, 4).tolist(),
                "moves": {k2: v for k2, v in moves.__dict__.items()},
            }
        )
    frames = _draw_instruments(background, sprites, centres, poses, len(times))
    pans = [float(mixdown.pan_from_x(c[0] / size)) for c in centres]
    audio = _instrument_audio(kinds, notes, pans, SCENES[scene], cfg, rng)
    sidecar = {
        "kind": "instruments",
        "seed": [seed, index],
        "fps": cfg.fps,
        "seconds": cfg.seconds,
        "width": size,
        "height": size,
        "scene": scene,
        "room": SCENES[scene],
        "objects": objects,
    }
    return Clip(frames, audio, sidecar)


def make_clip(kind: str, seed: int, index: int, cfg: VariedConfig = VariedConfig()) -> Clip:
    """``kind`` ``"impacts"`` or ``"instruments"``: :func:`impact_clip` or :func:`instrument_clip`."""
    if kind == "impacts":
        return impact_clip(seed, index, cfg)
    if kind == "instruments":
        return instrument_clip(seed, index, cfg)
    raise ValueError(f"varied: unknown clip kind {kind!r} (known: impacts, instruments)")
