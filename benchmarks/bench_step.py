"""Training-step time of each preset on any device, data loading left out (synthetic batches).

    python benchmarks/bench_step.py --device cuda          # on a GPU machine (bf16 autocast as the presets)
    python benchmarks/bench_step.py --device cpu --steps 5

The step is the real one (``pixelsound.train.train_step``: appearance views, scenes with silent regions when
the preset asks, mix-and-separate loss, backward, Adam), on random waveforms and frames of the preset's
shapes; so it times the model, not the decoding (``bench_train.py`` times the whole loop). Writes
``benchmarks/results/step_<device>.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import config, optim, train, views  # noqa: E402
from pixelsound.model import SoundOfPixels  # noqa: E402

PRESETS = {
    "cpu recipe (instruments)": "recipes/instruments/config.toml",
    "sop (paper)": "recipes/presets/sop.toml",
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_preset(path: str, device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """Seconds per step (median of ``steps`` after ``warmup``), batch size, peak device memory."""
    cfg = config.load_config(ROOT / path)
    torch.manual_seed(0)
    model = SoundOfPixels(cfg).to(device)
    optimizer = optim.build_optimizer(model, cfg.train)
    b, n, v, s = cfg.train.batch_size, cfg.data.num_mix, cfg.frames.num_frames, cfg.frames.size
    batch = {
        "sources": 0.1 * torch.randn(b, n, cfg.audio.length),
        "frames": torch.randint(0, 256, (b, n, v, 3, s, s), dtype=torch.uint8),
        "group": torch.arange(b),
    }
    filler = views.silence_pool(0, 16, s) if cfg.train.scene_silence else None
    gen = torch.Generator().manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for i in range(warmup + steps):
        chosen = views.draw_views(gen, b, n, cfg.train.scene_prob)
        sync(device)
        start = time.perf_counter()
        train.train_step(model, optimizer, batch, torch.ones(b, n), cfg, device, chosen, filler)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    times.sort()
    return {"step": times[len(times) // 2], "batch": b, "peak_gb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per preset")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--out", type=Path, default=None, help="report (default results/step_<device>.md)")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    rows = []
    for label, path in PRESETS.items():
        r = time_preset(path, device, args.steps, args.warmup)
        rows.append(
            f"| {label} | {r['batch']} | {1000 * r['step']:.1f} | {r['batch'] / r['step']:.0f} | "
            f"{r['peak_gb']:.2f} |"
        )
        print(rows[-1], flush=True)
    command = " ".join(["python benchmarks/bench_step.py", *sys.argv[1:]])
    lines = [
        f"# Training step time, {device.type}",
        "",
        f"Command: `{command}`",
        "",
        f"Device: {name}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads. Synthetic "
        "batches of each preset's shapes through `train.train_step` (views, scenes, loss, backward, Adam); "
        f"median of {args.steps} steps after {args.warmup} untimed ones. Data loading is not included.",
        "",
        "| preset | batch | ms / step | mixtures / s | peak device memory (GB) |",
        "|---|---|---|---|---|",
        *rows,
    ]
    out = args.out or ROOT / "benchmarks" / "results" / f"step_{device.type}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
