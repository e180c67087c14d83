"""`pixelsound adapt VIDEOS --out NEW_MODEL`: fine-tune a released model on a folder of your own videos.

One concern, adapting a release to the user's videos: its steps, its before/after report and the verb.

No labels are needed: the clips are mixed and separated again, as in training. :func:`adapt` reads as its
steps:

1. clips: index the folder (bad files are reported and skipped, as ``pixelsound index`` does) or read an
   index; clips shorter than the model's window are skipped too;
2. hold back about a fifth of the videos (at least two) for validation, the rest are trained on;
3. measure the starting model on fixed 2-mixes of the held-back clips ("before");
4. train by mix-and-separate from the release's weights (:func:`pixelsound.train.train` with ``init``, so
   torchrun, exact resume and the progress bar come with it) with :data:`ADAPT_TRAIN`'s defaults for a few
   dozen clips, for ``--minutes``; clips of one video are never mixed together, nor clips of one category
   when the clips have categories;
5. release the weights with the best held-back SDR (early stopping by model selection; the starting weights
   when no step beat them), with category prototypes recomputed on the clips when they have categories and
   the starting model's kept otherwise;
6. report: held-back SDR before and after, and the curve.

Files in ``OUT``::

    model.safetensors, config.json   the adapted release: every verb accepts ``--model OUT``
    report.md, report.json           held-back 2-mix SDR before / after, clips used and rejected, time
    curve.png                        held-back SDR over training minutes
    adapt/                           the run: index.jsonl (+ .rejects.jsonl), train.jsonl, held_back.jsonl,
                                     before.json, cache/, last.pt, best/, log.csv (``--resume`` continues it)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from pixelsound import distrib
from pixelsound.atomic import write_text_atomic
from pixelsound.checkpoint import (
    BUNDLED_MODEL,
    load_release,
    release_prototypes,
    write_release,
)
from pixelsound.config import Config, add_overrides_argument, apply_overrides, from_dict, replace
from pixelsound.errors import UserError
from pixelsound.index import (
    CATEGORY_SOURCES,
    IndexFileError,
    read_index,
    rejects_file,
    scan,
    summary,
    video_key,
    write_index,
)
from pixelsound.io import WINDOW_TOLERANCE
from pixelsound.objects import prototypes_from_index
from pixelsound.plots import line_chart, save_png
from pixelsound.train import build_datasets, pick_device, train
from pixelsound.validation import validate, validation_batches

log = logging.getLogger(__name__)

BUNDLED = BUNDLED_MODEL
RUN = "adapt"
# the training settings adapting starts from (``--set train.KEY=VALUE`` changes any of them): the release's
# own optimizer and views; all parts at 1e-4, constant after a warm-up (constant so a budget in minutes, whose
# step count is unknown, works; benchmarks/results/adapt_explore.md and adapt.md, v7 on the far source, 40
# clips: 1e-4 gains +0.7 / +1.0 dB in 630 / 1950 steps, 3e-4 +0.9 / +0.9 dB forgetting 0.3 dB more of the
# training world; 1e-3, or training only the frame net or only the rest, gains less and forgets 2-2.5 dB);
# validation on the held-back clips every 50 steps; the budget ends the run. To train only some parts, give
# the others a rate of 0 (e.g. ``train.lr_rest=0`` keeps the audio net and the synthesizer as they are).
VALIDATE_EVERY = 50  # steps between validations on the held-back clips (an adapting "epoch")
ADAPT_TRAIN: dict[str, Any] = {
    "optimizer": "adam",
    "lr_frame": 1e-4,
    "lr_rest": 1e-4,
    "weight_decay": 0.0,
    "schedule": "constant",
    "warmup_steps": 100,
    "grad_clip": 1.0,
    "epochs": 2000,  # 100k steps: the time budget ends the run first
    "steps_per_epoch": VALIDATE_EVERY,
    "save_every": 50,
    "val_mixes": 48,
    "log_every": 10,
    "augment": True,
}
PROTOTYPE_CLIPS = 40  # clips per category averaged into its prototype


class AdaptError(UserError, RuntimeError):
    """Adapting cannot start or finish; the message says why."""


@dataclass(frozen=True)
class AdaptOptions:
    """What ``pixelsound adapt`` is asked to do (the CLI flags).

    Attributes:
        model: the release to start from (default: the bundled model).
        minutes: training time budget (validation included; indexing and the reports are not); 0: none.
        steps: training budget in optimizer steps, rounded up to whole validation intervals
            (:data:`VALIDATE_EVERY`); 0: none. The run ends at whichever budget comes first; a budget in
            steps repeats on any machine, one in minutes depends on how busy the machine is.
        held_back: share of the videos held back for validation (at least two videos).
        category_from: where categories come from when a folder is indexed: ``"sidecar"``, ``"folder"`` or
            ``"none"``; with ``"none"`` an index's categories are ignored too.
        overrides: ``section.key=value`` strings applied after the adapting defaults.
        resume: continue ``OUT/adapt/last.pt``.
    """

    model: str | Path = BUNDLED
    minutes: float = 10.0
    steps: int = 0
    held_back: float = 0.2
    category_from: str = "sidecar"
    overrides: tuple[str, ...] = ()
    resume: bool = False


@dataclass(frozen=True)
class AdaptResult:
    """What an adaptation did.

    Attributes:
        out: the release folder (also holding the reports).
        before_sdr, after_sdr: mean SDR (dB) of the held-back 2-mixes, starting and released model.
        mixture_sdr: the same for the mixture itself (no separation).
        adapted: whether the released weights are the adapted ones (False: no step beat the starting model).
        steps, minutes: optimizer steps and training minutes.
        train_clips, held_back_clips: clips trained on and held back; rejected: files skipped, with reasons.
        categories: the clips' categories (empty without).
        stopped: ``"done"``, ``"time"`` (the budget) or ``"signal"`` (SIGTERM / Ctrl-C: ``--resume`` goes on).
        signal: the signal that stopped it, else 0.
    """

    out: Path
    before_sdr: float
    after_sdr: float
    mixture_sdr: float
    adapted: bool
    steps: int
    minutes: float
    train_clips: int
    held_back_clips: int
    rejected: list[dict[str, str]]
    categories: list[str]
    stopped: str
    signal: int = 0


# ------------------------------------------------------------------------------------------------ clips


def gather_clips(
    source: str | Path, category_from: str, window: float, progress: bool = True
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The usable clips of a folder (indexed now) or an index file, and the rejected files with reasons.

    Args:
        source: a folder searched recursively for videos, or a JSON-lines index.
        category_from: see :class:`AdaptOptions`.
        window: the model's window in seconds; shorter clips are rejected.
        progress: show a progress bar while indexing.

    Raises:
        AdaptError: the source is missing or an unreadable index.
    """
    source = Path(source)
    if category_from not in CATEGORY_SOURCES:
        raise AdaptError(f"category source {category_from!r} (known: {', '.join(CATEGORY_SOURCES)})")
    if source.is_dir():
        records, rejects = scan(source, category_from=category_from, progress=progress)
    elif source.is_file():
        try:
            records, rejects = read_index(source), []
        except IndexFileError as err:
            raise AdaptError(str(err)) from None
    else:
        raise AdaptError(f"{source}: no such folder or index file")
    kept = []
    for r in records:
        if r.get("kind", "solo") != "solo" or not r.get("has_audio", True) or not r.get("has_video", True):
            rejects.append({"path": r["path"], "reason": "not a solo clip with audio and video"})
        elif float(r.get("duration", 0.0)) + WINDOW_TOLERANCE < window:
            rejects.append({"path": r["path"], "reason": f"shorter than the model's {window:.2f} s window"})
        else:
            kept.append({**r, "category": r.get("category") if category_from != "none" else None})
    return kept, rejects


def hold_back(records: list[dict[str, Any]], share: float) -> tuple[list[dict], list[dict]]:
    """Split clips by video into (train, held back): ``round(share x videos)`` videos held back, at least 2.

    Which videos are held back is a pure function of their keys (:func:`pixelsound.index.video_key`, ordered
    by a hash), so a resumed run holds back the same ones.

    Raises:
        AdaptError: fewer than 4 videos (2 to train on, 2 to mix for validation).
    """
    videos = sorted({str(r.get("video") or video_key(r)) for r in records})
    if len(videos) < 4:
        raise AdaptError(
            f"{len(videos)} usable videos: adapting needs at least 4 (2 to train on, 2 held back)"
        )
    order = sorted(videos, key=lambda v: hashlib.sha1(v.encode()).hexdigest())
    count = min(len(videos) - 2, max(2, round(share * len(videos))))
    held = set(order[:count])
    train_part = [r for r in records if str(r.get("video") or video_key(r)) not in held]
    return train_part, [r for r in records if str(r.get("video") or video_key(r)) in held]


def write_clips(work: Path, records: list[dict], rejects: list[dict], train_part: list, held: list) -> None:
    """``index.jsonl`` (+ ``index.rejects.jsonl``), ``train.jsonl`` and ``held_back.jsonl`` in ``work``."""
    write_index(work / "index.jsonl", records)
    write_index(work / "train.jsonl", train_part)
    write_index(work / "held_back.jsonl", held)
    rejects_path = rejects_file(work / "index.jsonl")
    if rejects:
        write_text_atomic("".join(json.dumps(r) + "\n" for r in rejects), rejects_path)
    else:
        rejects_path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ config


def adapt_config(
    base: Config, work: Path, minutes: float, overrides: tuple[str, ...] = (), steps: int = 0
) -> Config:
    """The release's audio / frames / model settings with the adapting data and training defaults.

    Args:
        base: the starting release's config.
        work: the run folder (indexes, cache, checkpoints).
        minutes: the time budget (``train.max_minutes``; 0: none).
        steps: the budget in steps, as ``train.epochs`` of ``train.steps_per_epoch`` steps (0: none).
        overrides: ``section.key=value`` strings, applied last.
    """
    data = base.to_dict()
    data["model"]["frame_weights"] = ""
    data["data"].update(
        train_index=str(work / "train.jsonl"),
        val_index=str(work / "held_back.jsonl"),
        monitor_index="",  # the release's own training monitor is not the user's material
        cache_dir=str(work / "cache"),
        memory_items=max(1000, base.data.memory_items),
        workers=0,
        # the release's timbre variation is not inherited: adapting v13 on 40 far clips for 10 minutes gained
        # the same on the source's other videos with and without it (7.09 dB both) and forgot 0.37 dB more of
        # the training world with it (benchmarks/RESULTS.md, issue 13); --set data.timbre=... turns it on
        timbre=0.0,
    )
    data["train"].update(ADAPT_TRAIN, out_dir=str(work), max_minutes=float(minutes))
    cfg = from_dict(apply_overrides(data, list(overrides)), where="adapt")
    if steps > 0:  # whole validation intervals ("epochs"), of the length an override may have set
        cfg = replace(cfg, train={"epochs": math.ceil(steps / max(1, cfg.train.steps_per_epoch))})
    return cfg


# ------------------------------------------------------------------------------------------------ steps


def held_back_sdr(model: torch.nn.Module, cfg: Config) -> tuple[float, float]:
    """Mean SDR (dB) of the model and of the mixture on the fixed held-back mixtures training validates on."""
    _, val_set = build_datasets(cfg)
    device = pick_device(cfg.train.device)
    return validate(model.to(device), validation_batches(val_set, cfg), device)


def measure_before(model_path: Path, cfg: Config, work: Path, resume: bool) -> dict[str, float]:
    """The starting model's held-back SDR, kept in ``work/before.json`` (a resumed run reads it back)."""
    path = work / "before.json"
    if resume and path.is_file():
        return json.loads(path.read_text())
    model, _ = load_release(model_path)
    sdr, mix = held_back_sdr(model, cfg)
    before = {"sdr": sdr, "mixture_sdr": mix}
    write_text_atomic(json.dumps(before) + "\n", path)
    log.info("held-back 2-mixes before adapting: %.2f dB (mixture %.2f dB)", sdr, mix)
    return before


def category_prototypes(work: Path, model: torch.nn.Module, start: Path) -> dict[str, list[float]] | None:
    """Prototypes recomputed on the clips when they have categories, else the starting release's (or None)."""
    records = read_index(work / "index.jsonl")
    if any(r.get("category") for r in records):
        found = prototypes_from_index(work / "index.jsonl", model.eval(), per_category=PROTOTYPE_CLIPS)
    else:
        found = release_prototypes(start) or {}
    return {name: [round(float(x), 5) for x in v] for name, v in sorted(found.items())} or None


def read_curve(log_csv: Path) -> list[tuple[float, int, float, float]]:
    """(minutes, step, held-back SDR, mixture SDR) of every validation in a run's ``log.csv``."""
    if not log_csv.is_file():
        return []
    with log_csv.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_sdr")]
    return [(float(r["minutes"]), int(r["step"]), float(r["val_sdr"]), float(r["val_sdr_mix"])) for r in rows]


def release(
    out: Path, start: Path, cfg: Config, before: dict[str, float], best: Path | None, best_sdr: float
) -> tuple[bool, float]:
    """Write the release into ``out``: the adapted weights when they beat the starting ones on the held-back
    mixtures, else the starting weights. Returns ``(adapted, its held-back SDR)``."""
    adapted = best is not None and math.isfinite(best_sdr) and best_sdr > before["sdr"]
    model, _ = load_release(best if adapted else start)
    info = {
        "adapted_from": str(start),
        "held_back_sdr_before": before["sdr"],
        "held_back_sdr": best_sdr if adapted else before["sdr"],
        "held_back_sdr_mixture": before["mixture_sdr"],
        "adapted": adapted,
    }
    prototypes = category_prototypes(Path(cfg.train.out_dir), model, start)
    if prototypes:
        info["prototypes"] = prototypes
    write_release(out, model, cfg, info)
    return adapted, info["held_back_sdr"]


def write_report(result: AdaptResult, start: Path, curve: list[tuple[float, int, float, float]]) -> None:
    """``report.json``, ``report.md`` and ``curve.png`` in the release folder."""
    out, r = result.out, result
    cpu = torch.backends.cpu.get_cpu_capability()
    record = {**asdict(r), "out": str(r.out), "started_from": str(start), "cpu_capability": cpu}
    record["curve"] = [{"minutes": m, "step": s, "sdr": v, "mixture_sdr": x} for m, s, v, x in curve]
    write_text_atomic(json.dumps(record, indent=2) + "\n", out / "report.json")
    points = [(0.0, r.before_sdr)] + [(m, v) for m, _, v, _ in curve]
    chart = line_chart(
        {"model": points, "mixture": [(0.0, r.mixture_sdr), (points[-1][0], r.mixture_sdr)]},
        title="held-back 2-mix SDR (dB)",
        x_label="training minutes",
    )
    save_png(chart, out / "curve.png")
    kept = "adapted weights" if r.adapted else "starting weights (no step beat them on the held-back clips)"
    lines = [
        "# Adaptation report",
        "",
        f"Started from `{start}`; {r.train_clips} clips trained on, {r.held_back_clips} held back (other "
        f"videos); {len(r.rejected)} files skipped (`adapt/index.rejects.jsonl`).",
        f"Categories: {', '.join(r.categories) or 'none (clips of one video are never mixed together)'}.",
        f"Trained {r.minutes:.1f} minutes, {r.steps} steps (CPU capability {cpu}); released: {kept}.",
        "",
        "| held-back 2-mixes | SDR (dB) |",
        "|---|---|",
        f"| mixture (no separation) | {r.mixture_sdr:.2f} |",
        f"| before (starting model) | {r.before_sdr:.2f} |",
        f"| after (released model) | {r.after_sdr:.2f} |",
        "",
        "![held-back SDR over training minutes](curve.png)",
    ]
    write_text_atomic("\n".join(lines) + "\n", out / "report.md")


def adapt(videos: str | Path, out: str | Path, options: AdaptOptions = AdaptOptions()) -> AdaptResult | None:
    """Fine-tune a release on a folder of videos (or an index) and release the result; see the module doc.

    Args:
        videos: a folder of videos (indexed now) or a JSON-lines index.
        out: the new release's folder (``--model OUT`` for every verb), with the reports and the run.
        options: see :class:`AdaptOptions`.

    Returns:
        :class:`AdaptResult` on the main process; None on the other processes of a torchrun.

    Raises:
        AdaptError, TrainError: too few usable clips, or a run in ``out`` without ``resume``.
        CheckpointError, ConfigError: the starting release or an override is wrong.
    """
    out, start = Path(out), Path(options.model)
    work = out / RUN
    budget_ok = options.minutes >= 0 and options.steps >= 0 and (options.minutes > 0 or options.steps > 0)
    if not budget_ok or not 0 < options.held_back < 1:
        raise AdaptError(
            "--minutes and --steps must be >= 0 (one of them > 0) and --held-back in (0, 1); got "
            f"{options.minutes}, {options.steps}, {options.held_back}"
        )
    _, base_cfg = load_release(start)
    cfg = adapt_config(base_cfg, work, options.minutes, options.overrides, options.steps)
    if (work / "last.pt").exists() and not options.resume:
        raise AdaptError(
            f"{work / 'last.pt'} exists: pass --resume to continue that run, or choose another --out"
        )
    info = distrib.init(pick_device(cfg.train.device).type)
    window = cfg.audio.length / cfg.audio.sample_rate
    records, rejects = gather_clips(videos, options.category_from, window, progress=info.is_main)
    train_part, held = hold_back(records, options.held_back)
    if info.is_main:
        write_clips(work, records, rejects, train_part, held)
        log.info("%s", summary(records, rejects, work / "index.jsonl", rejects_file(work / "index.jsonl")))
        before = measure_before(start, cfg, work, options.resume)
    distrib.barrier()
    result = train(cfg, resume=options.resume, init=start)
    if not info.is_main:
        return None
    adapted, after = release(out, start, cfg, before, result.release, result.best_sdr)
    categories = sorted({str(r["category"]) for r in records if r.get("category")})
    summary_ = AdaptResult(
        out, before["sdr"], after, before["mixture_sdr"], adapted, result.step, result.minutes,
        len(train_part), len(held), rejects, categories, result.stopped, result.signal,
    )  # fmt: skip
    write_report(summary_, start, read_curve(work / "log.csv"))
    return summary_


# -------------------------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", help="folder of your videos (searched recursively), or a JSON-lines index")
    parser.add_argument("--out", required=True, help="folder of the adapted model (a release) and its report")
    parser.add_argument(
        "--model", default=str(BUNDLED), help="release to start from (default: the bundled one)"
    )
    parser.add_argument(
        "--minutes", type=float, help="training time budget (default 10; none when only --steps is given)"
    )
    parser.add_argument(
        "--steps", type=int, default=0, help="training budget in optimizer steps (repeatable on any machine)"
    )
    parser.add_argument(
        "--held-back", type=float, default=0.2, help="share of videos held back for validation (default 0.2)"
    )
    parser.add_argument(
        "--category-from",
        choices=CATEGORY_SOURCES,
        default="sidecar",
        help="categories from <stem>.json sidecars, folder names, or none (default: sidecar)",
    )
    add_overrides_argument(parser, "override the adapting settings, e.g. --set train.lr_frame=3e-4")
    parser.add_argument("--resume", action="store_true", help="continue OUT/adapt/last.pt")


def run(args: argparse.Namespace) -> int:
    options = AdaptOptions(
        model=args.model,
        minutes=args.minutes if args.minutes is not None else (0.0 if args.steps else 10.0),
        steps=args.steps,
        held_back=args.held_back,
        category_from=args.category_from,
        overrides=tuple(args.overrides),
        resume=args.resume,
    )
    try:
        result = adapt(args.videos, args.out, options)
    finally:
        distrib.close()
    if result is not None and result.stopped == "signal":
        log.warning("stopped: %s holds the best weights so far; --resume continues the run", result.out)
        return 128 + result.signal
    if result is not None:
        log.info(
            "held-back 2-mix SDR %.2f dB -> %.2f dB (mixture %.2f dB) after %.1f min; release %s, report %s",
            *(result.before_sdr, result.after_sdr, result.mixture_sdr, result.minutes, result.out),
            result.out / "report.md",
        )
    return 0
