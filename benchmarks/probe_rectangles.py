"""Does an empty rectangle of another texture sound? A probe of a shortcut scene training may teach.

    .venv/bin/python benchmarks/probe_rectangles.py            # 20 test solos, bundled model

In training scenes each picture is a tile that keeps its own clip's background, pasted on a filler texture
(pixelsound.views), so "a rectangle of different texture" always sounds there. Each probe frame here has
a test solo's picture on the left and, on the right, an empty rectangle of another procedural texture, on
a third texture; the soundtrack is the solo's. The overall heatmap (amplitude, over its maximum) is averaged
over the picture's cells, the rectangle's cells and the plain background's top and bottom rows. Writes
``benchmarks/results/rectangles.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound.backgrounds import background  # noqa: E402
from pixelsound.checkpoint import load_model  # noqa: E402
from pixelsound.index import read_index  # noqa: E402
from pixelsound.io import read_audio, read_frames  # noqa: E402
from pixelsound.pixels import Video, pixels  # noqa: E402


def texture(rng: np.random.Generator, side: int) -> torch.Tensor:
    return torch.from_numpy(np.array(background(rng, side, side)[0])).permute(2, 0, 1)  # (3, S, S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="release folder (default: the bundled model)")
    parser.add_argument("--index", default=str(ROOT / "data/instruments/test.jsonl"), help="solo clips")
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/rectangles.md"))
    args = parser.parse_args()
    net = load_model(args.model)
    sr = net.cfg.audio.sample_rate
    index = Path(args.index)
    rng = np.random.default_rng(0)
    heat = {"picture": [], "empty rectangle": [], "plain background": []}
    for record in list(read_index(index))[: args.clips]:
        picture, _ = read_frames(index.parent / record["path"], times=[0.5], size=96)  # (1, 3, 96, 96)
        frame = texture(rng, 192)
        frame[:, 48:144, 0:96] = picture[0]  # the solo's picture, with its own background, on the left
        frame[:, 56:136, 104:184] = texture(rng, 80)  # an empty rectangle of another texture on the right
        audio = read_audio(index.parent / record["path"], sr)[..., : 8 * sr]
        result = pixels(
            Video(frame[None].expand(8, -1, -1, -1).contiguous(), 1.0, audio, sr), net, progress=False
        )
        h = result.heatmap()  # (12, 12) at 16 px per cell for the recipe's model
        cells = 192 // h.shape[0]
        heat["picture"].append(float(h[48 // cells : 144 // cells, : 96 // cells].mean()))
        heat["empty rectangle"].append(
            float(h[56 // cells : 136 // cells, 104 // cells : 184 // cells].mean())
        )
        heat["plain background"].append(float(torch.cat([h[:2].flatten(), h[-2:].flatten()]).mean()))
    command = " ".join([".venv/bin/python benchmarks/probe_rectangles.py", *sys.argv[1:]])
    lines = [
        "# Probe: does an empty rectangle of another texture sound?", "", f"Command: `{command}`", "",
        f"Model: {args.model or 'pixelsound/assets/model'}. {len(heat['picture'])} test solos. Overall "
        "heatmap (amplitude over its maximum), mean over each part's cells; share of clips where the part's "
        "mean exceeds 0.2 (DSOL's binarization level).", "",
        "| part of the frame | mean heat | clips above 0.2 |", "|---|---|---|",
    ]  # fmt: skip
    for part, values in heat.items():
        lines.append(f"| {part} | {np.mean(values):.3f} | {np.mean(np.array(values) > 0.2):.2f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
