"""Adapting the bundled model to a far source: 2-mix SDR on the source's other videos before and after.

    python benchmarks/bench_adapt.py --far data/far/far.jsonl --test data/instruments7/test.jsonl \
        --cpu-per-step 0.31 --sizes 10 20 40 --minutes 5 10 20

The far source: ``--far INDEX`` (e.g. the far split of the generalization work), or, without it, a stand-in
made from a ``pixelsound data instruments`` build (``--src``): its ``test_style`` clips (OpenMoji pictures,
kept out of the bundled model's training) with every video changed the same way for its audio and pictures:

- audio: transposed by a factor among 3/4, 5/6, 5/4, 9/7 (played slower or faster: other pitches
  and formants, i.e. instruments that sound unlike FluidR3's), in a simulated room (``mixdown.room_impulse``,
  "room" or "hall"), through a random tilt EQ, with noise at 20 dB SNR;
- pictures: colour negatives, blurred (down to half size and back).

The far videos are ordered by a hash of their names: the first ``--pool`` (40) are the adapting pool, all the
others are evaluated on. ``pixelsound adapt`` runs on the first N pool clips without categories
(``--category-from none``; it holds back a fifth of them itself) with budgets in steps: M minutes on 2 cores
are 120 M CPU seconds over ``--cpu-per-step`` (measured), so the figures repeat on a shared machine. The
budgets of one N are stages of one run (``--resume`` with more steps; the default learning rate is constant
after its warm-up, and every stage releases the best held-back weights so far, as a run with that budget
would). Every model is scored on the same 2-mixes as ``pixelsound evaluate --mixes 2 --count 200 --seed 0``
draws them (model SDR, BSS-eval) of the evaluation videos and of ``--test`` (the training domain:
forgetting). Results: ``benchmarks/results/NAME.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pixelsound import io, mixdown
from pixelsound.checkpoint import load_release
from pixelsound.dataset import ClipDataset
from pixelsound.evaluate import draw_mixes
from pixelsound.index import read_index, write_index
from pixelsound.mixing import MixtureItems, collate_mixtures
from pixelsound.validation import validate

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


def split_far(index: Path, out: Path, pool_size: int) -> tuple[Path, list[dict]]:
    """(index of the evaluation videos, the adapting pool in a fixed order): the first ``pool_size`` videos
    by a hash of the file name are the pool, all the others are evaluated on (every clip is its own video)."""
    records = sorted(read_index(index), key=lambda r: hashlib.sha1(Path(r["path"]).stem.encode()).hexdigest())
    write_index(out / "far_eval.jsonl", records[pool_size:])
    return out / "far_eval.jsonl", records[:pool_size]


def mixtures(index: Path, cfg, count: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """``count`` fixed 2-mixes of an index's clips, drawn as ``pixelsound evaluate --count C --seed S`` draws
    them (clips of different videos and categories, centred windows, unit gains), in batches of 16."""
    data = ClipDataset(index, cfg.audio, cfg.frames, train=False)
    groups = draw_mixes(data, 2, count, seed)  # (count, 2) clip numbers
    items = MixtureItems(data)
    chunks = [groups[k : k + 16].reshape(-1) for k in range(0, len(groups), 16)]
    batches = [collate_mixtures([items[int(i)] for i in chunk], 2) for chunk in chunks]
    return [b for b in batches if b is not None]


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


def run_adapt(pool: list[dict], n: int, steps: int, work: Path, sets: list[str]) -> tuple[Path, float, float]:
    """``pixelsound adapt --steps STEPS`` on the first n pool clips without categories, continuing the
    folder's run when an earlier (smaller) budget was run there; returns (release, CPU s, wall s) of this
    call. Every stage releases the best held-back weights so far, as a run with that budget would (the
    default learning rate is constant after the warm-up, so a longer run repeats a shorter one's steps)."""
    folder = work / f"n{n}"
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
    cmd += ["--steps", str(steps), "--category-from", "none"] + (["--set", *sets] if sets else [])
    if (folder / "adapt" / "last.pt").exists():
        cmd.append("--resume")
    start, cpu = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd)
    if done.returncode not in (0, 130, 143):  # stopped by Ctrl-C / SIGTERM: the best weights so far released
        raise SystemExit(f"adapt failed ({done.returncode}): {' '.join(cmd)}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return folder, cpu_s, time.monotonic() - start


# ------------------------------------------------------------------------------------------ results


def budget_steps(minutes: float, cpu_per_step: float, cores: int = 2) -> int:
    """Steps that ``minutes`` on ``cores`` busy cores hold: ``60 x minutes x cores`` CPU seconds over the CPU
    seconds one adapt step takes (measured on a 2-thread run), in whole validation intervals of 50 steps."""
    return max(50, round(60 * minutes * cores / cpu_per_step / 50) * 50)


def table(rows: list[dict], machine: str) -> str:
    """The markdown results: one row per model."""
    lines = [
        "# Adapting to a far source (`pixelsound adapt`)",
        "",
        f"Command: `python benchmarks/bench_adapt.py {' '.join(sys.argv[1:])}`",
        "",
        machine,
        "",
        "| model | clips N | budget (min on 2 cores) | steps | adapt CPU s | far 2-mixes SDR (dB) | "
        "gain (dB) | test split SDR (dB) | change (dB) | held-back SDR before -> after (dB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = rows[0]
    for r in rows:
        held = f"{r['held_before']:.2f} -> {r['held_after']:.2f}" if "held_before" in r else ""
        cpu = f"{r['cpu_s']:.0f}" if r.get("cpu_s") else ""
        budget = f"{r.get('n', '')} | {r.get('minutes', '')} | {r.get('steps', '')} | {cpu}"
        lines.append(
            f"| {r['model']} | {budget} | {r['far']:.2f} | {r['far'] - base['far']:+.2f} | {r['test']:.2f} | "
            f"{r['test'] - base['test']:+.2f} | {held} |"
        )
    lines += [
        "",
        f"Mixtures themselves: far {base['far_mixture']:.2f} dB, test {base['test_mixture']:.2f} dB.",
    ]
    return "\n".join(lines) + "\n"


def machine_line(cpu_per_step: float) -> str:
    load = open("/proc/loadavg").read().split()[:3]
    return (
        f"Machine: CPU capability {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}; "
        f"load average at the start {' / '.join(load)} (2 cores shared with other work). Budgets in steps: "
        f"M minutes on 2 cores = 120 M CPU seconds / {cpu_per_step:g} CPU s per adapt step (measured: "
        "process CPU time of adapt at 1 thread, validation included; 2 threads spend at least as much CPU "
        "per step, so M minutes hold at most that many steps), so they repeat on a busy machine."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--far", type=Path, help="index of a far source (default: the stand-in from --src)")
    parser.add_argument("--src", type=Path, default=ROOT / "data" / "bench_adapt" / "src")
    parser.add_argument("--work", type=Path, default=ROOT / "data" / "bench_adapt")
    parser.add_argument(
        "--test", type=Path, help="index of the training-domain test split (default: SRC/test)"
    )
    parser.add_argument("--pool", type=int, default=40, help="videos set aside to adapt on (the rest: eval)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[40], help="adapt on the first N of the pool")
    parser.add_argument("--minutes", type=float, nargs="*", default=[5.0, 10.0])
    parser.add_argument("--cpu-per-step", type=float, required=True, help="CPU s per adapt step (measured)")
    parser.add_argument("--mixes", type=int, default=200)
    parser.add_argument("--name", default="adapt", help="results file name in benchmarks/results")
    parser.add_argument("--set", nargs="*", default=[], dest="sets", help="adapt --set overrides")
    args = parser.parse_args()
    machine = machine_line(args.cpu_per_step)
    args.work.mkdir(parents=True, exist_ok=True)
    far = args.far or make_far(args.src / "test_style.jsonl", args.work)
    eval_index, pool = split_far(far, args.work, args.pool)
    cfg = load_release(BUNDLED)[1]
    test = args.test or args.src / "test.jsonl"
    batches = {"far": mixtures(eval_index, cfg, args.mixes), "test": mixtures(test, cfg, args.mixes)}
    rows = [{"model": "bundled", **scores(BUNDLED, batches, args.work / "scores.json")}]
    print(rows[-1], flush=True)
    for n in args.sizes:
        for minutes in sorted(args.minutes):
            steps = budget_steps(minutes, args.cpu_per_step)
            folder, cpu_s, wall = run_adapt(pool, n, steps, args.work, args.sets)
            report = json.loads((folder / "report.json").read_text())
            rows.append(
                {"model": f"adapted (n{n}, {minutes:g} min)", "n": n, "minutes": minutes,
                 "steps": report["steps"], "held_before": report["before_sdr"],
                 "held_after": report["after_sdr"], "cpu_s": cpu_s, "wall_s": wall,
                 "adapted": report["adapted"], "stopped": report["stopped"],
                 **scores(folder, batches, args.work / "scores.json")}
            )  # fmt: skip
            print(rows[-1], flush=True)
            write(rows, machine, args.name)
            if report["stopped"] == "signal":  # stopped before its budget: a longer one would not start
                break
    write(rows, machine, args.name)


def write(rows: list[dict], machine: str, name: str) -> None:
    (RESULTS / f"{name}.md").write_text(table(rows, machine))
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in rows]
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine, "rows": clean}, indent=2) + "\n")


if __name__ == "__main__":
    main()
