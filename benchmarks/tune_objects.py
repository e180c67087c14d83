"""How sounding objects are grouped: a scan of ``active`` and ``place`` (pixelsound.objects.group_cells).

    .venv/bin/python benchmarks/tune_objects.py          # 40 tuning duets (built, seed 7) + 30 val solos

Tuning data only: duets built with another seed than the test duets of ``bench_duets`` (same builder, other
pictures, places and melodies) and solos of the validation split. Per setting: class-aware cIoU on the
duets (as ``bench_duets``: each instrument's box against its matched object's heatmap), the share of duets
scoring >= 0.5, objects found per duet, and the share of solos found as exactly one object. The per-pixel
separation runs once per clip; only the grouping is repeated. Writes ``benchmarks/results/objects_tuning.md``.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_duets import build_duets  # noqa: E402

from pixelsound import checkpoint, index, localization, objects, pixels  # noqa: E402

ACTIVE = (0.05, 0.1, 0.2)
DEFAULT_ACTIVE = inspect.signature(objects.group_cells).parameters["active"].default
PLACE = (0.0, 0.5, 1.0, 2.0)


def class_aware_ciou(heatmaps: list, boxes: list) -> float:
    match = localization.match_objects(heatmaps, boxes)
    return float(
        np.mean(
            [
                localization.ciou(heatmaps[m], b) if m is not None else 0.0
                for m, b in zip(match, boxes, strict=True)
            ]
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="release folder (default: the bundled model)")
    parser.add_argument("--duets", type=int, default=40, help="tuning duets to build")
    parser.add_argument("--seed", type=int, default=7, help="seed of the tuning duets")
    parser.add_argument("--solos", type=int, default=30, help="validation solos")
    parser.add_argument("--val", default=str(ROOT / "data/instruments/val.jsonl"), help="validation index")
    parser.add_argument("--grid", type=int, default=12, help="grid cells per side")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/objects_tuning.md"))
    args = parser.parse_args()

    net = checkpoint.load_model(args.model)
    opts = pixels.PixelsOptions(grid=(args.grid, args.grid), page_seconds=0)
    with tempfile.TemporaryDirectory() as tmp:
        duet_index = build_duets(Path(tmp), args.duets, args.seed, 224, 8.0)
        duets = []
        for record in index.read_index(duet_index):
            result = pixels.pixels(duet_index.parent / record["path"], net, options=opts, progress=False)
            masks = [localization.read_mask(duet_index.parent / m) for m in record["masks"]]
            duets.append((result.energy, [localization.box_mask(m) for m in masks]))
    val = Path(args.val)
    solos = [
        pixels.pixels(val.parent / r["path"], net, options=opts, progress=False).energy
        for r in list(index.read_index(val))[: args.solos]
    ]
    rows = []
    for active, place in itertools.product(ACTIVE, PLACE):
        cious, found = [], []
        for energy, boxes in duets:
            groups = objects.group_cells(energy, active=active, place=place)
            cious.append(class_aware_ciou([g.heatmap for g in groups], boxes) if groups else 0.0)
            found.append(len(groups))
        single = np.mean([len(objects.group_cells(e, active=active, place=place)) == 1 for e in solos])
        rows.append((active, place, np.mean(cious), np.mean(np.array(cious) >= 0.5), np.mean(found), single))
    command = "python benchmarks/tune_objects.py " + " ".join(sys.argv[1:])
    lines = [
        "# Grouping cells into sounding objects: tuning", "", f"Command: `{command.strip()}`", "",
        f"Model: {args.model or 'pixelsound/assets/model'}. {len(duets)} tuning duets (builder seed "
        f"{args.seed}; the test duets of bench_duets are not used), {len(solos)} validation solos, "
        f"{args.grid} x {args.grid} grid. Defaults: active {DEFAULT_ACTIVE}, "
        f"place {pixels.PixelsOptions.place}.", "",
        "| active | place | duet cIoU | duets >= 0.5 | objects per duet | solos as one object |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for active, place, ciou, good, found, single in sorted(rows, key=lambda r: -r[2]):
        lines.append(f"| {active} | {place} | {ciou:.3f} | {good:.2f} | {found:.2f} | {single:.2f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
