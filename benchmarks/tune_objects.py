"""How sounding objects are grouped: scans of ``active``, ``place`` and ``look`` (objects.group_cells).

    .venv/bin/python benchmarks/tune_objects.py          # 40 tuning duets (built, seed 7) + 30 val solos

Tuning data only: duets built with another seed than the test duets of ``bench_duets`` (same builder, other
pictures, places and melodies) and solos of the validation split. Per setting: class-aware cIoU on the
duets (as ``bench_duets``: each instrument's box against its matched object's heatmap), the share of duets
scoring >= 0.5, objects found per duet, and the share of solos found as exactly one object; for ``look``
(at the default ``active`` and ``place``) also each object's heat peak on its instrument's box and its name
(the release's prototypes) right. The per-pixel separation runs once per clip; only the grouping is
repeated. Writes ``benchmarks/results/objects_tuning.md``.
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
LOOK = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
DEFAULT_LOOK = inspect.signature(objects.group_cells).parameters["look"].default


def peak_of(heat) -> tuple[int, int]:
    """(row, col) of a group's peak, as :attr:`pixelsound.objects.SoundingObject.peak`."""
    return divmod(int(objects.smooth_heat(heat).argmax()), heat.shape[1])


def duet_scores(groups: list, boxes: list, visual, cats: list, prototypes) -> tuple[float, list, list]:
    """Class-aware cIoU, and per instrument: heat peak on its box, named right (release prototypes)."""
    heatmaps = [g.heatmap for g in groups]
    match = localization.match_objects(heatmaps, boxes) if groups else [None] * len(boxes)
    cious, peaks, named = [], [], []
    grid = tuple(visual.shape[-2:])
    for m, box, cat in zip(match, boxes, cats, strict=True):
        cious.append(localization.ciou(heatmaps[m], box) if m is not None else 0.0)
        peaks.append(m is not None and localization.peak_inside(peak_of(heatmaps[m]), grid, box))
        name = objects.categorize(visual, groups[m].cells, prototypes)[0] if m is not None else None
        named.append(name == cat)
    return float(np.mean(cious)), peaks, named


def scan(duets: list, solos: list, prototypes, **grouping) -> dict:
    """Scores of one grouping setting over the tuning duets and the validation solos."""
    cious, found, peaks, named = [], [], [], []
    for energy, visual, boxes, cats in duets:
        groups = objects.group_cells(energy, visual=visual, **grouping)
        ciou, peak, name = duet_scores(groups, boxes, visual, cats, prototypes)
        cious.append(ciou)
        found.append(len(groups))
        peaks += peak
        named += name
    single = np.mean([len(objects.group_cells(e, visual=v, **grouping)) == 1 for e, v in solos])
    return {
        "ciou": np.mean(cious), "good": np.mean(np.array(cious) >= 0.5), "found": np.mean(found),
        "single": single, "peak": np.mean(peaks), "named": np.mean(named),
    }  # fmt: skip


def separate_all(args, net, opts, tmp: Path) -> tuple[list, list]:
    """Per tuning duet (energy, visual, boxes, categories); per validation solo (energy, visual)."""
    duet_index = build_duets(tmp, args.duets, args.seed, 224, 8.0)
    duets = []
    for record in index.read_index(duet_index):
        result = pixels.pixels(duet_index.parent / record["path"], net, options=opts, progress=False)
        masks = [localization.read_mask(duet_index.parent / m) for m in record["masks"]]
        duets.append(
            (result.energy, result.visual, [localization.box_mask(m) for m in masks], record["categories"])
        )
    val = Path(args.val)
    solos = []
    for r in list(index.read_index(val))[: args.solos]:
        result = pixels.pixels(val.parent / r["path"], net, options=opts, progress=False)
        solos.append((result.energy, result.visual))
    return duets, solos


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
    prototypes = checkpoint.release_prototypes(args.model)
    opts = pixels.PixelsOptions(grid=(args.grid, args.grid), page_seconds=0)
    with tempfile.TemporaryDirectory() as tmp:
        duets, solos = separate_all(args, net, opts, Path(tmp))
    rows = [
        (active, place, scan(duets, solos, prototypes, active=active, place=place))
        for active, place in itertools.product(ACTIVE, PLACE)
    ]
    looks = [(look, scan(duets, solos, prototypes, look=look)) for look in LOOK]
    command = "python benchmarks/tune_objects.py " + " ".join(sys.argv[1:])
    lines = [
        "# Grouping cells into sounding objects: tuning", "", f"Command: `{command.strip()}`", "",
        f"Model: {args.model or 'pixelsound/assets/model'}. {len(duets)} tuning duets (builder seed "
        f"{args.seed}; the test duets of bench_duets are not used), {len(solos)} validation solos "
        f"(`{args.val}`), {args.grid} x {args.grid} grid. Defaults: active {DEFAULT_ACTIVE}, "
        f"place {pixels.PixelsOptions.place}, look {DEFAULT_LOOK}.", "",
        f"## active and place (look {DEFAULT_LOOK})", "",
        "| active | place | duet cIoU | duets >= 0.5 | objects per duet | solos as one object |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for active, place, r in sorted(rows, key=lambda r: -r[2]["ciou"]):
        scores = f"{r['ciou']:.3f} | {r['good']:.2f} | {r['found']:.2f} | {r['single']:.2f}"
        lines.append(f"| {active} | {place} | {scores} |")
    lines += [
        "", f"## look (active {DEFAULT_ACTIVE}, place {pixels.PixelsOptions.place})", "",
        "| look | duet cIoU | duets >= 0.5 | objects per duet | solos as one object | heat peak on its "
        "instrument | named right |", "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for look, r in looks:
        lines.append(
            f"| {look} | {r['ciou']:.3f} | {r['good']:.2f} | {r['found']:.2f} | {r['single']:.2f} | "
            f"{r['peak']:.1%} | {r['named']:.1%} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
