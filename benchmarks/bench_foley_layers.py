"""Time of `pixelsound foley` on a 10 s clip with and without its ambience and voice layers, and of the beds.

    .venv/bin/python benchmarks/bench_foley_layers.py     # writes benchmarks/results/foley_layers.md
    .venv/bin/python benchmarks/bench_foley_layers.py --repeats 5

The clip is the 10 s bouncing-ball clip of bench_foley.py (`pixelsound.bounce.build_bounce(DIR, 1, seed=7,
seconds=10.0, max_balls=2)`, 224 px, 25 fps). Each variant runs as a fresh `pixelsound foley` process
(imports, decode, detect, render, write mp4 + stems + cue sheet); the median of ``--repeats`` runs is kept.
Then the CPU seconds of each stage in-process, and each ambience bed alone: 10 minutes at 44.1 kHz. On a
busy machine the wall times grow with the load; the CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import ambience, bounce, foley, spotting, voice  # noqa: E402
from pixelsound.index import read_index  # noqa: E402

VARIANTS = [
    ("objects only (`--ambience none`)", ["--ambience", "none"]),
    ("objects + ambience from the scene (default)", []),
    ("objects + ambience + voice (`--say 'Here comes the drum@1.0'`)", ["--say", "Here comes the drum@1.0"]),
]


def run_once(clip: Path, out: Path, extra: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one fresh `pixelsound foley` process."""
    command = [sys.executable, "-m", "pixelsound.cli", "foley", str(clip), "-o", str(out), *extra]
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - start
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def stage_table(clip: Path, work: Path) -> list[str]:
    """CPU seconds of detect, render and write, in-process, for each variant (the median of three)."""
    lines = ["| variant | detect | render | write |", "|---|---|---|---|"]
    options = [("none", []), (None, []), (None, [voice.parse_say("Here comes the drum@1.0")])]
    video = spotting.load_video(clip)
    for (label, _), (bed, say) in zip(VARIANTS, options, strict=True):
        runs = []
        for _ in range(3):
            start = time.process_time()
            cues = foley.detect(video, bed=bed)
            detected = time.process_time()
            result = foley.render({**cues, "voice": say}, video=video)
            rendered = time.process_time()
            result.write(work / "stage.mp4")
            runs.append((detected - start, rendered - detected, time.process_time() - rendered))
        med = [statistics.median(r[k] for r in runs) for k in range(3)]
        lines.append(f"| {label} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} |")
        print(lines[-1], flush=True)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "foley_layers.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    lines = [
        "# Foley layers: time on a 10 s clip",
        "",
        "Command: `" + " ".join([".venv/bin/python benchmarks/bench_foley_layers.py", *sys.argv[1:]]) + "`",
        "",
        f"Machine: {os.cpu_count()} CPU cores, torch CPU capability "
        f"`{torch.backends.cpu.get_cpu_capability()}`, load average {load:.1f} at the start. "
        f"Median of {args.repeats} fresh processes "
        "(imports, decode, detect, render, write mp4 + stems + cues).",
        "",
        "| variant | wall time (s) | CPU time, user + system (s) |",
        "|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as work:
        index = bounce.build_bounce(Path(work) / "ten", 1, seed=7, seconds=10.0, max_balls=2)
        clip = Path(read_index(index)[0]["path"])
        for label, extra in VARIANTS:
            runs = [run_once(clip, Path(work) / "out.mp4", extra) for _ in range(args.repeats)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            lines.append(f"| {label} | {wall:.2f} | {cpu:.2f} |")
            print(lines[-1], flush=True)
        lines += ["", "In-process CPU seconds (`time.process_time`, this process only) per stage:", ""]
        lines += stage_table(clip, Path(work))
    lines += ["", "Ambience beds alone, 10 minutes of stereo at 44.1 kHz (in-process):", ""]
    lines += ["| bed | CPU seconds | wall seconds |", "|---|---|---|"]
    for name in ambience.BEDS:
        start, cpu = time.monotonic(), time.process_time()
        ambience.bed(name, 600 * 44100, 44100)
        lines.append(f"| {name} | {time.process_time() - cpu:.2f} | {time.monotonic() - start:.2f} |")
        print(lines[-1], flush=True)
    lines += ["", f"Load average at the end: {os.getloadavg()[0]:.1f}."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
