"""Localization (cIoU, AUC) and per-object SDR of per-pixel separation on generated duets.

    .venv/bin/python benchmarks/bench_duets.py                       # data/instruments/duet_test.jsonl
    .venv/bin/python benchmarks/bench_duets.py --build 20            # 20 fresh duets from the builder
    .venv/bin/python benchmarks/bench_duets.py --model runs/instruments/best --limit 10

Writes ``benchmarks/results/duets.md`` (+ ``.json``, and ``.png``: heatmaps of the first duets with the true
boxes drawn). Model: the bundled release unless ``--model`` names another.
Definitions (pixelsound.localization): cIoU as DSOL's duet evaluation (each instrument's bounding box, as
MUSIC-Duet annotates, against the heatmap of the object matched to it, binarized at 0.2 x its max; mean over
the two instruments; the same against the instrument's exact pixels beside it), success rates at 0.3 and
0.5 and the AUC over thresholds 0..1; the LVS variant scores the overall heatmap against both boxes at its
median. SDR (BSS-eval, dB): the sound of each instrument's true region (its mask on the grid, cells
weighted by coverage) and the sound of the object matched to it, each against the instrument's stem.
Targets (issue 4): cIoU >= 0.5 and per-object SDR >= 8 dB. Anchors on MUSIC-Duet: Sound of Pixels 16.8 %,
DSOL 30.2 % (class-aware cIoU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import builder, checkpoint, index, localization, pixels  # noqa: E402
from pixelsound.instruments import CATEGORIES  # noqa: E402
from pixelsound.pictures import TRAIN_STYLES  # noqa: E402


def build_duets(folder: Path, count: int, seed: int, size: int, seconds: float) -> Path:
    """``count`` duets of different instrument pairs from the builder; returns their index."""
    cfg = builder.BuildConfig(
        out=folder, clips=count, seed=seed, size=size, seconds=seconds, sample_rate=11025
    )
    records = []
    for i in range(count):
        a = CATEGORIES[i % len(CATEGORIES)]
        b = CATEGORIES[(i * 3 + 1 + i // len(CATEGORIES)) % len(CATEGORIES)]
        b = b if b != a else CATEGORIES[(CATEGORIES.index(a) + 1) % len(CATEGORIES)]
        plan = builder.ClipPlan(i, "duet", False, "duet_test", TRAIN_STYLES[i % len(TRAIN_STYLES)], (a, b))
        records.append(builder.make_clip(plan, cfg))
    path = folder / "duet_test.jsonl"
    index.write_index(path, records)
    return path


def report(
    command: str,
    model: str,
    summary: dict,
    seconds: float,
    grid: list,
    picture: str = "",
    data: str = "duets",
) -> str:
    def num(x, fmt="{:.3f}"):
        return "n/a" if x is None else fmt.format(x)

    lines = [
        f"# Per-pixel separation on {data}, {grid[0]} x {grid[1]} grid", "", f"Command: `{command}`", "",
        f"Model: {model}. Duets: {summary['clips']}. Time: {seconds:.0f} s (CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}). Grid: {grid[0]} x {grid[1]} "
        "cells (features resized bilinearly when it differs from the frame net's own grid).", "",
        "| cIoU (DSOL, mean) | cIoU@0.3 | cIoU@0.5 | AUC | cIoU (LVS) | AUC (LVS) | cIoU against pixels | "
        "SDR region (dB) | SDR object (dB) | objects found | heat peak on its instrument | named right |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {num(summary['ciou'])} | {num(summary['ciou@0.3'])} | {num(summary['ciou@0.5'])} | "
        f"{num(summary['auc'])} | {num(summary['ciou_lvs'])} | {num(summary['auc_lvs'])} | "
        f"{num(summary['ciou_pixels'])} | {num(summary['sdr_region'], '{:.2f}')} | "
        f"{num(summary['sdr_object'], '{:.2f}')} | "
        f"{summary['objects']:.2f} | {num(summary.get('peak_on'), '{:.0%}')} | "
        f"{num(summary.get('named'), '{:.0%}')} |", "",
        "Targets: cIoU >= 0.5, per-object SDR >= 8 dB. Anchors (MUSIC-Duet, class-aware cIoU): "
        "Sound of Pixels 16.8 %, DSOL 30.2 %.", "",
        f"Heatmaps of the first duets, true boxes in white: `{picture}`." if picture else "",
        "", "## Per duet", "",
        "| duet | cIoU | cIoU (LVS) | cIoU against pixels | SDR region (dB) | SDR object (dB) | objects |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for clip in summary["per_clip"]:
        name = Path(clip["path"]).stem
        region = ", ".join(f"{v:.1f}" for v in clip["sdr_region"])
        found = ", ".join(f"{v:.1f}" for v in clip["sdr_object"])
        scores = (
            f"{clip['ciou']:.3f} | {clip['ciou_lvs']:.3f} | {clip['ciou_pixels']:.3f} | {region} | {found}"
        )
        scores += f" | {clip['objects']}"
        lines.append(f"| {name} | {scores} |")
    return "\n".join(lines) + "\n"


def gallery(
    index_path: str | Path, model: str | None, options: pixels.PixelsOptions, count: int, out: Path
) -> None:
    """Frame with the overall heatmap and the two loudest objects' heatmaps of the first duets; true boxes
    in white."""
    import numpy as np
    from PIL import Image, ImageDraw

    from pixelsound import plots
    from pixelsound.io import read_frames

    records = [r for r in index.read_index(Path(index_path)) if r.get("masks")][:count]
    net = checkpoint.load_model(model)
    rows = []
    for record in records:
        path = Path(index_path).parent / record["path"]
        result = pixels.pixels(path, net, options=options, progress=False)
        frame = read_frames(path, times=[result.duration / 2], size=224)[0][0].numpy()  # (3, H, W)
        masks = [localization.read_mask(Path(index_path).parent / m) for m in record["masks"]]
        boxes = [localization.box_mask(m) for m in masks]
        heats = [result.heatmap()] + [o.heatmap for o in result.objects[:2]]
        cells = []
        for heat in heats:
            picture = Image.fromarray(plots.overlay_heatmap(frame, heat, alpha=0.6, vmin=0.0))
            draw = ImageDraw.Draw(picture)
            for box in boxes:
                ys, xs = np.nonzero(box.numpy())
                scale = 224 / box.shape[0]
                draw.rectangle(
                    [xs.min() * scale, ys.min() * scale, xs.max() * scale, ys.max() * scale], None, "white"
                )
            cells.append(picture)
        rows.append((Path(record["path"]).stem.split("_", 1)[1], cells))
    titles = ["overall heatmap", "object 1", "object 2"]
    plots.save_png(
        plots.grid_figure(rows, col_titles=titles, title=f"duets, {model or 'bundled model'}"), out
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=str(ROOT / "data/instruments/duet_test.jsonl"), help="duet index")
    parser.add_argument("--build", type=int, default=0, help="build this many fresh duets instead")
    parser.add_argument("--seed", type=int, default=123, help="seed of built duets")
    parser.add_argument("--size", type=int, default=224, help="frame size of built duets")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of built duets")
    parser.add_argument("--model", default=None, help="release folder (default: the bundled model)")
    parser.add_argument("--grid", type=int, default=0, help="grid cells per side (0: the frame net's own)")
    parser.add_argument("--frame-size", type=int, default=0, help="frame side for the frame net (0: model's)")
    parser.add_argument("--limit", type=int, default=None, help="first duets only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/duets.md"))
    parser.add_argument("--gallery", type=int, default=6, help="duets in the heatmap picture (0: none)")
    args = parser.parse_args()
    started = time.perf_counter()
    grid = (args.grid, args.grid) if args.grid else None
    options = pixels.PixelsOptions(grid=grid, page_seconds=0.0, frame_size=args.frame_size)
    model = args.model or str(checkpoint.BUNDLED_MODEL.relative_to(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        path = (
            build_duets(Path(tmp), args.build, args.seed, args.size, args.seconds)
            if args.build
            else args.index
        )
        summary = localization.duet_metrics(path, args.model, options=options, limit=args.limit)
        if args.gallery:
            gallery(path, args.model, options, args.gallery, Path(args.out).with_suffix(".png"))
    seconds = time.perf_counter() - started
    command = " ".join([".venv/bin/python benchmarks/bench_duets.py", *sys.argv[1:]])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    picture = str(Path(args.out).with_suffix(".png").resolve().relative_to(ROOT)) if args.gallery else ""
    cells = summary["per_clip"][0]["grid"]
    data = f"freshly built duets (builder seed {args.seed})" if args.build else f"duets of `{args.index}`"
    Path(args.out).write_text(report(command, model, summary, seconds, cells, picture, data))
    Path(args.out).with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    print(Path(args.out).read_text())


if __name__ == "__main__":
    main()
