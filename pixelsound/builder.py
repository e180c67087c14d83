"""`pixelsound data instruments`: a MUSIC-like data set from real material installed from the registries.

One concern, the instruments data builder: its plan, one clip (audio, pictures, files), the parallel build
and its command line.

Audio: sampled instruments of the FluidR3 GM soundfont (Debian fluid-soundfont-gm) playing random melodies,
rendered offline with FluidSynth. Pictures: the instruments drawn in several emoji styles (pictures.STYLES) on
random backgrounds, moving on every note onset. The OpenMoji styles are kept out of training (split
``test_style``).

Layout of ``--out DIR``::

    solo/00042_violin.mp4 (+ .json sidecar)                  solo clips (train, val, test, test_style)
    duet/00007_flute+drum.mp4 (+ .json, .s0.wav, .s1.wav,    two instruments side by side with clean stems,
         .m0.png, .m1.png, .masks.npz)                       a pixel mask per instrument (union over frames,
                                                             and per frame in the npz)
    silent/00011_piano.mp4 (+ .json, .wav [, stems, masks])   video without audio; its true soundtrack aside
    train.jsonl val.jsonl test.jsonl test_style.jsonl duet_test.jsonl silent_test.jsonl   (pixelsound.index)
    dataset.json                                             build settings, classes, styles, counts, time

Every clip is a pure function of (seed, clip number): the same seed gives the same audio samples whatever the
number of workers.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pixelsound import backgrounds, bounce, instruments, io, patches, pictures, rooms, sampler, staging
from pixelsound.atomic import write_text_atomic
from pixelsound.errors import UserError
from pixelsound.index import write_index
from pixelsound.instruments import CATEGORIES, Instrument, SynthError
from pixelsound.pictures import FAR_STYLES, HELD_OUT_STYLES, PictureError

log = logging.getLogger(__name__)

# a world: where its sound and where its pictures come from ("train" or "far" each). The two half-far worlds
# change one half only, so that a model's far-split figure splits into what its audio and its vision lose.
WORLDS: dict[str, tuple[str, str]] = {
    "train": ("train", "train"),
    "far": ("far", "far"),
    "far_audio": ("far", "train"),  # far sound sources in simulated rooms, training picture libraries
    "far_pictures": ("train", "far"),  # training sound sources, far picture libraries and photographs
}
SPLITS = {
    "train": ("train", "val", "test", "test_style", "duet_test", "silent_test"),
    **{w: (w, f"duet_{w}", f"silent_{w}") for w in WORLDS if w != "train"},
}
INDEX_KEYS = (
    "duration", "fps", "num_frames", "width", "height", "sample_rate", "channels", "has_audio", "has_video",
)  # fmt: skip


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one build (the CLI flags).

    Attributes:
        out: output folder.
        clips: total number of clips (solos, duets and silent clips together).
        seed: master seed; clip i draws from numpy's generator seeded with [seed, i].
        workers: processes rendering clips.
        size: frame height and width (pixels).
        fps: video frame rate.
        seconds: clip length.
        sample_rate: audio rate (AAC in the mp4, PCM in the stems).
        soundfont: path of the GM soundfont (None: instruments.SOUNDFONT).
        duet_fraction: share of clips that are duets (test only).
        silent_fraction: share of clips that are silent (test only; half solos, half duets).
        style_fraction: share of the solos drawn in held-out styles (split test_style).
        val_fraction: share of the remaining solos in val (and as many in test); at least 2 clips each once
            there are 8 solos, so validation mixtures can form at any size.
        world: "train" builds the training world (training sound sources and picture libraries, splits train,
            val, test, test_style, duet_test, silent_test); "far" builds the far split from sources and
            libraries no model trains or is tuned on, recorded in simulated rooms (splits far, duet_far,
            silent_far); "far_audio" and "far_pictures" make only the sound or only the pictures far
            (splits named like far's: far_audio, duet_far_audio, ...).
    """

    out: Path
    clips: int
    seed: int = 0
    workers: int = 2
    size: int = 224
    fps: float = 8.0
    seconds: float = 8.0
    sample_rate: int = 22050
    soundfont: str | None = None
    duet_fraction: float = 0.08
    silent_fraction: float = 0.08
    style_fraction: float = 0.1
    val_fraction: float = 0.1
    world: str = "train"

    def __post_init__(self):
        if self.world not in WORLDS:
            raise ValueError(f"world must be one of {', '.join(WORLDS)}; got {self.world!r}")
        bad_size = self.size < 32 or self.size % 2 == 1  # h264 (yuv420p) needs even sizes
        if self.clips < 1 or bad_size or self.fps <= 0 or self.seconds <= 0.5 or self.sample_rate < 11025:
            raise ValueError(
                "need clips >= 1, an even size >= 32, fps > 0, seconds > 0.5, sample_rate >= 11025; got "
                f"clips={self.clips} size={self.size} fps={self.fps} seconds={self.seconds} "
                f"sample_rate={self.sample_rate}"
            )


@dataclass(frozen=True)
class ClipPlan:
    """What one clip is: its number, kind, split, drawing style, instrument classes (left to right), and the
    sound source that plays them."""

    index: int
    kind: str  # "solo" or "duet"
    silent: bool
    split: str
    style: str
    categories: tuple[str, ...]
    source: str = "fluidr3"

    @property
    def stem(self) -> str:
        return f"{self.index:05d}_{'+'.join(self.categories)}"

    @property
    def folder(self) -> str:
        return "silent" if self.silent else self.kind


@dataclass(frozen=True)
class BuildReport:
    """What a build wrote: index paths, clips per split, and the wall time."""

    out: Path
    indexes: dict[str, Path]
    counts: dict[str, int]
    seconds: float
    per_category: dict[str, int] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- planning


def _share(n: int, fraction: float, least: int = 1) -> int:
    """round(n * fraction), but at least ``least`` when the fraction is positive and n is not tiny."""
    k = round(n * fraction)
    return max(k, least) if fraction > 0 and n >= 6 else k


def _balanced(rng: np.random.Generator, items: tuple[str, ...], k: int) -> list[str]:
    """k items cycling through ``items`` in random order, then shuffled: every item appears k/len times."""
    return [str(x) for x in rng.permutation(np.resize(rng.permutation(np.array(items)), k))] if k else []


def _pairs(rng: np.random.Generator, categories: tuple[str, ...], k: int) -> list[tuple[str, str]]:
    """k pairs of different categories, each category used about equally often."""
    pool = _balanced(rng, categories, 2 * k)
    pairs = []
    for i in range(k):
        a, b = pool[2 * i], pool[2 * i + 1]
        if a == b:
            b = str(rng.choice([c for c in categories if c != a]))
        pairs.append((a, b))
    return pairs


def _sound(cfg: BuildConfig) -> str:
    """Where a build's sound comes from: "train" or "far"."""
    return WORLDS[cfg.world][0]


def _look(cfg: BuildConfig) -> str:
    """Where a build's pictures come from: "train" or "far"."""
    return WORLDS[cfg.world][1]


def _styles(look: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(styles of the solos, val and test; styles of test_style) where pictures come from ``look``."""
    if look == "far":
        return FAR_STYLES, FAR_STYLES
    return pictures.role_styles("train"), HELD_OUT_STYLES


def _fit_style(rng: np.random.Generator, style: str, styles: tuple[str, ...], cats: tuple[str, ...]) -> str:
    """``style`` if it draws every one of ``cats``, else a random style of ``styles`` that does."""
    if all(pictures.covers(style, c) for c in cats):
        return style
    fitting = [s for s in styles if all(pictures.covers(s, c) for c in cats)]
    if not fitting:
        raise PictureError(f"no style among {', '.join(styles)} draws {' and '.join(cats)}")
    return str(rng.choice(fitting))


def _world_sources(cfg: BuildConfig) -> list[str]:
    """The sound sources a build uses: "custom" (the --soundfont override) or those of its world's role."""
    if cfg.soundfont:
        return ["custom"]
    return [n for n, src in instruments.SOURCES.items() if src.role == _sound(cfg)]


def _sources(rng: np.random.Generator, cfg: BuildConfig, k: int) -> list[str]:
    """The sound source of each of k clips: the --soundfont override, the far sources, or the training mix."""
    if cfg.soundfont:
        return ["custom"] * k
    if _sound(cfg) == "far":
        return _balanced(rng, tuple(_world_sources(cfg)), k)
    names = list(instruments.TRAIN_MIX)
    probs = np.array([instruments.TRAIN_MIX[n] for n in names])
    return [str(x) for x in rng.choice(names, size=k, p=probs / probs.sum())]


# what the sources that play only some classes cover (the soundfonts play every class)
_COVERS = {"recorded": sampler.covers, "freepats": patches.covers}


def _playable(source: str, categories: tuple[str, ...]) -> str:
    """The clip's source, or FluidR3 when the source lacks a class (recordings or patches of it)."""
    covers = _COVERS.get(source)
    if covers is not None and not all(covers(c) for c in categories):
        return "fluidr3"
    return source


def _rows(cfg: BuildConfig, rng: np.random.Generator, categories: tuple[str, ...]) -> list[tuple]:
    """(kind, silent, split, style, categories) of every clip, before the sources and the shuffle."""
    n_duet, n_silent = _share(cfg.clips, cfg.duet_fraction), _share(cfg.clips, cfg.silent_fraction)
    n_solo = cfg.clips - n_duet - n_silent
    styles, held_out = _styles(_look(cfg))
    if cfg.world != "train":
        counts, names = {cfg.world: n_solo}, SPLITS[cfg.world][1:]
    else:
        n_style = _share(n_solo, cfg.style_fraction)
        n_val = n_test = _share(n_solo - n_style, cfg.val_fraction, least=2 if n_solo >= 8 else 1)
        counts = {"train": n_solo - n_style - n_val - n_test, "val": n_val, "test": n_test}
        counts["test_style"] = n_style
        names = ("duet_test", "silent_test")
    rows: list[tuple] = []
    for split, k in counts.items():
        pool = held_out if split == "test_style" else styles
        for cat, style in zip(_balanced(rng, categories, k), _balanced(rng, pool, k), strict=True):
            rows.append(("solo", False, split, style, (cat,)))
    for pair, style in zip(_pairs(rng, categories, n_duet), _balanced(rng, styles, n_duet), strict=True):
        rows.append(("duet", False, names[0], style, pair))
    n_silent_duet = n_silent // 2
    silent_cats = [(c,) for c in _balanced(rng, categories, n_silent - n_silent_duet)]
    silent_cats += _pairs(rng, categories, n_silent_duet)
    for cats, style in zip(silent_cats, _balanced(rng, styles, n_silent), strict=True):
        rows.append(("duet" if len(cats) == 2 else "solo", True, names[1], style, tuple(cats)))
    return rows


def plan_clips(cfg: BuildConfig, categories: tuple[str, ...] = CATEGORIES) -> list[ClipPlan]:
    """Decide every clip's kind, split, style, classes and sound source (deterministic for seed and clips).

    Training world: solos in train / val / test in the training styles, test_style in the held-out styles;
    duets (duet_test) and silent clips (silent_test, half solos and half duets) in the training styles. Far
    world: the same kinds in the far styles and sources (far, duet_far, silent_far). A style that lacks an
    instrument's picture is swapped for one of the same role that has it.
    """
    rng = np.random.default_rng([cfg.seed, 0x5EED])
    rows = _rows(cfg, rng, categories)
    pools = {**{s: _styles(_look(cfg))[0] for s in SPLITS[cfg.world]}, "test_style": _styles(_look(cfg))[1]}
    rows = [(k, q, sp, _fit_style(rng, st, pools[sp], cats), cats) for k, q, sp, st, cats in rows]
    sources = _sources(rng, cfg, len(rows))
    order = rng.permutation(len(rows))
    return [ClipPlan(int(i), *rows[j], source=_playable(sources[j], rows[j][4])) for i, j in enumerate(order)]


# ----------------------------------------------------------------------------------------------- one clip

_Player = instruments.Renderer | sampler.Sampler | patches.PatchPlayer
_RENDERERS: dict[tuple[str, int], _Player] = {}
# what plays each kind of source (instruments.Source.kind)
_PLAYERS = {"soundfont": instruments.Renderer, "samples": sampler.Sampler, "patches": patches.PatchPlayer}


def _kind(cfg: BuildConfig, source: str) -> str:
    """A source's kind: "soundfont" with --soundfont, else ``instruments.SOURCES[source].kind``."""
    return "soundfont" if cfg.soundfont else instruments.SOURCES[source].kind


def _source_path(cfg: BuildConfig, source: str) -> str:
    """Where a clip's sound comes from: the --soundfont override, else its soundfont or its sample folder."""
    if cfg.soundfont:
        return str(cfg.soundfont)
    if _kind(cfg, source) == "samples":  # the npm libraries, wherever the assets are
        return str(pictures.assets_dir())
    return str(instruments.SOURCES[source].path)


def _renderer(cfg: BuildConfig, source: str = "fluidr3") -> _Player:
    """This process's synthesizer (or sampler) for a source and the build's rate (loaded once per process)."""
    key = (_source_path(cfg, source), cfg.sample_rate)
    if key not in _RENDERERS:
        _RENDERERS[key] = _PLAYERS[_kind(cfg, source)](key[0], cfg.sample_rate)
    return _RENDERERS[key]


@dataclass
class _Clip:
    """Everything drawn and rendered for one clip, before it is written."""

    plan: ClipPlan
    insts: list[Instrument]
    notes: list[list[instruments.Note]]
    stems: np.ndarray  # (N, L)
    frames: np.ndarray  # (V, H, W, 3)
    masks: np.ndarray  # (N, V, H, W)
    boxes: np.ndarray  # (N, V, 4)
    env: np.ndarray  # (N, V)
    places: list[staging.Placement]
    background: str


def _strengths(notes: list[instruments.Note]) -> tuple[list[float], list[float]]:
    """Onset times and pulse strengths (from the loudest note at each onset)."""
    loudest: dict[float, int] = {}
    for n in notes:
        key = round(n.onset, 6)
        loudest[key] = max(loudest.get(key, 0), n.velocity)
    times = sorted(loudest)
    return times, [float(np.clip(0.45 + 0.55 * (loudest[t] - 30) / 97, 0.3, 1.0)) for t in times]


# how the training and the far world play: share of parts with a second line, with expression, and (training)
# with one of the instrument's related programs; far clips are also recorded in simulated rooms
_PLAYING = {"train": (0.5, 0.8, 0.4), "far": (0.5, 0.8, 0.0)}


def _stem(cfg: BuildConfig, plan: ClipPlan, inst: Instrument, rng: np.random.Generator):
    """Notes and the dry (training world) or recorded (far world) stem of one instrument part."""
    accompany, expressive, variant = _PLAYING[_sound(cfg)]
    notes = instruments.performance(inst, rng, cfg.seconds, cfg.sample_rate, accompany)
    controls = instruments.expression(inst, rng, notes, cfg.seconds) if rng.random() < expressive else ()
    program = int(rng.choice(inst.variants)) if inst.variants and rng.random() < variant else None
    stem = _renderer(cfg, plan.source).render(inst, notes, cfg.seconds, program, controls)
    if _sound(cfg) == "far":
        stem = rooms.colour(stem, rng, cfg.sample_rate, rooms.FAR, simulated=True)
    return notes, instruments.normalize(stem)


def _audio(plan: ClipPlan, cfg: BuildConfig, rng: np.random.Generator):
    """Notes and level-matched stems (N, L) of a clip's instruments."""
    insts = [instruments.instrument(c) for c in plan.categories]
    parts = [_stem(cfg, plan, inst, rng) for inst in insts]
    notes, stems = [p[0] for p in parts], np.stack([p[1] for p in parts])
    peak = float(np.abs(stems.sum(0)).max())
    if peak > 0.95:  # keep the mixture (the sum of the stems) unclipped
        stems *= 0.95 / peak
    return insts, notes, stems


_PHOTOS = {"train": 0.4, "far": 0.6}  # share of clips on a photographic background (else procedural)


def _pictures(plan: ClipPlan, cfg: BuildConfig, rng: np.random.Generator, insts, notes):
    """Background, placements and frames of a clip whose notes are known."""
    h = w = cfg.size
    if rng.random() < _PHOTOS[_look(cfg)]:
        bg, kind = backgrounds.photo(rng, h, w, _look(cfg)), "photo"
    else:
        bg, kind = backgrounds.background(rng, h, w)
    if plan.kind == "solo":
        regions, size_range = [(0, 0, w, h)], (0.45, 0.75)
    else:
        regions, size_range = [(0, 0, w // 2, h), (w // 2, 0, w, h)], (0.65, 0.95)
    places = [staging.place(rng, r, size_range) for r in regions]
    px = 256 if cfg.size <= 320 else 512
    sprites = [pictures.draw_sprite(plan.style, i.name, rng, px) for i in insts]
    bg = staging.ensure_contrast(bg, sprites)
    times = np.arange(round(cfg.seconds * cfg.fps)) / cfg.fps
    moves = [staging.pulses(*_strengths(n), times, lead=0.5 / cfg.fps) for n in notes]
    env, sign = np.stack([m[0] for m in moves]), np.stack([m[1] for m in moves])
    frames, masks, boxes = staging.draw_frames(bg, sprites, places, env, sign)
    return frames, masks, boxes, env, places, kind


def draw_clip(plan: ClipPlan, cfg: BuildConfig) -> _Clip:
    """Render one clip in memory (audio first, then pictures, from the clip's own generator)."""
    rng = np.random.default_rng([cfg.seed, plan.index])
    insts, notes, stems = _audio(plan, cfg, rng)
    frames, masks, boxes, env, places, kind = _pictures(plan, cfg, rng, insts, notes)
    return _Clip(plan, insts, notes, stems, frames, masks, boxes, env, places, kind)


def _tensor(x: np.ndarray):
    """numpy -> torch without a copy (io takes tensors)."""
    return torch.from_numpy(np.ascontiguousarray(x))


def _write_media(clip: _Clip, cfg: BuildConfig, base: Path) -> dict[str, list[str] | str]:
    """Write the video and the stems, soundtrack and masks a clip needs; returns file names by role."""
    plan, sr, folder = clip.plan, cfg.sample_rate, base.parent
    mix = clip.stems.sum(0)[None]  # (1, L)
    frames = _tensor(clip.frames).permute(0, 3, 1, 2)  # (V, 3, H, W)
    names: dict[str, list[str] | str] = {"video": f"{base.name}.mp4"}
    io.write_video(folder / names["video"], frames, cfg.fps, None if plan.silent else _tensor(mix), sr)
    if plan.silent:
        names["soundtrack"] = f"{base.name}.wav"
        io.write_audio(folder / names["soundtrack"], _tensor(mix), sr)
    if plan.kind == "duet":
        names["stems"] = [f"{base.name}.s{i}.wav" for i in range(len(clip.insts))]
        names["masks"] = [f"{base.name}.m{i}.png" for i in range(len(clip.insts))]
        names["mask_frames"] = f"{base.name}.masks.npz"
        for i, stem in enumerate(clip.stems):
            io.write_audio(folder / names["stems"][i], _tensor(stem[None]), sr)
            Image.fromarray(clip.masks[i].any(0).astype(np.uint8) * 255).save(folder / names["masks"][i])
        np.savez_compressed(folder / names["mask_frames"], masks=clip.masks)
    return names


def _sidecar(clip: _Clip, cfg: BuildConfig, names: dict) -> dict:
    """The clip's JSON sidecar: what sounds, where, and when (onsets in seconds, a box per frame)."""
    plan = clip.plan
    parts = []
    for i, (inst, notes) in enumerate(zip(clip.insts, clip.notes, strict=True)):
        part = {
            "category": inst.name,
            "program": inst.program,
            "bank": inst.bank,
            "side": "center" if plan.kind == "solo" else ("left", "right")[i],
            "onsets": [round(t, 6) for t in instruments.melody.onsets(notes)],
            "notes": [[round(n.onset, 6), round(n.duration, 6), n.pitch, n.velocity] for n in notes],
            "boxes": clip.boxes[i].tolist(),
            "pulse": np.round(clip.env[i], 4).tolist(),
            "placement": {k: v for k, v in asdict(clip.places[i]).items() if k != "region"},
            "region": list(clip.places[i].region),
        }
        if "stems" in names:
            part["stem"], part["mask"] = names["stems"][i], names["masks"][i]
        parts.append(part)
    meta = {
        "kind": plan.kind, "silent": plan.silent, "split": plan.split, "style": plan.style,
        "categories": list(plan.categories), "seed": [cfg.seed, plan.index], "fps": cfg.fps,
        "sample_rate": cfg.sample_rate, "seconds": cfg.seconds, "width": cfg.size, "height": cfg.size,
        "background": clip.background, "source": plan.source, "world": cfg.world,
    }  # fmt: skip
    solo = {"category": parts[0]["category"], "program": parts[0]["program"], "onsets": parts[0]["onsets"],
            "boxes": parts[0]["boxes"]} if plan.kind == "solo" else {"category": None}  # fmt: skip
    return {**meta, **solo, **names, "instruments": parts}


def _record(plan: ClipPlan, cfg: BuildConfig, side: dict, info) -> dict:
    """The index record of a written clip (``info``: its probe, or the fields kept in its sidecar)."""
    video = str(Path(cfg.out).resolve() / plan.folder / side["video"])  # write_index stores it relative
    fields = info if isinstance(info, dict) else {k: getattr(info, k) for k in INDEX_KEYS}
    record = {"path": video, **{k: fields[k] for k in INDEX_KEYS}}
    record.update(category=side["category"], split=plan.split, style=plan.style, kind=plan.kind)
    record.update(silent=plan.silent, categories=list(plan.categories), source=plan.source)
    record["sidecar"] = f"{plan.folder}/{plan.stem}.json"
    for key in ("soundtrack", "stems", "masks", "mask_frames"):
        if key in side:
            value = side[key]
            record[key] = (
                [f"{plan.folder}/{v}" for v in value] if isinstance(value, list) else f"{plan.folder}/{value}"
            )
    return record


def _finished(plan: ClipPlan, cfg: BuildConfig) -> dict | None:
    """The record of a clip an earlier, interrupted build already wrote (its sidecar is written last)."""
    sidecar = Path(cfg.out) / plan.folder / f"{plan.stem}.json"
    try:
        side = json.loads(sidecar.read_text())
        same = side["seed"] == [cfg.seed, plan.index] and side.get("source", "fluidr3") == plan.source
        if same and side["style"] == plan.style and (sidecar.parent / side["video"]).stat().st_size > 0:
            return _record(plan, cfg, side, side["probe"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def make_clip(plan: ClipPlan, cfg: BuildConfig) -> dict:
    """Render and write one clip (or reuse it, when a build with the same settings finished it before).

    Returns:
        Its index record (paths relative to cfg.out).

    Raises:
        RuntimeError: naming the clip, when anything fails.
    """
    done = _finished(plan, cfg)
    if done is not None:
        return done
    try:
        clip = draw_clip(plan, cfg)
        base = Path(cfg.out) / plan.folder / plan.stem
        base.parent.mkdir(parents=True, exist_ok=True)
        names = _write_media(clip, cfg, base)
        side = _sidecar(clip, cfg, names)
        info = io.probe(base.parent / names["video"])
        side["probe"] = {k: getattr(info, k) for k in INDEX_KEYS}
        write_text_atomic(json.dumps(side, separators=(",", ":")), base.parent / f"{plan.stem}.json")
    except (SynthError, PictureError):
        raise
    except Exception as err:
        raise RuntimeError(f"clip {plan.folder}/{plan.stem}: {type(err).__name__}: {err}") from err
    return _record(plan, cfg, side, info)


# ----------------------------------------------------------------------------------------------- the build


def _init_worker() -> None:
    """Worker processes: one thread each for torch (the workers are the parallelism); the parent handles
    Ctrl-C (a worker's own traceback would bury the one-line message); SIGTERM, which the pool sends its
    workers when it closes, ends a worker at once. (With the CLI's inherited Python handler, a SIGTERM that
    landed just before an idle worker blocked on the task queue's lock was never handled, and the build hung
    after its last clip.)"""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _clips(plans: list[ClipPlan], cfg: BuildConfig):
    """Yield index records in plan order, rendered by cfg.workers processes (in-process when 1)."""
    if cfg.workers <= 1:
        for plan in plans:
            yield make_clip(plan, cfg)
        return
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(cfg.workers, initializer=_init_worker) as pool:
        yield from pool.imap(_make_clip_star, [(p, cfg) for p in plans], chunksize=1)


def _make_clip_star(args: tuple[ClipPlan, BuildConfig]) -> dict:
    return make_clip(*args)


def check(cfg: BuildConfig) -> None:
    """Fail early, with what to install, if a soundfont, FluidSynth or a drawing style is missing."""
    for source in _world_sources(cfg):
        if _kind(cfg, source) == "soundfont":
            instruments.check_soundfont(_source_path(cfg, source))
        else:
            _PLAYERS[_kind(cfg, source)](_source_path(cfg, source)).check()
    styles = FAR_STYLES if _look(cfg) == "far" else pictures.role_styles("train") + HELD_OUT_STYLES
    pictures.check_styles(styles, [(i.emoji, i.fluent) for i in instruments.INSTRUMENTS])


def build(cfg: BuildConfig) -> BuildReport:
    """Build the instruments data set into cfg.out.

    Args:
        cfg: the build settings.

    Returns:
        BuildReport with the index files written (one per split), clips per split and the wall time.

    Raises:
        SynthError, PictureError: something to install is missing (the message says what).
        RuntimeError: a clip failed (the message names it).
    """
    check(cfg)
    start = time.monotonic()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_clips(cfg)
    records = list(tqdm(_clips(plans, cfg), total=len(plans), desc="instruments", unit="clip"))
    by_split: dict[str, list[dict]] = {split: [] for split in SPLITS[cfg.world]}  # even an empty one
    for record in records:
        by_split[record["split"]].append(record)
    indexes = {split: out / f"{split}.jsonl" for split in by_split}
    for split, recs in by_split.items():
        write_index(indexes[split], recs)
    elapsed = time.monotonic() - start
    counts = {split: len(recs) for split, recs in by_split.items()}
    per_category = dict(Counter(c for r in records if r["kind"] == "solo" for c in r["categories"]))
    report = BuildReport(out, indexes, counts, elapsed, per_category)
    _write_manifest(cfg, report)
    return report


def _write_manifest(cfg: BuildConfig, report: BuildReport) -> None:
    """dataset.json: how the set was built and what it holds."""
    manifest = {
        "builder": "pixelsound data instruments",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()},
        "world": cfg.world,
        "sources": {name: _source_path(cfg, name) for name in _world_sources(cfg)},
        "categories": {
            i.name: {"program": i.program, "bank": i.bank, "kind": i.kind} for i in instruments.INSTRUMENTS
        },
        "styles": {
            "train": list(pictures.role_styles("train")),
            "held_out": list(HELD_OUT_STYLES),
            "far": list(FAR_STYLES),
        },
        "counts": report.counts,
        "solo_clips_per_category": report.per_category,
        "indexes": {k: v.name for k, v in report.indexes.items()},
        "build_seconds": round(report.seconds, 1),
    }
    (Path(cfg.out) / "dataset.json").write_text(json.dumps(manifest, indent=2))


# ----------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`pixelsound data DATASET ...`: instruments (separation) or bounce (Foley impacts)."""
    sub = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    bounce.add_arguments(sub.add_parser("bounce", help="silent bouncing-ball clips with exact impact times"))
    p = sub.add_parser(
        "instruments", help="MUSIC-like clips: FluidR3 instruments drawn in several emoji styles"
    )
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--clips", type=int, default=1000, help="number of clips (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--size", type=int, default=224, help="frame height and width (default 224)")
    p.add_argument("--fps", type=float, default=8.0, help="video frame rate (default 8)")
    p.add_argument("--seconds", type=float, default=8.0, help="clip length (default 8)")
    p.add_argument("--sample-rate", type=int, default=22050, help="audio rate (default 22050)")
    p.add_argument(
        "--world",
        choices=WORLDS,
        default="train",
        help="train: training sources and libraries (default); far: the far split, from sound sources and "
        "picture libraries no model trains on, recorded in simulated rooms; far_audio / far_pictures: only "
        "its sound / only its pictures far (which half a model fails on)",
    )
    p.add_argument("--soundfont", default=None, help="one GM soundfont for every clip instead of the world's")
    p.add_argument("--duet-fraction", type=float, default=0.08, help="share of duet clips (default 0.08)")
    p.add_argument("--silent-fraction", type=float, default=0.08, help="share of silent clips (default 0.08)")


def run(args: argparse.Namespace) -> int:
    if args.dataset == "bounce":
        return bounce.run(args)
    cfg = BuildConfig(
        out=args.out, clips=args.clips, seed=args.seed, workers=args.workers, size=args.size,
        fps=args.fps, seconds=args.seconds, sample_rate=args.sample_rate, soundfont=args.soundfont,
        duet_fraction=args.duet_fraction, silent_fraction=args.silent_fraction, world=args.world,
    )  # fmt: skip
    try:
        report = build(cfg)
    except RuntimeError as err:  # a clip failed (in a worker): the message names the clip and the reason
        raise UserError(str(err)) from err
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    log.info(
        "wrote %d clips to %s in %.1f s (%s)", sum(report.counts.values()), report.out, report.seconds, counts
    )
    return 0
