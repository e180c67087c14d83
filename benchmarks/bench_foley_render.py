"""Time and peak memory of `pixelsound foley render` on a cue sheet with many objects (issue #18).

    .venv/bin/python benchmarks/bench_foley_render.py                    # 300 objects, 10 s
    .venv/bin/python benchmarks/bench_foley_render.py --objects 30 --seconds 10

Builds a silent 10 s video (64 x 64, 8 fps) and a cue sheet of ``--objects`` modal objects (materials,
sizes, pans and gains cycled; ``--events`` events each, spread over the clip, no ambience, no voice), then
runs one fresh `pixelsound foley render CUES -o OUT.mp4` process under ``/usr/bin/time -v``: wall seconds,
CPU seconds (user + system: less sensitive to a busy machine) and peak resident memory of the whole process
(imports, render, mp4 + one stem per object). Prints one Markdown row (label, objects, seconds, events each,
wall s, CPU s, peak RSS GB) with the CPU capability (``torch.backends.cpu.get_cpu_capability()``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import io, modal  # noqa: E402


def cue_sheet(video: Path, objects: int, seconds: float, events: int) -> dict:
    """A valid cue sheet with ``objects`` modal objects of ``events`` events each."""
    materials = sorted(modal.MATERIALS)
    entries = []
    for k in range(objects):
        times = [round((j + 0.5 + 0.37 * (k % 7) / 7) * seconds / events, 4) for j in range(events)]
        entries.append(
            {
                "id": f"object{k}",
                "label": materials[k % len(materials)],
                "pan": round(-1 + 2 * (k % 11) / 10, 2),
                "gain_db": -float(k % 13),
                "sound": {
                    "kind": "modal",
                    "material": materials[k % len(materials)],
                    "size": 0.5 + k % 5 / 4,
                    "seed": k,
                },  # fmt: skip
                "events": [{"time": t, "strength": 0.4 + 0.1 * (j % 6)} for j, t in enumerate(times)],
            }
        )
    return {"version": 1, "video": str(video), "duration": seconds, "sample_rate": 44100, "room": "room",
            "objects": entries}  # fmt: skip


def measure(cues: Path, out: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (GB) of one `pixelsound foley render`."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "pixelsound.cli", "-q", "foley", "render"]
    done = subprocess.run(
        [*command, str(cues), "-o", str(out)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    wall = re.search(
        r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    cpu = sum(
        float(re.search(rf"{k} time \(seconds\): ([\d.]+)", done.stderr).group(1)) for k in ("User", "System")
    )
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, cpu, int(rss.group(1)) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--events", type=int, default=8)
    parser.add_argument("--label", default="", help="what is measured (e.g. the commit)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        fps = 8
        io.write_video(
            work / "silent.mp4", torch.full((int(args.seconds * fps), 3, 64, 64), 80, dtype=torch.uint8), fps
        )
        (work / "cues.json").write_text(
            json.dumps(cue_sheet(work / "silent.mp4", args.objects, args.seconds, args.events))
        )
        wall, cpu_s, rss = measure(work / "cues.json", work / "out.mp4")
    cpu = torch.backends.cpu.get_cpu_capability()
    row = [
        args.label,
        args.objects,
        f"{args.seconds:g}",
        args.events,
        f"{wall:.1f}",
        f"{cpu_s:.1f}",
        f"{rss:.2f}",
        cpu,
    ]
    print("| " + " | ".join(str(x) for x in row) + " |")


if __name__ == "__main__":
    main()
