"""Training throughput end to end (mixtures per second, data loading and decoding included) and peak memory.

    python benchmarks/bench_train.py            # cpu and sop presets on data/instruments (built if absent)
    python benchmarks/bench_train.py --steps 40
    python benchmarks/bench_train.py --device cuda --batch sop=80 --workers 14 --warm --out OUT.md

Each preset trains for a few steps through the real loop (pixelsound.train.train) and the rate is taken
between the first logged step and the last. By default the decoded-clip cache is cold for the first steps, as
in a real first epoch; ``--warm`` runs the same steps once untimed first, so the timed pass reads decoded
clips from the cache as later epochs do. Writes benchmarks/results/train.md (or ``--out``).
"""

import argparse
import csv
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"cpu": ("recipes/instruments/config.toml", 8), "sop": ("recipes/presets/sop.toml", 4)}


def ensure_data(data: Path) -> Path:
    if not (data / "train.jsonl").exists():
        subprocess.run(["pixelsound", "data", "instruments", "--out", str(data), "--clips", "60"], check=True)
    return data


def rate(
    preset: str, data: Path, steps: int, out: Path, device: str, batch: int, workers: int, cache: Path
) -> float:
    """Mixtures per second over steps 2..steps (step 1 pays start-up)."""
    from pixelsound.config import load_config
    from pixelsound.train import train

    cfg = load_config(
        ROOT / PRESETS[preset][0],
        [
            f"data.train_index={data / 'train.jsonl'}",
            "data.val_index=",
            "data.monitor_index=",
            f"data.cache_dir={cache}",
            f"data.workers={workers}",
            f"train.out_dir={out / preset}",
            f"train.device={device}",
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
    return (len(rows) - 1) * batch / (60 * minutes)


def machine(on_gpu: bool) -> str:
    cpu = f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}"
    if on_gpu:
        return f"{torch.cuda.get_device_name()} with {cpu}; torch {torch.__version__}"
    return f"{cpu}; torch {torch.__version__}, {platform.processor() or platform.machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--data", default=str(ROOT / "data/instruments"))
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--device", default="cpu", help="train.device: cpu, cuda or auto")
    parser.add_argument("--batch", nargs="*", default=[], help="PRESET=N batch sizes (default cpu=8 sop=4)")
    parser.add_argument("--workers", type=int, default=0, help="data.workers (loader processes)")
    parser.add_argument("--warm", action="store_true", help="time a second pass, cache warm")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/train.md")
    args = parser.parse_args()
    batches = {name: size for name, (_, size) in PRESETS.items()}
    batches.update({k: int(v) for k, v in (item.split("=", 1) for item in args.batch)})
    data = ensure_data(Path(args.data))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            b = batches[preset]
            cache = Path(tmp) / f"cache-{preset}"
            if args.warm:
                rate(preset, data, args.steps, Path(tmp) / "warm", args.device, b, args.workers, cache)
            mixes = rate(preset, data, args.steps, Path(tmp), args.device, b, args.workers, cache)
            rows.append((preset, b, mixes))
            print(f"{preset}: {mixes:.2f} mixtures/s (batch {b})", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    on_gpu = args.device.startswith("cuda") and torch.cuda.is_available()
    gpu_peak = f" Peak device memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB." if on_gpu else ""
    state = "warm (decoded clips read from the cache)" if args.warm else "cold at the start (first epoch)"
    lines = [
        "# Training throughput",
        "",
        f"`{' '.join(['python', Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}` — {args.steps} steps "
        f"per preset through the real training loop, 2-source mixtures, decoding cache {state}, "
        f"{args.workers} loader workers. Machine: {machine(on_gpu)}.",
        "",
        "| preset | device | batch | mixtures / s |",
        "|---|---|---|---|",
        *[f"| {p} | {args.device} | {b} | {m:.2f} |" for p, b, m in rows],
        "",
        f"Peak resident memory of the benchmark process: {peak:.0f} MiB.{gpu_peak}",
        "",
    ]
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
