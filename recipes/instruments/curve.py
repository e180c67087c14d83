"""Validation SDR against training minutes, from a run's log.csv: a markdown table and a PNG line chart.

python recipes/instruments/curve.py runs/instruments/log.csv --png recipes/instruments/curve.png
"""

import argparse
import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def read_curve(path: Path) -> list[tuple[float, int, float, float]]:
    """(minutes, step, val SDR, mixture SDR) for every row with a validation result."""
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_sdr")]
    return [(float(r["minutes"]), int(r["step"]), float(r["val_sdr"]), float(r["val_sdr_mix"])) for r in rows]


def chart(points: list[tuple[float, int, float, float]], size: tuple[int, int] = (640, 360)) -> Image.Image:
    """A line chart of SDR (model, and the mixture as a dashed floor) over minutes."""
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
    draw.line([xy(0, 10), xy(t_max, 10)], fill=(200, 80, 80), width=1)
    draw.text((w - pad - 70, xy(0, 10)[1] - 16), "10 dB goal", fill=(200, 80, 80), font=font)
    draw.line([xy(p[0], p[3]) for p in points], fill=(150, 150, 150), width=2)
    draw.line([xy(p[0], p[2]) for p in points], fill=(30, 90, 200), width=3)
    draw.text((pad, 8), "validation SDR (dB): model (blue), mixture (grey)", fill="black", font=font)
    draw.text((w // 2 - 40, h - 20), f"training minutes (0-{t_max:.0f})", fill="black", font=font)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--every", type=int, default=1, help="print every n-th validation")
    args = parser.parse_args()
    points = read_curve(args.log)
    print("| minutes | step | val SDR (dB) | mixture SDR (dB) |\n|---|---|---|---|")
    for i, (t, step, v, mix) in enumerate(points):
        if i % args.every == 0 or i == len(points) - 1:
            print(f"| {t:.1f} | {step} | {v:.2f} | {mix:.2f} |")
    if args.png:
        chart(points).save(args.png)


if __name__ == "__main__":
    main()
