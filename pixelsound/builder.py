"""`pixelsound data instruments`: a MUSIC-like data set from real material installed from the registries.

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
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pixelsound import backgrounds, instruments, pictures
from pixelsound.instruments import CATEGORIES, Instrument, SynthError
from pixelsound.pictures import HELD_OUT_STYLES, TRAIN_STYLES, PictureError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "test_style", "duet_test", "silent_test")
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
        val_fraction: share of the remaining solos in val (and as many in test).
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

    def __post_init__(self):
        bad_size = self.size < 32 or self.size % 2 == 1  # h264 (yuv420p) needs even sizes
        if self.clips < 1 or bad_size or self.fps <= 0 or self.seconds <= 0.5 or self.sample_rate < 11025:
            raise ValueError(
                "need clips >= 1, an even size >= 32, fps > 0, seconds > 0.5, sample_rate >= 11025; got "
                f"clips={self.clips} size={self.size} fps={self.fps} seconds={self.seconds} "
                f"sample_rate={self.sample_rate}"
            )


@dataclass(frozen=True)
class ClipPlan:
    """What one clip is: its number, kind, split, drawing style and instrument classes (left to right)."""

    index: int
    kind: str  # "solo" or "duet"
    silent: bool
    split: str
    style: str
    categories: tuple[str, ...]

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


def _share(n: int, fraction: float) -> int:
    """round(n * fraction), but at least 1 when the fraction is positive and n is not tiny."""
    k = round(n * fraction)
    return max(k, 1) if fraction > 0 and n >= 6 else k


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


def plan_clips(cfg: BuildConfig, categories: tuple[str, ...] = CATEGORIES) -> list[ClipPlan]:
    """Decide every clip's kind, split, style and classes (deterministic for cfg.seed and cfg.clips).

    Solos: train / val / test in the training styles, test_style in the held-out styles. Duets (duet_test) and
    silent clips (silent_test, half solos and half duets) use the training styles.
    """
    rng = np.random.default_rng([cfg.seed, 0x5EED])
    n_duet, n_silent = _share(cfg.clips, cfg.duet_fraction), _share(cfg.clips, cfg.silent_fraction)
    n_solo = cfg.clips - n_duet - n_silent
    n_style = _share(n_solo, cfg.style_fraction)
    n_val = n_test = _share(n_solo - n_style, cfg.val_fraction)
    counts = {"train": n_solo - n_style - n_val - n_test, "val": n_val, "test": n_test, "test_style": n_style}
    rows: list[tuple[str, bool, str, str, tuple[str, ...]]] = []
    for split, k in counts.items():
        styles = HELD_OUT_STYLES if split == "test_style" else TRAIN_STYLES
        for cat, style in zip(_balanced(rng, categories, k), _balanced(rng, styles, k), strict=True):
            rows.append(("solo", False, split, style, (cat,)))
    for pair, style in zip(
        _pairs(rng, categories, n_duet), _balanced(rng, TRAIN_STYLES, n_duet), strict=True
    ):
        rows.append(("duet", False, "duet_test", style, pair))
    n_silent_duet = n_silent // 2
    silent_cats = [(c,) for c in _balanced(rng, categories, n_silent - n_silent_duet)]
    silent_cats += _pairs(rng, categories, n_silent_duet)
    for cats, style in zip(silent_cats, _balanced(rng, TRAIN_STYLES, n_silent), strict=True):
        rows.append(("duet" if len(cats) == 2 else "solo", True, "silent_test", style, tuple(cats)))
    order = rng.permutation(len(rows))
    return [ClipPlan(int(i), *rows[j]) for i, j in enumerate(order)]


# ----------------------------------------------------------------------------------------------- one clip

_RENDERERS: dict[tuple[str, int], instruments.Renderer] = {}


def _renderer(cfg: BuildConfig) -> instruments.Renderer:
    """This process's synthesizer for the build's soundfont and rate (loaded once per process)."""
    key = (str(cfg.soundfont or instruments.SOUNDFONT), cfg.sample_rate)
    if key not in _RENDERERS:
        _RENDERERS[key] = instruments.Renderer(key[0], cfg.sample_rate)
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
    places: list[pictures.Placement]
    background: str


def _strengths(notes: list[instruments.Note]) -> tuple[list[float], list[float]]:
    """Onset times and pulse strengths (from the loudest note at each onset)."""
    loudest: dict[float, int] = {}
    for n in notes:
        key = round(n.onset, 6)
        loudest[key] = max(loudest.get(key, 0), n.velocity)
    times = sorted(loudest)
    return times, [float(np.clip(0.45 + 0.55 * (loudest[t] - 30) / 97, 0.3, 1.0)) for t in times]


def _audio(plan: ClipPlan, cfg: BuildConfig, rng: np.random.Generator):
    """Notes and dry, level-matched stems (N, L) of a clip's instruments."""
    insts = [instruments.instrument(c) for c in plan.categories]
    notes = [instruments.notes_for(i, rng, cfg.seconds, cfg.sample_rate) for i in insts]
    stems = np.stack(
        [
            instruments.normalize(_renderer(cfg).render(i, n, cfg.seconds))
            for i, n in zip(insts, notes, strict=True)
        ]
    )
    peak = float(np.abs(stems.sum(0)).max())
    if peak > 0.95:  # keep the mixture (the sum of the stems) unclipped
        stems *= 0.95 / peak
    return insts, notes, stems


def _pictures(plan: ClipPlan, cfg: BuildConfig, rng: np.random.Generator, insts, notes):
    """Background, placements and frames of a clip whose notes are known."""
    h = w = cfg.size
    bg, kind = backgrounds.background(rng, h, w)
    if plan.kind == "solo":
        regions, size_range = [(0, 0, w, h)], (0.45, 0.75)
    else:
        regions, size_range = [(0, 0, w // 2, h), (w // 2, 0, w, h)], (0.65, 0.95)
    places = [pictures.place(rng, r, size_range) for r in regions]
    px = 256 if cfg.size <= 320 else 512
    sprites = [pictures.jitter(pictures.sprite(plan.style, i.emoji, i.fluent, px), rng) for i in insts]
    bg = pictures.ensure_contrast(bg, sprites)
    times = np.arange(round(cfg.seconds * cfg.fps)) / cfg.fps
    moves = [pictures.pulses(*_strengths(n), times, lead=0.5 / cfg.fps) for n in notes]
    env, sign = np.stack([m[0] for m in moves]), np.stack([m[1] for m in moves])
    frames, masks, boxes = pictures.draw_frames(bg, sprites, places, env, sign)
    return frames, masks, boxes, env, places, kind


def draw_clip(plan: ClipPlan, cfg: BuildConfig) -> _Clip:
    """Render one clip in memory (audio first, then pictures, from the clip's own generator)."""
    rng = np.random.default_rng([cfg.seed, plan.index])
    insts, notes, stems = _audio(plan, cfg, rng)
    frames, masks, boxes, env, places, kind = _pictures(plan, cfg, rng, insts, notes)
    return _Clip(plan, insts, notes, stems, frames, masks, boxes, env, places, kind)


def _tensor(x: np.ndarray):
    """numpy -> torch without a copy (io takes tensors)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


def _write_media(clip: _Clip, cfg: BuildConfig, base: Path) -> dict[str, list[str] | str]:
    """Write the video and the stems, soundtrack and masks a clip needs; returns file names by role."""
    from PIL import Image

    from pixelsound import io

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
        "background": clip.background,
    }  # fmt: skip
    solo = {"category": parts[0]["category"], "program": parts[0]["program"], "onsets": parts[0]["onsets"],
            "boxes": parts[0]["boxes"]} if plan.kind == "solo" else {"category": None}  # fmt: skip
    return {**meta, **solo, **names, "instruments": parts}


def make_clip(plan: ClipPlan, cfg: BuildConfig) -> dict:
    """Render and write one clip; returns its index record (paths relative to cfg.out).

    Raises:
        RuntimeError: naming the clip, when anything fails.
    """
    from pixelsound import io

    try:
        clip = draw_clip(plan, cfg)
        base = Path(cfg.out) / plan.folder / plan.stem
        base.parent.mkdir(parents=True, exist_ok=True)
        names = _write_media(clip, cfg, base)
        side = _sidecar(clip, cfg, names)
        (base.parent / f"{plan.stem}.json").write_text(json.dumps(side, separators=(",", ":")))
        info = io.probe(base.parent / names["video"])
    except (SynthError, PictureError):
        raise
    except Exception as err:
        raise RuntimeError(f"clip {plan.folder}/{plan.stem}: {type(err).__name__}: {err}") from err
    video = str(Path(cfg.out).resolve() / plan.folder / names["video"])  # write_index stores it relative
    record = {"path": video, **{k: getattr(info, k) for k in INDEX_KEYS}}
    record.update(category=side["category"], split=plan.split, style=plan.style, kind=plan.kind)
    record.update(
        silent=plan.silent, categories=list(plan.categories), sidecar=f"{plan.folder}/{plan.stem}.json"
    )
    for key in ("soundtrack", "stems", "masks", "mask_frames"):
        if key in names:
            value = names[key]
            record[key] = (
                [f"{plan.folder}/{v}" for v in value] if isinstance(value, list) else f"{plan.folder}/{value}"
            )
    return record


# ----------------------------------------------------------------------------------------------- the build


def _init_worker() -> None:
    """Worker processes: one thread each for torch (the workers are the parallelism)."""
    import torch

    torch.set_num_threads(1)


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
    """Fail early, with what to install, if the soundfont, FluidSynth or a drawing style is missing."""
    instruments.check_soundfont(cfg.soundfont or instruments.SOUNDFONT)
    pics = [(i.emoji, i.fluent) for i in instruments.INSTRUMENTS]
    pictures.check_styles(TRAIN_STYLES + HELD_OUT_STYLES, pics)


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
    from tqdm import tqdm

    from pixelsound.index import write_index

    check(cfg)
    start = time.monotonic()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_clips(cfg)
    records = list(tqdm(_clips(plans, cfg), total=len(plans), desc="instruments", unit="clip"))
    by_split: dict[str, list[dict]] = {split: [] for split in SPLITS}  # every index, even an empty one
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
        "soundfont": str(cfg.soundfont or instruments.SOUNDFONT),
        "categories": {
            i.name: {"program": i.program, "bank": i.bank, "kind": i.kind} for i in instruments.INSTRUMENTS
        },
        "styles": {"train": list(TRAIN_STYLES), "held_out": list(HELD_OUT_STYLES)},
        "counts": report.counts,
        "solo_clips_per_category": report.per_category,
        "indexes": {k: v.name for k, v in report.indexes.items()},
        "build_seconds": round(report.seconds, 1),
    }
    (Path(cfg.out) / "dataset.json").write_text(json.dumps(manifest, indent=2))


# ----------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`pixelsound data DATASET ...`: instruments (separation) or bounce (Foley impacts)."""
    from pixelsound import bounce

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
    p.add_argument("--soundfont", default=None, help=f"GM soundfont (default {instruments.SOUNDFONT})")
    p.add_argument("--duet-fraction", type=float, default=0.08, help="share of duet clips (default 0.08)")
    p.add_argument("--silent-fraction", type=float, default=0.08, help="share of silent clips (default 0.08)")


def run(args: argparse.Namespace) -> int:
    if args.dataset == "bounce":
        from pixelsound import bounce

        return bounce.run(args)
    try:
        cfg = BuildConfig(
            out=args.out, clips=args.clips, seed=args.seed, workers=args.workers, size=args.size,
            fps=args.fps, seconds=args.seconds, sample_rate=args.sample_rate, soundfont=args.soundfont,
            duet_fraction=args.duet_fraction, silent_fraction=args.silent_fraction,
        )  # fmt: skip
        report = build(cfg)
    except (ValueError, SynthError, PictureError, RuntimeError) as err:
        log.error("%s", err)
        return 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    log.info(
        "wrote %d clips to %s in %.1f s (%s)", sum(report.counts.values()), report.out, report.seconds, counts
    )
    return 0
