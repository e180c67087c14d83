"""Training throughput end to end (mixtures per second, data loading and decoding included) and peak memory.

    python benchmarks/bench_train.py            # cpu and sop presets on data/instruments (built if absent)
    python benchmarks/bench_train.py --steps 40

Each preset trains for a few steps through the real loop (pixelsound.train.train, the decoded-clip cache
cold for the first steps as in a real first epoch) and the rate is taken between the first logged step and
the last. Writes benchmarks/results/train.md.
"""

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"cpu": ("recipes/instruments/config.toml", 8), "sop": ("recipes/presets/sop.toml", 4)}


def ensure_data(data: Path) -> Path:
    if not (data / "train.jsonl").exists():
        subprocess.run(["pixelsound", "data", "instruments", "--out", str(data), "--clips", "60"], check=True)
    return data


def rate(preset: str, data: Path, steps: int, out: Path) -> tuple[float, int]:
    """Mixtures per second over steps 2..steps (step 1 pays start-up), and the batch size used."""
    from pixelsound.config import load_config
    from pixelsound.train import train

    recipe, batch = PRESETS[preset]
    cfg = load_config(
        ROOT / recipe,
        [
            f"data.train_index={data / 'train.jsonl'}",
            "data.val_index=",
            f"data.cache_dir={out / 'cache'}",
            f"train.out_dir={out / preset}",
            f"train.batch_size={batch}",
            f"train.steps_per_epoch={steps}",
            "train.epochs=1",
            "train.log_every=1",
            "train.max_minutes=0",
            "train.save_every=0",
        ],
    )
    train(cfg)
    with (out / preset / "log.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["loss"]]
    minutes = float(rows[-1]["minutes"]) - float(rows[0]["minutes"])
    return (len(rows) - 1) * batch / (60 * minutes), batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--data", default=str(ROOT / "data/instruments"))
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    args = parser.parse_args()
    data = ensure_data(Path(args.data))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            mixes, batch = rate(preset, data, args.steps, Path(tmp))
            rows.append((preset, batch, mixes))
            print(f"{preset}: {mixes:.2f} mixtures/s (batch {batch})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Training throughput",
        "",
        f"`{' '.join(['python', Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}` — {args.steps} steps "
        "per preset through the real training loop, 2-source mixtures, decoding cache cold at the start.",
        "",
        "| preset | batch | mixtures / s |",
        "|---|---|---|",
        *[f"| {p} | {b} | {m:.2f} |" for p, b, m in rows],
        "",
        f"Peak resident memory of the benchmark process: {peak:.0f} MiB.",
        "",
    ]
    (ROOT / "benchmarks/results/train.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
