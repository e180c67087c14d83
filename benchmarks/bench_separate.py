"""Time to separate one 6 s two-source clip, and peak memory, for a preset or a released model.

    python benchmarks/bench_separate.py                       # the bundled model and the sop preset
    python benchmarks/bench_separate.py --threads 2 --repeat 7

Writes benchmarks/results/separate.md. The goal for the CPU preset is <= 0.25 s on 2 CPU cores.
"""

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

from pixelsound.clip import TensorClip
from pixelsound.config import load_config
from pixelsound.inference import fold_batchnorm
from pixelsound.model import SoundOfPixels
from pixelsound.separate import separate_waveform

ROOT = Path(__file__).resolve().parents[1]


def time_separation(model: SoundOfPixels, seconds: float, repeat: int) -> list[float]:
    """Wall seconds of each of ``repeat`` separations of a ``seconds`` long 2-mix (after one warm-up)."""
    cfg = model.cfg
    sr, n, size = cfg.audio.sample_rate, 2, cfg.frames.size
    mix = torch.randn(int(seconds * sr)) * 0.1  # (L,)
    videos = torch.randint(0, 256, (n, int(seconds * 8), 3, size, size), dtype=torch.uint8)  # (N, V, 3, H, W)
    clips = [TensorClip(v, 8.0) for v in videos]
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        separate_waveform(model, mix, clips)
        if i:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    models = {"bundled model (cpu preset)": ROOT / "pixelsound/assets/model"}
    models["sop preset (paper, untrained)"] = ROOT / "recipes/presets/sop.toml"
    for name, path in models.items():
        if path.suffix == ".toml":
            model = SoundOfPixels(load_config(path)).eval()
        else:
            from pixelsound.checkpoint import load_release

            model = load_release(path)[0].eval()
        model = fold_batchnorm(model)  # as pixelsound.separate.separate prepares it
        times = time_separation(model, args.seconds, args.repeat)
        rows.append((name, statistics.median(times), min(times)))
        print(f"{name}: median {rows[-1][1]:.3f} s, best {rows[-1][2]:.3f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Separation speed",
        "",
        f"`{' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}` — {args.seconds:g} s clip, 2 sources, "
        f"{args.threads} threads, {args.repeat} runs after a warm-up, frames from memory; CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, bf16 auto.",
        "",
        "| model | median (s) | best (s) |",
        "|---|---|---|",
        *[f"| {name} | {med:.3f} | {best:.3f} |" for name, med, best in rows],
        "",
        f"Peak resident memory of the whole benchmark process: {peak:.0f} MiB.",
        "",
    ]
    (ROOT / "benchmarks/results/separate.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
