"""Per-pixel audio: speed on a 6 s clip (14 x 14 grid) and peak memory on a 5-minute video.

    .venv/bin/python benchmarks/bench_pixels.py            # writes benchmarks/results/pixels.md
    .venv/bin/python benchmarks/bench_pixels.py --minutes 1 --repeats 1   # a quicker look

Model: the bundled release (pixelsound/assets/model) when present, else the CPU preset
(recipes/presets/cpu.toml) with random weights (the same amount of computation).

1. **All-pixel audio, 6 s clip, 14 x 14 grid**, 2 torch threads: from an in-memory clip (frames + mixture) to
   every cell's waveform for the whole clip (frame net and audio net per chunk, all-cell masks from one
   einsum, 196 waveforms): ``read_chunks`` + ``analyse`` with ``page_seconds = 6``. Goal <= 2 s on 2 cores.
   The same from the mp4 file (decoding included) and the whole ``pixels()`` call (objects too).
2. **5-minute video, peak memory**: a synthetic 5-minute video (moving coloured squares, two tones) written
   with ``io.write_video`` in a temporary folder, then ``pixelsound pixels VIDEO --out DIR`` (every output:
   object wavs, overlay video, PNGs, JSON, the page) in a child process whose peak RSS is read from
   ``getrusage(RUSAGE_CHILDREN)``. Goal < 4 GB.

The machine is shared: wall times are reported with the CPU time of the process and the load average, so
they read as honest but pessimistic.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import checkpoint, io, pixels  # noqa: E402
from pixelsound.checkpoint import load_release, write_release  # noqa: E402
from pixelsound.config import load_config  # noqa: E402
from pixelsound.model import SoundOfPixels  # noqa: E402


def bench_model() -> tuple[SoundOfPixels, str]:
    """The bundled model, or the CPU preset with random weights."""
    if (checkpoint.BUNDLED_MODEL / "config.json").is_file():
        model, _ = load_release(checkpoint.BUNDLED_MODEL)
        return model.eval(), f"bundled release ({checkpoint.BUNDLED_MODEL.relative_to(ROOT)})"
    torch.manual_seed(0)
    cfg = load_config(ROOT / "recipes/presets/cpu.toml")
    return SoundOfPixels(cfg).eval(), "CPU preset (recipes/presets/cpu.toml), random weights"


def synthetic_clip(seconds: float, sr: int, fps: float = 25.0, size: int = 224) -> pixels.Video:
    """Two coloured squares moving on grey, a low and a high tone playing in turns."""
    n = int(seconds * fps)
    frames = torch.full((n, 3, size, size), 90, dtype=torch.uint8)
    side = size // 4
    for i in range(n):
        shift = int(side / 2 * (1 + math.sin(i / fps * 2)))
        frames[i, 0, side : 2 * side, shift : shift + side] = 230
        frames[i, 2, 2 * side : 3 * side, 2 * side + shift : 3 * side + shift] = 230
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    low = 0.3 * torch.sin(2 * math.pi * 220 * t) * (t % 2 < 1.2)
    high = 0.25 * torch.sin(2 * math.pi * 1760 * t) * ((t + 1) % 2 < 1.2)
    return pixels.Video(frames, fps, (low + high).float(), sr)


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def all_cells(model: SoundOfPixels, video, opts: pixels.PixelsOptions):
    clip, length = pixels.open_video(video, model.cfg.audio.sample_rate)
    count, chunks = pixels.read_chunks(model, clip, length, opts)
    return pixels.analyse(model, chunks, length, opts, count=count, clip=clip, progress=False)


def bench_six_seconds(model: SoundOfPixels, repeats: int, folder: Path) -> list[tuple[str, float, float]]:
    """Best wall time (and its CPU time) of each way of making every cell's sound for 6 s."""
    sr = model.cfg.audio.sample_rate
    clip = synthetic_clip(6.0, sr)
    path = folder / "six.mp4"
    io.write_video(path, clip.frames, clip.fps, clip.audio[None], sr)
    opts = pixels.PixelsOptions(grid=(14, 14), page_seconds=6.0)
    cases = [
        ("all-pixel audio, in-memory clip (the goal)", 2, lambda: all_cells(model, clip, opts)),
        ("the same, 1 thread", 1, lambda: all_cells(model, clip, opts)),
        ("all-pixel audio from the mp4 (decoding included)", 2, lambda: all_cells(model, path, opts)),
        ("pixels() from the mp4 (objects and their sounds too)", 2, lambda: pixels.pixels(path, model,
                                                                                         options=opts,
                                                                                         progress=False)),
    ]  # fmt: skip
    rows = []
    with torch.no_grad():
        all_cells(model, clip, opts)  # warm-up
        for name, threads, fn in cases:
            torch.set_num_threads(threads)
            wall, cpu = min(timed(fn)[:2] for _ in range(repeats))
            rows.append((name, wall, cpu))
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    torch.set_num_threads(2)
    return rows


def long_video(path: Path, minutes: float, sr: int) -> None:
    """A synthetic video of ``minutes`` at 15 fps, 160 x 160, written with io.write_video."""
    clip = synthetic_clip(60.0 * minutes, sr, fps=15.0, size=160)
    io.write_video(path, clip.frames, clip.fps, clip.audio[None], sr, preset="ultrafast")


def bench_long(model: SoundOfPixels, minutes: float, folder: Path) -> dict[str, float]:
    """Write the long video, then run the pixels verb on it in a child process; its peak RSS and time."""
    sr = model.cfg.audio.sample_rate
    video, release, out = folder / "long.mp4", folder / "model", folder / "out"
    started = time.perf_counter()
    long_video(video, minutes, sr)
    made = time.perf_counter() - started
    write_release(release, model, model.cfg)
    command = [sys.executable, "-m", "pixelsound.cli", "pixels", str(video), "--model", str(release),
               "--out", str(out), "--grid", "14"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        command, check=True, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    page = (out / "index.html").stat().st_size
    return {
        "minutes": minutes, "make_s": made, "wall_s": wall, "peak_gb": after.ru_maxrss / 2**20,
        "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "page_mb": page / 2**20, "overlay_mb": (out / "overlay.mp4").stat().st_size / 2**20,
    }  # fmt: skip


def page_size(model: SoundOfPixels, folder: Path) -> dict[str, float]:
    """Size of the listening page for a 6 s clip on a 14 x 14 grid (4-bit and 8-bit cell sounds)."""
    sr = model.cfg.audio.sample_rate
    clip = synthetic_clip(6.0, sr)
    result = pixels.pixels(
        clip, model, options=pixels.PixelsOptions(grid=(14, 14), page_seconds=6.0), progress=False
    )
    sizes = {}
    for bits in (4, 8):
        facts = result.write(folder / f"page{bits}", video=False, page_bits=bits)
        sizes[f"{bits}-bit"] = facts["files"]["page"]["bytes"] / 2**20
    return sizes


def report(args, model_name: str, rows, long, pages, load: tuple[float, ...]) -> str:
    lines = [
        "# Per-pixel audio (`pixelsound pixels`)", "",
        f"Command: `{' '.join(['.venv/bin/python benchmarks/bench_pixels.py', *sys.argv[1:]])}`", "",
        f"Model: {model_name}. Machine: {os.cpu_count()} CPU cores shared with other jobs (load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start), torch {torch.__version__}.", "",
        "## All-pixel audio, 6 s clip, 14 x 14 grid (goal <= 2 s on 2 cores)", "",
        f"Best of {args.repeats}, 2 torch threads unless said. CPU time is the process's (all threads):",
        "less sensitive to the shared machine than wall time, though it counts threads spinning idle.",
        "", "| case | wall (s) | CPU (s) |", "|---|---|---|",
    ]  # fmt: skip
    lines += [f"| {name} | {wall:.2f} | {cpu:.2f} |" for name, wall, cpu in rows]
    lines += [
        "", f"## {long['minutes']:g}-minute video, peak memory (goal < 4 GB)", "",
        "`pixelsound pixels long.mp4 --model M --out DIR --grid 14` in a child process (all outputs).", "",
        "| peak RSS (GB) | wall (s) | CPU (s) | page (MB) | overlay.mp4 (MB) | making the video (s) |",
        "|---|---|---|---|---|---|",
        f"| {long['peak_gb']:.2f} | {long['wall_s']:.0f} | {long['cpu_s']:.0f} | {long['page_mb']:.1f} | "
        f"{long['overlay_mb']:.1f} | {long['make_s']:.0f} |", "",
        "## Listening page size, 6 s clip, 14 x 14 grid (video not inlined)", "",
        "| cell sounds | index.html (MB) |", "|---|---|",
    ]  # fmt: skip
    lines += [f"| {k}, 8 kHz | {v:.2f} |" for k, v in pages.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the long video")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each 6 s case")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/pixels.md"))
    args = parser.parse_args()
    load = os.getloadavg()
    model, name = bench_model()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = bench_six_seconds(model, args.repeats, folder)
        pages = page_size(model, folder)
        print("page sizes (MB):", pages, flush=True)
        long = bench_long(model, args.minutes, folder)
        print(long, flush=True)
    text = report(args, name, rows, long, pages, load)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
