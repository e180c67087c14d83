"""The table of encoders.sh: each frame net's training progress, test SDR and speed.

    .venv/bin/python recipes/instruments/encoders.py runs/encoders [--md recipes/instruments/encoders.md]

For each ``runs/encoders/<frame net>/``: steps and minutes trained (``log.csv``), best validation SDR,
mean SDR on the test 2-mixes (``eval-test/evaluation.json``, with the mixture and ideal binary mask on the
same mixes), the frame net's parameters, and the time to separate one 6 s 2-mix with one thread.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_separate import time_separation  # noqa: E402

from pixelsound.checkpoint import load_release  # noqa: E402


def row(run: Path) -> str:
    """One markdown table row for the run folder of one frame net."""
    log = list(csv.DictReader((run / "log.csv").open()))
    val = [float(r["val_sdr"]) for r in log if r["val_sdr"]]
    summary = json.loads((run / "eval-test" / "evaluation.json").read_text())["summary"]["2"]
    model, _ = load_release(run / "best")
    frame_params = sum(p.numel() for p in model.frame_net.parameters()) / 1e6
    torch.set_num_threads(1)
    seconds = statistics.median(time_separation(model.eval(), 6.0, 5))
    minutes, steps = float(log[-1]["minutes"]), int(log[-1]["step"])
    return (
        f"| {model.cfg.model.frame_net} | {frame_params:.2f} M | {steps} | {minutes:.1f} | "
        f"{steps / minutes / 60:.1f} | {max(val):.2f} | **{summary['model']['sdr']['mean']:.2f}** | "
        f"{summary['mixture']['sdr']['mean']:.2f} | {summary['ibm']['sdr']['mean']:.2f} | {seconds:.3f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder with one run per frame net (encoders.sh's OUT)")
    parser.add_argument("--md", type=Path, help="also write the table here")
    args = parser.parse_args()
    lines = [
        "| frame net | parameters | steps | minutes | steps/s | best val SDR | test SDR (2-mixes) | "
        "mixture | ideal binary mask | 6 s separation (s, 1 thread) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(run) for run in sorted(p for p in args.runs.iterdir() if (p / "best").is_dir())]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
