"""Validation SDR (and the monitored far split's) against training minutes, from runs' log.csv files: a
markdown table and a PNG line chart. Several logs (a run and the runs that continued from it) are chained
in time.

python recipes/instruments/curve.py runs/instruments6/log.csv runs/instruments7/log.csv \
    --png recipes/instruments/curve.png
"""

import argparse
import csv
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Point = tuple[float, int, float, float, float]  # minutes, step, val SDR, mixture SDR, monitored SDR (or NaN)


def read_curve(path: Path, offset: float = 0.0) -> list[Point]:
    """Every row of a log with a validation result, its minutes shifted by ``offset``."""
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_sdr")]
    return [
        (
            offset + float(r["minutes"]),
            int(r["step"]),
            float(r["val_sdr"]),
            float(r["val_sdr_mix"]),
            float(r.get("monitor_sdr") or "nan"),
        )
        for r in rows
    ]


def chart(points: list[Point], starts: list[float], size: tuple[int, int] = (640, 360)) -> Image.Image:
    """A line chart over minutes: validation SDR (blue), the monitored split's (orange), the mixture (grey);
    a dotted line where each continued run starts."""
    w, h, pad = *size, 48
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    t_max = max(p[0] for p in points) or 1.0
    lo = min(0.0, min(min(p[2], p[3]) for p in points))
    hi = max(12.0, max(p[2] for p in points))

    def xy(t: float, v: float) -> tuple[float, float]:
        return pad + (w - 2 * pad) * t / t_max, h - pad - (h - 2 * pad) * (v - lo) / (hi - lo)

    for v in range(int(lo), int(hi) + 1, 2):
        y = xy(0, v)[1]
        draw.line([(pad, y), (w - pad, y)], fill=(225, 225, 225))
        draw.text((8, y - 6), f"{v:>3d}", fill="black", font=font)
    for start in starts[1:]:
        draw.line([xy(start, lo), xy(start, hi)], fill=(180, 180, 180), width=1)
    draw.line([xy(p[0], p[3]) for p in points], fill=(150, 150, 150), width=2)
    draw.line([xy(p[0], p[2]) for p in points], fill=(30, 90, 200), width=3)
    far = [xy(p[0], p[4]) for p in points if not math.isnan(p[4])]
    if len(far) > 1:
        draw.line(far, fill=(230, 120, 20), width=3)
    title = "SDR (dB): validation (blue), far split, monitored (orange), mixture (grey)"
    draw.text((pad, 8), title, fill="black", font=font)
    draw.text((w // 2 - 40, h - 20), f"training minutes (0-{t_max:.0f})", fill="black", font=font)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, nargs="+", help="log.csv files, in training order")
    parser.add_argument("--png", type=Path)
    parser.add_argument("--every", type=int, default=1, help="print every n-th validation")
    args = parser.parse_args()
    points: list[Point] = []
    starts: list[float] = []
    for log in args.logs:
        starts.append(points[-1][0] if points else 0.0)
        points += read_curve(log, starts[-1])
    print("| minutes | step | val SDR (dB) | mixture SDR (dB) | far SDR, monitored (dB) |")
    print("|---|---|---|---|---|")
    for i, (t, step, v, mix, far) in enumerate(points):
        if i % args.every == 0 or i == len(points) - 1:
            print(f"| {t:.1f} | {step} | {v:.2f} | {mix:.2f} | {'' if math.isnan(far) else f'{far:.2f}'} |")
    if args.png:
        chart(points, starts).save(args.png)


if __name__ == "__main__":
    main()
