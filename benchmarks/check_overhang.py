"""SDR of the bundled model on clips a little longer than its window: how to spend the overhang (issue 15).

    python benchmarks/check_overhang.py [--pairs 30] [--index data/far/far.jsonl]

Each 2-mix (two solos of different categories from the index, seeded) is cut to ``window * (1 + o)``
samples for a few overhangs ``o`` and separated three ways:

* ``two windows``: ``separate_waveform`` with ``reuse=0``, each window with its own frames (the old default);
* ``two windows, shared frames``: ``reuse=0.1``, the second window takes the first one's frames, so the frame
  net runs once (the new default, :func:`pixelsound.windows.frame_starts`);
* ``one padded window``: the whole clip as one window, the U-Net zero-padding its grid.

Prints the mean SDR over both sources of all mixes per way and overhang.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import windows  # noqa: E402
from pixelsound.checkpoint import load_model  # noqa: E402
from pixelsound.clip import FileClip  # noqa: E402
from pixelsound.inference import FrameFeatures, fold_batchnorm  # noqa: E402
from pixelsound.io import read_audio  # noqa: E402
from pixelsound.metrics import sdr  # noqa: E402
from pixelsound.separate import _separate_pieces, separate_waveform  # noqa: E402

START = 0.5  # seconds into the videos


def pairs(index: Path, count: int, seed: int) -> list[tuple[Path, Path]]:
    """``count`` pairs of solo videos of different categories."""
    records = [json.loads(line) for line in index.read_text().splitlines() if line.strip()]
    records = [r for r in records if r.get("kind", "solo") == "solo" and not r.get("silent")]
    rng = np.random.default_rng(seed)
    out: list[tuple[Path, Path]] = []
    while len(out) < count:
        a, b = rng.choice(len(records), 2, replace=False)
        if records[a]["category"] != records[b]["category"]:
            out.append((index.parent / records[a]["path"], index.parent / records[b]["path"]))
    return out


@torch.inference_mode()
def one_window(model, mix: torch.Tensor, clips: list[FileClip]) -> torch.Tensor:
    """The whole mixture as one window (the U-Net pads its grid). ``(L,) -> (N, L)``."""
    sr, v = model.cfg.audio.sample_rate, model.cfg.frames.num_frames
    times = windows.frame_times(torch.full((1,), START), mix.shape[-1] / sr, v)  # (1, V)
    frames = torch.stack([c.frames_at(times, model.cfg.frames.size) for c in clips], 1)  # (1, N, V, ...)
    return _separate_pieces(model, mix[None], FrameFeatures(model)(frames))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "data/far/far.jsonl")
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overhangs", type=float, nargs="+", default=[0.01, 0.05, 0.1])
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = fold_batchnorm(load_model(None))
    sr, window = model.cfg.audio.sample_rate, model.cfg.audio.length
    run = partial(separate_waveform, model, bf16=False, offset=START)
    ways = {
        "two windows": lambda mix, clips: run(mix, clips, reuse=0.0),
        "two windows, shared frames": lambda mix, clips: run(mix, clips),
        "one padded window": lambda mix, clips: one_window(model, mix, clips),
    }
    scores = {(o, w): [] for o in args.overhangs for w in ways}
    for a, b in pairs(args.index, args.pairs, args.seed):
        solos = torch.stack([read_audio(p, sr, start=START)[0] for p in (a, b)])  # (2, L)
        clips = [FileClip(a), FileClip(b)]
        for o in args.overhangs:
            length = round(window * (1 + o))
            ref = solos[:, :length]
            for name, fn in ways.items():
                est = fn(ref.sum(0), clips)
                scores[o, name].extend(sdr(ref, est).tolist())
    print(f"bundled model, {args.pairs} 2-mixes from {args.index.name}, window {window} samples at {sr} Hz")
    print("| overhang | " + " | ".join(ways) + " |")
    print("|---|" + "---|" * len(ways))
    for o in args.overhangs:
        cells = [f"{statistics.fmean(scores[o, w]):.3f}" for w in ways]
        print(f"| {o:.0%} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
