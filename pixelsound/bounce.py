"""`pixelsound data bounce`: silent clips of bouncing balls whose true soundtracks are known exactly.

One concern, the bounce data set: ballistic motion, its drawing and the true soundtracks, and the builder
that writes them.

Each clip shows one or two balls (wood, metal, glass, plastic, rubber; each drawn so its material shows)
falling under gravity and bouncing on a floor with a coefficient of restitution, in a scene implying a room
preset (a studio backdrop: ``dry``; a living room: ``room``; a dark hall with columns: ``hall``; sky and
grass: ``outdoor``). The motion is solved in closed form, so every floor hit has an exact time and impact
speed. The true soundtrack -- a modal impact (:mod:`pixelsound.modal`) at every hit, panned by the ball's
position and mixed in the scene's room (:mod:`pixelsound.mixdown`) -- is kept aside as a wav; the video has
no audio.

Layout of ``--out DIR``::

    bounce/00003_metal+glass.mp4   silent video (h264, no audio stream)
    bounce/00003_metal+glass.json  sidecar: scene, room, and per ball its material, size, hits, box per frame
    bounce/00003_metal+glass.wav   the true soundtrack (stereo)
    bounce_test.jsonl              index (pixelsound.index) with sidecar and soundtrack paths

Every clip is a pure function of ``(seed, clip number)``.
"""

from __future__ import annotations

import argparse
import colorsys
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from pixelsound import io, mixdown, modal
from pixelsound.index import write_index

log = logging.getLogger(__name__)

MATERIALS = ("wood", "metal", "glass", "plastic", "rubber")
SCENES = {"studio": "dry", "living": "room", "hall": "hall", "park": "outdoor"}  # scene -> room preset
MIN_CONTRAST = 0.3  # a ball differs from the background behind it by this much in some colour channel
SIZE_UNIT = 0.18  # a ball whose diameter is this fraction of the frame height has modal size 1
REFERENCE_DROP = 0.7  # impact speed 1 = falling from this fraction of the frame height
MIN_SPEED = 0.2  # a landing slower than this (normalized) does not rebound: the ball comes to rest
INDEX_KEYS = (
    "duration",
    "fps",
    "num_frames",
    "width",
    "height",
    "sample_rate",
    "channels",
    "has_audio",
    "has_video",
)


@dataclass(frozen=True)
class BounceConfig:
    """Settings of a bounce build (the CLI flags).

    Attributes:
        out: output folder.
        clips: number of clips.
        seed: master seed; clip i draws from numpy's generator seeded with ``[seed, i]``.
        seconds: clip length.
        fps: video frame rate.
        size: frame height and width in pixels.
        sample_rate: rate of the true soundtrack.
        max_balls: 1 or 2 balls per clip (two balls play in the left and right halves).
        split: split name written to the index.
    """

    out: Path
    clips: int
    seed: int = 0
    seconds: float = 4.0
    fps: float = 25.0
    size: int = 224
    sample_rate: int = 44100
    max_balls: int = 2
    split: str = "test"


@dataclass(frozen=True)
class Ball:
    """One ball and its closed-form motion.

    Attributes:
        material: modal material name (the category).
        radius: pixels.
        colour: RGB in [0, 1].
        x0, vx: horizontal position (px) at t = 0 and velocity (px/s).
        h0, v0: height of the ball's bottom above the floor (px) and upward velocity (px/s) at t = 0.
        restitution: rebound speed / impact speed.
        seed: the ball's modal seed.
    """

    material: str
    radius: float
    colour: tuple[float, float, float]
    x0: float
    vx: float
    h0: float
    v0: float
    restitution: float
    seed: int


@dataclass(frozen=True)
class Hit:
    """A floor hit: time (s), impact speed (px/s) and normalized speed (1 = the reference drop), x (px)."""

    time: float
    speed_px: float
    speed: float
    x: float


# ----------------------------------------------------------------------------------------------- physics


def hits(ball: Ball, gravity: float, seconds: float, reference_speed: float) -> list[Hit]:
    """Every floor hit of a ball within ``seconds``, solved in closed form.

    The first hit comes when ``h0 + v0 t - g t^2 / 2 = 0``; each rebound leaves at ``e`` times the impact
    speed and lands ``2 v / g`` later. The first landing slower than MIN_SPEED (normalized) is the last: the
    ball rests there. It is a contact the video shows, so it is listed and sounds (softly) like the others.
    """
    t = (ball.v0 + math.sqrt(ball.v0**2 + 2 * gravity * ball.h0)) / gravity
    v = math.sqrt(ball.v0**2 + 2 * gravity * ball.h0)
    out = []
    while t < seconds:
        out.append(Hit(t, v, min(1.0, v / reference_speed), ball.x0 + ball.vx * t))
        if v / reference_speed < MIN_SPEED:
            break
        v *= ball.restitution
        t += 2 * v / gravity
    return out


def height(ball: Ball, gravity: float, found: list[Hit], t: np.ndarray) -> np.ndarray:
    """Height of the ball's bottom above the floor at times ``t``: the fall, then one parabola per rebound.

    A hit slower than MIN_SPEED (the last) does not rebound: the ball rests on the floor after it.

    Shapes:
        t ``(V,)`` -> ``(V,)``
    """
    h = ball.h0 + ball.v0 * t - gravity * t**2 / 2
    for i, hit in enumerate(found):
        up = hit.speed_px * ball.restitution if hit.speed >= MIN_SPEED else 0.0
        after = t - hit.time
        end = found[i + 1].time if i + 1 < len(found) else math.inf
        h = np.where((t >= hit.time) & (t < end), up * after - gravity * after**2 / 2, h)
    return np.maximum(h, 0.0)


# ----------------------------------------------------------------------------------------------- drawing


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def ball_colour(material: str, rng: np.random.Generator) -> tuple[float, float, float]:
    """A colour showing the material: brown wood, grey metal, pale cyan glass, vivid plastic, dark rubber."""
    if material == "wood":
        return _hsv(rng.uniform(0.06, 0.1), rng.uniform(0.5, 0.7), rng.uniform(0.45, 0.65))
    if material == "metal":
        return _hsv(rng.uniform(0.55, 0.65), rng.uniform(0.0, 0.08), rng.uniform(0.7, 0.85))
    if material == "glass":
        return _hsv(rng.uniform(0.5, 0.55), rng.uniform(0.25, 0.4), rng.uniform(0.88, 1.0))
    if material == "plastic":
        return _hsv(
            rng.choice([0.0, 0.15, 0.33, 0.62, 0.8]) + rng.uniform(-0.02, 0.02), 0.85, rng.uniform(0.85, 1.0)
        )
    return _hsv(rng.uniform(0.95, 1.05), rng.uniform(0.3, 0.6), rng.uniform(0.12, 0.22))  # rubber


def sprite(ball: Ball, rng: np.random.Generator) -> Image.Image:
    """The ball as an antialiased RGBA image (drawn at 4x, then reduced), with material details."""
    side = int(math.ceil(2 * ball.radius)) + 2
    big = 4 * side
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = tuple(int(255 * x) for x in ball.colour)
    alpha = 200 if ball.material == "glass" else 255
    r = 4 * ball.radius
    centre = big / 2
    draw.ellipse(
        (centre - r, centre - r, centre + r, centre + r),
        fill=c + (alpha,),
        outline=(20, 20, 20, 255),
        width=max(2, int(r / 10)),
    )
    if ball.material == "wood":  # grain: darker arcs
        dark = tuple(int(0.7 * v) for v in c) + (255,)
        for k in range(3):
            off = r * (0.2 + 0.25 * k)
            draw.arc(
                (centre - r + off, centre - r, centre + r + off, centre + r), 100, 260, fill=dark, width=3
            )
    if ball.material in ("metal", "glass", "plastic"):  # specular highlight
        hr = r * (0.3 if ball.material == "metal" else 0.2)
        hx, hy = centre - 0.35 * r, centre - 0.35 * r
        draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=(255, 255, 255, 230))
    return img.filter(ImageFilter.GaussianBlur(1.0)).resize((side, side), Image.Resampling.LANCZOS)


def scene_background(scene: str, rng: np.random.Generator, size: int, floor_y: int) -> np.ndarray:
    """The scene as uint8 RGB ``(H, W, 3)``: a wall/sky above ``floor_y`` and a floor/grass below it."""
    h = w = size
    y = np.linspace(0, 1, h)[:, None, None]
    if scene == "park":
        top = np.array(_hsv(rng.uniform(0.55, 0.6), rng.uniform(0.45, 0.6), 0.95))
        top = top * (0.75 + 0.25 * y) + (1 - y) * 0.0
        ground = np.array(_hsv(rng.uniform(0.25, 0.33), 0.6, rng.uniform(0.45, 0.6)))
    elif scene == "hall":
        top = np.array(_hsv(rng.uniform(0.05, 0.12), 0.3, rng.uniform(0.18, 0.25))) * (0.8 + 0.4 * y)
        ground = np.array(_hsv(rng.uniform(0.05, 0.1), 0.4, 0.3))
    elif scene == "living":
        top = np.array(_hsv(rng.uniform(0.08, 0.16), rng.uniform(0.15, 0.3), rng.uniform(0.75, 0.85))) * (
            1.05 - 0.1 * y
        )
        ground = np.array(_hsv(rng.uniform(0.07, 0.09), 0.55, rng.uniform(0.4, 0.5)))
    else:  # studio: a plain seamless backdrop
        top = np.array(_hsv(rng.uniform(0.0, 1.0), 0.05, rng.uniform(0.45, 0.55))) * np.ones_like(y)
        ground = top[-1, 0]
    img = np.broadcast_to(top, (h, w, 3)).copy()
    img[floor_y:] = ground
    if scene == "hall":  # pale columns
        for cx in np.linspace(0.1, 0.9, 4) * w:
            img[:floor_y, int(cx - w * 0.03) : int(cx + w * 0.03)] *= 1.8
    if scene == "living":  # floor planks
        for x in range(0, w, max(8, w // 8)):
            img[floor_y:, x : x + 1] *= 0.7
    noise = rng.normal(0, 0.01, (h, w, 1)) if scene != "studio" else 0.0
    return (np.clip(img + noise, 0, 1) * 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- one clip


@dataclass
class Clip:
    """One rendered clip: frames, true soundtrack and sidecar."""

    frames: torch.Tensor  # uint8 (V, 3, H, W)
    audio: torch.Tensor  # float32 (2, L)
    sidecar: dict


def _ball(
    rng: np.random.Generator,
    lane: tuple[float, float],
    floor_y: int,
    background: np.ndarray,
    gravity: float,
    seed: int,
) -> Ball:
    """A random ball that stands out from the background behind its lane and stays inside the lane for the
    whole clip (drift is small and bounded)."""
    size = background.shape[0]
    behind = background[:floor_y, int(lane[0]) : int(lane[1])].reshape(-1, 3).mean(0) / 255
    for _ in range(20):  # a colour at least MIN_CONTRAST away (in some channel) from the background
        material = str(rng.choice(MATERIALS))
        colour = ball_colour(material, rng)
        if np.abs(np.array(colour) - behind).max() >= MIN_CONTRAST:
            break
    radius = float(rng.uniform(0.045, 0.09) * size)
    lo, hi = lane[0] + radius + 2, lane[1] - radius - 2
    x0 = float(rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo)))
    vx = float(rng.uniform(-1, 1) * 0.2 * (hi - lo) / 4.0)  # drifts at most a fifth of the lane in 4 s
    room = floor_y - 2 * radius - 4
    h0 = float(rng.uniform(0.35, 0.95) * room)
    v0 = float(rng.uniform(-0.2, 0.35) * math.sqrt(2 * gravity * h0))
    v0 = min(v0, math.sqrt(2 * gravity * max(room - h0, 0.0)))  # never leaves the top of the frame
    return Ball(material, radius, colour, x0, vx, h0, v0, float(rng.uniform(0.55, 0.8)), seed)


def _boxes(ball: Ball, heights: np.ndarray, times: np.ndarray, floor_y: int) -> np.ndarray:
    """Per-frame box ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive). ``-> (V, 4)``."""
    cx = ball.x0 + ball.vx * times
    bottom = floor_y - heights
    return np.stack([cx - ball.radius, bottom - 2 * ball.radius, cx + ball.radius, bottom], 1)


def render_frames(
    background: np.ndarray, balls: list[Ball], boxes: list[np.ndarray], rng: np.random.Generator, floor_y: int
) -> torch.Tensor:
    """Draw each frame: background, a soft shadow under each ball, the ball. ``-> uint8 (V, 3, H, W)``."""
    sprites = [sprite(b, rng) for b in balls]
    base = Image.fromarray(background)
    out = []
    for v in range(len(boxes[0])):
        img = base.copy()
        shade = ImageDraw.Draw(img, "RGBA")
        for ball, box in zip(balls, boxes, strict=True):
            lift = min(1.0, (floor_y - box[v, 3]) / (0.5 * floor_y))
            half = ball.radius * (1.0 - 0.5 * lift)
            cx = (box[v, 0] + box[v, 2]) / 2
            shade.ellipse(
                (cx - half, floor_y - 0.25 * half, cx + half, floor_y + 0.25 * half),
                fill=(0, 0, 0, int(90 * (1 - 0.6 * lift))),
            )
        for box, spr in zip(boxes, sprites, strict=True):
            cx, cy = (box[v, 0] + box[v, 2]) / 2, (box[v, 1] + box[v, 3]) / 2
            img.paste(spr, (int(round(cx - spr.width / 2)), int(round(cy - spr.height / 2))), spr)
        out.append(np.asarray(img))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def soundtrack(
    balls: list[Ball], found: list[list[Hit]], room: str, size: int, seconds: float, sample_rate: int
) -> tuple[torch.Tensor, list[float], list[float]]:
    """The true soundtrack: a modal impact at every hit, each ball panned by its mean hit position and
    scaled by its size, mixed in the scene's room. Returns ``(audio (2, L), pans, gains_db)``."""
    length = int(round(seconds * sample_rate))
    tracks, pans, gains = [], [], []
    for ball, hs in zip(balls, found, strict=True):
        tracks.append(
            modal.impact_track(
                [h.time for h in hs],
                [h.speed for h in hs],
                ball.material,
                modal_size(ball.radius, size),
                length,
                sample_rate=sample_rate,
                seed=ball.seed,
            )
        )
        x = float(np.mean([h.x for h in hs])) if hs else ball.x0
        pans.append(float(mixdown.pan_from_x(x / size)))
        gains.append(float(mixdown.distance_gain(math.pi * ball.radius**2 / size**2)))
    mix = mixdown.mixdown(torch.stack(tracks), torch.tensor(pans), torch.tensor(gains), room, sample_rate)
    return mix.audio, pans, gains


def modal_size(radius: float, frame_height: int) -> float:
    """Modal size of a ball of ``radius`` pixels: 1 when its diameter is SIZE_UNIT of the frame height."""
    return 2 * radius / (SIZE_UNIT * frame_height)


def make_clip(cfg: BounceConfig, index: int) -> Clip:
    """Render clip ``index`` of a build in memory (a pure function of ``cfg.seed`` and ``index``)."""
    rng = np.random.default_rng([cfg.seed, index])
    size = cfg.size
    scene = str(rng.choice(list(SCENES)))
    floor_y = int(rng.uniform(0.8, 0.9) * size)
    gravity = float(rng.uniform(1.8, 2.6) * size)  # px/s^2
    reference = math.sqrt(2 * gravity * REFERENCE_DROP * size)
    count = int(rng.integers(1, cfg.max_balls + 1))
    lanes = [(0.0, float(size))] if count == 1 else [(0.0, size / 2), (size / 2, float(size))]
    background = scene_background(scene, rng, size, floor_y)
    balls = [
        _ball(rng, lane, floor_y, background, gravity, seed=cfg.seed * 1000 + index * 10 + i)
        for i, lane in enumerate(lanes)
    ]
    times = np.arange(int(round(cfg.seconds * cfg.fps))) / cfg.fps
    found = [hits(b, gravity, cfg.seconds, reference) for b in balls]
    boxes = [
        _boxes(b, height(b, gravity, f, times), times, floor_y) for b, f in zip(balls, found, strict=True)
    ]
    frames = render_frames(background, balls, boxes, rng, floor_y)
    audio, pans, gains = soundtrack(balls, found, SCENES[scene], size, cfg.seconds, cfg.sample_rate)
    sides = ["center"] if count == 1 else ["left", "right"]
    objects = [
        _object_entry(b, f, bx, side, pan, gain, size)
        for b, f, bx, side, pan, gain in zip(balls, found, boxes, sides, pans, gains, strict=True)
    ]
    sidecar = {
        "kind": "bounce",
        "silent": True,
        "split": cfg.split,
        "seed": [cfg.seed, index],
        "fps": cfg.fps,
        "seconds": cfg.seconds,
        "width": size,
        "height": size,
        "sample_rate": cfg.sample_rate,
        "scene": scene,
        "room": SCENES[scene],
        "floor_y": floor_y,
        "gravity": round(gravity, 3),
        "categories": [b.material for b in balls],
        "category": balls[0].material if count == 1 else None,
        "onsets": sorted(round(h.time, 6) for f in found for h in f),
        "objects": objects,
    }
    return Clip(frames, audio, sidecar)


def _object_entry(
    ball: Ball, found: list[Hit], boxes: np.ndarray, side: str, pan: float, gain: float, size: int
) -> dict:
    return {
        "category": ball.material,
        "material": ball.material,
        "side": side,
        "radius": round(ball.radius, 3),
        "size": round(modal_size(ball.radius, size), 4),
        "restitution": round(ball.restitution, 4),
        "colour": [round(c, 4) for c in ball.colour],
        "onsets": [round(h.time, 6) for h in found],
        "speeds": [round(h.speed, 4) for h in found],
        "hits": [
            {
                "time": round(h.time, 6),
                "speed": round(h.speed, 4),
                "speed_px": round(h.speed_px, 2),
                "x": round(h.x, 2),
            }
            for h in found
        ],
        "boxes": np.round(boxes, 2).tolist(),
        "pan": round(pan, 4),
        "gain_db": round(gain, 3),
        "seed": ball.seed,
    }


# ----------------------------------------------------------------------------------------------- the build


def build_bounce(
    out_dir: str | Path,
    clips: int,
    seed: int = 0,
    *,
    seconds: float = 4.0,
    fps: float = 25.0,
    size: int = 224,
    sample_rate: int = 44100,
    max_balls: int = 2,
    split: str = "test",
) -> Path:
    """Write ``clips`` bouncing-ball clips, their sidecars and true soundtracks, and an index.

    Args:
        out_dir: output folder (created).
        clips: number of clips.
        seed: master seed (same seed, same clips).
        seconds, fps, size: clip length, frame rate and frame side in pixels.
        sample_rate: rate of the true soundtracks.
        max_balls: 1 or 2 balls per clip.
        split: split name in the index records.

    Returns:
        Path of the index (``out_dir/bounce_<split>.jsonl``).
    """
    if clips < 1 or max_balls not in (1, 2) or seconds <= 0 or fps <= 0 or size < 32:
        raise ValueError(
            f"bounce: need clips >= 1, max_balls 1 or 2, seconds, fps > 0 and size >= 32 "
            f"(got {clips}, {max_balls}, {seconds}, {fps}, {size})"
        )
    cfg = BounceConfig(Path(out_dir), clips, seed, seconds, fps, size, sample_rate, max_balls, split)
    folder = cfg.out / "bounce"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    threads = torch.get_num_threads()
    for i in tqdm(range(clips), desc="bounce", unit="clip", disable=clips < 4):
        torch.set_num_threads(1)  # small tensors: one thread is faster, and much faster on a busy machine
        try:
            clip = make_clip(cfg, i)
        finally:
            torch.set_num_threads(threads)
        stem = f"{i:05d}_{'+'.join(clip.sidecar['categories'])}"
        io.write_video(folder / f"{stem}.mp4", clip.frames, fps)
        io.write_audio(folder / f"{stem}.wav", clip.audio, sample_rate)
        side = {**clip.sidecar, "video": f"{stem}.mp4", "soundtrack": f"{stem}.wav"}
        (folder / f"{stem}.json").write_text(json.dumps(side, separators=(",", ":")))
        info = io.probe(folder / f"{stem}.mp4")
        record = {
            "path": str((folder / f"{stem}.mp4").resolve()),
            **{k: getattr(info, k) for k in INDEX_KEYS},
        }
        record.update(
            category=side["category"],
            split=split,
            kind="bounce",
            silent=True,
            categories=side["categories"],
            room=side["room"],
            sidecar=f"bounce/{stem}.json",
            soundtrack=f"bounce/{stem}.wav",
        )
        records.append(record)
    index = cfg.out / f"bounce_{split}.jsonl"
    write_index(index, records)
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `pixelsound data bounce` (call on the `bounce` sub-parser of `pixelsound data`)."""
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--clips", type=int, default=100, help="number of clips (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=4.0, help="clip length (default 4)")
    parser.add_argument("--fps", type=float, default=25.0, help="video frame rate (default 25)")
    parser.add_argument("--size", type=int, default=224, help="frame height and width (default 224)")
    parser.add_argument("--sample-rate", type=int, default=44100, help="soundtrack rate (default 44100)")
    parser.add_argument("--max-balls", type=int, default=2, choices=(1, 2), help="balls per clip (default 2)")
    parser.add_argument("--split", default="test", help="split name in the index (default test)")


def run(args: argparse.Namespace) -> int:
    index = build_bounce(
        args.out,
        args.clips,
        args.seed,
        seconds=args.seconds,
        fps=args.fps,
        size=args.size,
        sample_rate=args.sample_rate,
        max_balls=args.max_balls,
        split=args.split,
    )
    log.info("wrote %d bouncing-ball clips; index %s", args.clips, index)
    return 0
