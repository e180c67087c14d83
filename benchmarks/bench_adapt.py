"""Adapting the bundled model to a far source: 2-mix SDR on the source's other videos before and after.

    python benchmarks/bench_adapt.py --src data/bench_adapt/src --sizes 40 --minutes 10

The far source: ``--far INDEX`` (e.g. the far split of the generalization work), or, without it, a stand-in
made from a ``pixelsound data instruments`` build (``--src``): its ``test_style`` clips (OpenMoji pictures,
kept out of the bundled model's training) with every video changed the same way for its audio and pictures:

- audio: transposed by a factor among 3/4, 5/6, 5/4, 9/7 (played slower or faster: other pitches
  and formants, i.e. instruments that sound unlike FluidR3's), in a simulated room (``mixdown.room_impulse``,
  "room" or "hall"), through a random tilt EQ, with noise at 20 dB SNR;
- pictures: colour negatives, blurred (down to half size and back).

The far videos are split by a hash of their names into an evaluation part (``--eval-videos``) and a pool;
``pixelsound adapt`` runs on the first N pool clips without categories (``--category-from none``; it holds
back a fifth of them itself) for M minutes. Every model is scored on the same 2-mixes of the evaluation
videos (``--mixes``, unit gains, BSS-eval SDR as in training's validation) and on 2-mixes of the build's
``test`` split (the training domain: forgetting). Results: ``benchmarks/results/adapt.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pixelsound import io, mixdown
from pixelsound.checkpoint import load_release
from pixelsound.config import replace
from pixelsound.dataset import ClipDataset
from pixelsound.index import read_index, write_index
from pixelsound.validation import validate, validation_batches

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "pixelsound" / "assets" / "model"
RESULTS = ROOT / "benchmarks" / "results"
SR = 11025
FACTORS = (3 / 4, 5 / 6, 5 / 4, 9 / 7)  # SR / factor: a whole rate in a small ratio to SR (short resampler)


# ------------------------------------------------------------------------------------------ the far stand-in


def far_audio(wave: torch.Tensor, rng: np.random.Generator, seed: int) -> torch.Tensor:
    """Transpose, reverberate, colour and add noise to a mono clip. ``(L,)`` -> ``(L',)`` at ``SR``."""
    factor = FACTORS[int(rng.integers(len(FACTORS)))]
    moved = io.resample(wave[None], SR, round(SR / factor))[0]  # played back at SR: pitch x factor
    ir = mixdown.room_impulse(str(rng.choice(["room", "hall"])), SR, seed)[0]
    wet = mixdown.reverb(moved, ir[None].expand(2, -1))[0]
    out = moved + float(rng.uniform(0.4, 0.8)) * wet
    low = torch.from_numpy(np.convolve(out.numpy(), np.ones(4) / 4, mode="same")).float()
    tilt = float(rng.uniform(-0.8, 0.8))  # > 0: darker, < 0: brighter
    out = out + tilt * (low - out) if tilt > 0 else out - tilt * (out - low)
    noise = torch.from_numpy(rng.standard_normal(out.shape[-1])).float()
    out = out + noise * out.pow(2).mean().sqrt() * 10 ** (-20 / 20)
    return out / out.abs().max().clamp_min(1e-6) * 0.9


def far_frames(frames: torch.Tensor) -> torch.Tensor:
    """Colour negatives, blurred. uint8 ``(V, 3, H, W)`` -> same."""
    h, w = frames.shape[-2:]
    small = io.resize_frames(255 - frames, (h // 2, w // 2))
    return io.resize_frames(small, (h, w))


def make_far(src_index: Path, out: Path) -> Path:
    """Write the stand-in far source (one changed video per clip of ``src_index``) and its index."""
    index = out / "far.jsonl"
    if index.is_file():
        return index
    records = []
    for k, record in enumerate(read_index(src_index)):
        path = Path(record["path"])
        rng = np.random.default_rng([7, k])
        wave = io.read_audio(path, SR)[0]
        frames, _ = io.read_frames(path)
        audio = far_audio(wave, rng, seed=k)
        seconds = min(audio.shape[-1] / SR, len(frames) / record["fps"])
        target = out / "far" / path.name
        n = int(seconds * record["fps"])
        io.write_video(target, far_frames(frames[:n]), record["fps"], audio[None, : int(seconds * SR)], SR)
        records.append({**io.probe(target).to_dict(), "path": str(target), "category": record["category"]})
    write_index(index, records)
    return index


# ------------------------------------------------------------------------------------------ splits and scores


def split_far(index: Path, out: Path, eval_videos: int) -> tuple[Path, list[dict]]:
    """(index of the evaluation videos, the pool in a fixed order): by a hash of the file name."""
    records = sorted(read_index(index), key=lambda r: hashlib.sha1(Path(r["path"]).stem.encode()).hexdigest())
    write_index(out / "far_eval.jsonl", records[:eval_videos])
    return out / "far_eval.jsonl", records[eval_videos:]


def mixtures(index: Path, cfg, count: int) -> list[dict[str, torch.Tensor]]:
    """``count`` fixed 2-mixes of an index's clips (centred windows, unit gains, seed 2018)."""
    data = ClipDataset(index, cfg.audio, cfg.frames, train=False)
    return validation_batches(data, replace(cfg, train={"val_mixes": count, "batch_size": 16}))


def scores(model_dir: Path, batches: dict[str, list], cache: Path) -> dict[str, float]:
    """Mean SDR (dB) of a release on each set of mixtures, and of the mixtures themselves (kept in ``cache``,
    a JSON file keyed by the release's weights file and its time, so a rerun does not score it again)."""
    weights = model_dir / "model.safetensors"
    key = f"{weights.resolve()}@{weights.stat().st_mtime_ns}:{','.join(batches)}"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    if key not in known:
        model, _ = load_release(model_dir)
        out = {}
        for name, mixes in batches.items():
            out[name], out[f"{name}_mixture"] = validate(model, mixes, torch.device("cpu"))
        known[key] = out
        cache.write_text(json.dumps(known, indent=1))
    return known[key]


def run_adapt(pool: list[dict], n: int, minutes: float, work: Path, rate: float = 0.0) -> tuple[Path, float]:
    """``pixelsound adapt`` on the first n pool clips without categories; returns (release, wall seconds).

    With ``rate`` > 0 the budget is ``rate x minutes`` steps instead of wall minutes (a shared machine's
    minutes hold fewer steps); the wall clock then only stops a run 10x over its time.
    """
    folder = work / f"n{n}_m{minutes:g}"
    if (folder / "report.json").is_file():  # done before: reuse
        return folder, float("nan")
    write_index(work / f"pool{n}.jsonl", pool[:n])
    cmd = [
        sys.executable,
        "-m",
        "pixelsound.cli",
        "adapt",
        str(work / f"pool{n}.jsonl"),
        "--out",
        str(folder),
    ]
    cmd += ["--minutes", str(minutes * (10 if rate else 1)), "--category-from", "none"]
    if rate:
        cmd += ["--set", f"train.epochs={math.ceil(rate * minutes / 50)}"]  # adapt validates every 50 steps
    if (folder / "adapt" / "last.pt").exists():
        cmd.append("--resume")
    start = time.monotonic()
    done = subprocess.run(cmd)
    if done.returncode not in (0, 130):  # 130: stopped by a signal, the best weights so far released
        raise SystemExit(f"adapt failed ({done.returncode}): {' '.join(cmd)}")
    return folder, time.monotonic() - start


# ------------------------------------------------------------------------------------------ results


def table(rows: list[dict], machine: str) -> str:
    """The markdown results: one row per model."""
    lines = [
        "# Adapting to a far source (`pixelsound adapt`)",
        "",
        f"Command: `python benchmarks/bench_adapt.py {' '.join(sys.argv[1:])}`",
        "",
        machine,
        "",
        "| model | clips N | budget (min) | steps | wall min trained | far 2-mixes SDR (dB) | gain (dB) | "
        "test split SDR (dB) | change (dB) | held-back SDR before -> after (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = rows[0]
    for r in rows:
        held = f"{r['held_before']:.2f} -> {r['held_after']:.2f}" if "held_before" in r else ""
        trained = f"{r['wall_minutes_trained']:.1f}" if "wall_minutes_trained" in r else ""
        budget = f"{r.get('n', '')} | {r.get('minutes', '')} | {r.get('steps', '')} | {trained}"
        lines.append(
            f"| {r['model']} | {budget} | "
            f"{r['far']:.2f} | {r['far'] - base['far']:+.2f} | {r['test']:.2f} | "
            f"{r['test'] - base['test']:+.2f} | {held} |"
        )
    lines += [
        "",
        f"Mixtures themselves: far {base['far_mixture']:.2f} dB, test {base['test_mixture']:.2f} dB.",
    ]
    return "\n".join(lines) + "\n"


def machine_line() -> str:
    load = open("/proc/loadavg").read().split()[:3]
    return (
        f"Machine: {torch.get_num_threads()} torch threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}; load average at the start "
        f"{' / '.join(load)} (2 cores shared with other work; adapt ran at nice 15, so its minutes held "
        "fewer steps than on an idle machine)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--far", type=Path, help="index of a far source (default: the stand-in from --src)")
    parser.add_argument("--src", type=Path, default=ROOT / "data" / "bench_adapt" / "src")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_adapt")
    parser.add_argument(
        "--test", type=Path, help="index of the training-domain test split (default: SRC/test)"
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[40])
    parser.add_argument("--minutes", type=float, nargs="*", default=[10.0])
    parser.add_argument("--eval-videos", type=int, default=40)
    parser.add_argument("--mixes", type=int, default=200)
    parser.add_argument("--name", default="adapt", help="results file name in benchmarks/results")
    parser.add_argument(
        "--steps-per-minute",
        type=float,
        default=0.0,
        help="budget in steps: this rate x minutes (0: wall time)",
    )
    args = parser.parse_args()
    machine = machine_line()
    far = args.far or make_far(args.src / "test_style.jsonl", args.work)
    eval_index, pool = split_far(far, args.work, args.eval_videos)
    cfg = load_release(BUNDLED)[1]
    test = args.test or args.src / "test.jsonl"
    batches = {"far": mixtures(eval_index, cfg, args.mixes), "test": mixtures(test, cfg, args.mixes)}
    rows = [{"model": "bundled", **scores(BUNDLED, batches, args.work / "scores.json")}]
    print(rows[-1], flush=True)
    for n in args.sizes:
        for minutes in args.minutes:
            folder, wall = run_adapt(pool, n, minutes, args.work, args.steps_per_minute)
            report = json.loads((folder / "report.json").read_text())
            rows.append(
                {"model": f"adapted ({folder.name})", "n": n, "minutes": minutes, "steps": report["steps"],
                 "held_before": report["before_sdr"], "held_after": report["after_sdr"],
                 "wall_minutes_trained": report["minutes"], "stopped": report["stopped"],
                 "wall_s": wall, **scores(folder, batches, args.work / "scores.json")}
            )  # fmt: skip
            print(rows[-1], flush=True)
            write(rows, machine, args.name)
    write(rows, machine, args.name)


def write(rows: list[dict], machine: str, name: str) -> None:
    (RESULTS / f"{name}.md").write_text(table(rows, machine))
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine, "rows": clean}, indent=2) + "\n")


if __name__ == "__main__":
    main()
