"""Events and sync on varied clips (:mod:`pixelsound.varied`): every impact, every note, the right offset.

    .venv/bin/python benchmarks/bench_events.py                     # benchmark: seeds 100 and 101
    .venv/bin/python benchmarks/bench_events.py --seed 7 --clips 12 # a tuning run (seeds 7, 8: TUNING_SEEDS)

Per kind (impacts: balls and boxes under any gravity and restitution, thrown again after resting; instrument
solos and duets moving with the music among slow sways and drift), clips are made in memory and:

* **Foley onset F1 (+-50 ms)**: the cue sheet's events (:func:`pixelsound.foley.detect`, all objects) against
  the true event times, one to one (:func:`pixelsound.onsets.f_measure`), mean per clip; also the mean error;
* **material right**: each true impact object matched to the detected object nearest in x; its cue-sheet
  material against the true one;
* **score** (:func:`pixelsound.score.score_frames`, no model): candidates are the true soundtrack, the next
  clip's true soundtrack, and the true soundtrack delayed by a known random amount of 0.2-1.5 s (either
  sign, zero-padded); *true-vs-other* and *true-vs-delayed* are the shares of clips whose true soundtrack
  scores above the other one; *delay within one frame* the share of delayed copies whose estimated offset is
  within one video frame of the true delay.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import foley, onsets, score, varied  # noqa: E402

TOLERANCE_MS = 50.0
KINDS = {"impacts": 0, "instruments": 1}  # seed offset per kind


@dataclass
class Tally:
    """Numbers over the clips of one kind."""

    kind: str
    f1: list[float] = field(default_factory=list)
    errors_ms: list[float] = field(default_factory=list)
    material_right: int = 0
    material_total: int = 0
    vs_other: list[bool] = field(default_factory=list)
    vs_delayed: list[bool] = field(default_factory=list)
    delay_right: list[bool] = field(default_factory=list)
    true_offset_ms: list[float] = field(default_factory=list)
    audio_f1: list[float] = field(default_factory=list)
    confidence: list[tuple[float, bool]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def delayed(audio: torch.Tensor, seconds: float, sample_rate: int) -> torch.Tensor:
    """The soundtrack ``seconds`` later (earlier when negative), zero-padded, same length. ``(C, L)``."""
    n = int(round(seconds * sample_rate))
    out = torch.zeros_like(audio)
    if n >= 0:
        out[:, n:] = audio[:, : audio.shape[1] - n]
    else:
        out[:, :n] = audio[:, -n:]
    return out


def materials(tally: Tally, clip: varied.Clip, cues: dict) -> None:
    """Count impact objects whose detected material (nearest detected object in x) is the true one."""
    truth = [o for o in clip.sidecar["objects"] if o["kind"] == "impact"]
    found = cues["objects"]
    if not truth:
        return
    tally.material_total += len(truth)
    if not found:
        return
    cost = np.array([[abs(t["x"] - f["x"]) for f in found] for t in truth])
    for r, c in zip(*linear_sum_assignment(cost), strict=True):
        tally.material_right += int(
            cost[r, c] < 0.25 and found[c]["sound"].get("material") == truth[r]["material"]
        )


def evaluate(tally: Tally, clip: varied.Clip, other: varied.Clip, rng: np.random.Generator) -> None:
    """Detect events, then score three soundtracks, for one clip."""
    fps, sr = clip.sidecar["fps"], 22050
    start = time.monotonic()
    cues = foley.detect(clip.frames, fps=fps)
    tally.seconds.append(time.monotonic() - start)
    est = np.sort([e["time"] for o in cues["objects"] for e in o["events"]])
    match = onsets.f_measure(clip.onsets, est, TOLERANCE_MS)
    tally.f1.append(match.f1)
    if len(match.pairs):
        tally.errors_ms += list((est[match.pairs[:, 1]] - clip.onsets[match.pairs[:, 0]]) * 1000)
    materials(tally, clip, cues)
    shift = float(rng.uniform(0.2, 1.5) * rng.choice([-1, 1]))
    audios = [("true", clip.audio), ("other", other.audio), ("delayed", delayed(clip.audio, shift, sr))]
    result = score.score_frames(clip.frames, fps, audios, sr, model="none")
    by = {c.name: c for c in result.candidates}
    tally.vs_other.append(by["true"].score > by["other"].score)
    tally.vs_delayed.append(by["true"].score > by["delayed"].score)
    tally.delay_right.append(abs(by["delayed"].offset_ms / 1000 - shift) <= 1 / fps)
    tally.true_offset_ms.append(by["true"].offset_ms)
    tally.audio_f1.append(onsets.f_measure(clip.onsets, by["true"].onsets.times, TOLERANCE_MS).f1)
    tally.confidence.append((by["delayed"].offset_confidence, tally.delay_right[-1]))


def run_kind(kind: str, seed: int, clips: int, cfg: varied.VariedConfig) -> Tally:
    """Evaluate ``clips`` clips of one kind."""
    tally = Tally(kind)
    made = [varied.make_clip(kind, seed, i, cfg) for i in range(clips)]
    rng = np.random.default_rng(seed)
    for i, clip in enumerate(made):
        evaluate(tally, clip, made[(i + 1) % len(made)], rng)
        print(
            f"{kind} {i + 1}/{clips}: F1 {tally.f1[-1]:.2f} other {tally.vs_other[-1]} delayed "
            f"{tally.vs_delayed[-1]} delay {tally.delay_right[-1]}",
            flush=True,
        )
    return tally


def share(values: list[bool]) -> str:
    return f"{100 * np.mean(values):.1f}% ({int(np.sum(values))}/{len(values)})" if values else "n/a"


def _confident(pairs: list[tuple[float, bool]], floor: float = 0.1) -> str:
    """Delay right among confident estimates, and how many were confident."""
    sure = [right for c, right in pairs if c >= floor]
    return f"{share(sure)}; {len(sure)}/{len(pairs)} confident" if sure else "n/a"


def report(tallies: list[Tally], args: argparse.Namespace) -> str:
    """Markdown table: one column per kind, rows as issue #16's table."""
    capability = torch.backends.cpu.get_cpu_capability()
    lines = [
        "## Events and sync on varied clips (`benchmarks/bench_events.py`)",
        "",
        "Command: `" + " ".join([".venv/bin/python benchmarks/bench_events.py", *sys.argv[1:]]) + "`",
        "",
        f"Clips: `pixelsound.varied`, {args.clips} per kind, seeds {args.seed} (impacts) and {args.seed + 1} "
        f"(instruments); {args.seconds:g} s, {args.fps:g} fps, {args.size} px. Tuning used seeds "
        f"{varied.TUNING_SEEDS} only. Model: none. Machine: {os.cpu_count()} CPU cores, CPU capability "
        f"{capability}, load average {os.getloadavg()[0]:.1f} at the start.",
        "",
        "| figure | " + " | ".join(t.kind for t in tallies) + " | target |",
        "|---|" + "---|" * len(tallies) + "---|",
        "| Foley onset F1 (+-50 ms), mean per clip | "
        + " | ".join(f"{np.mean(t.f1):.3f}" for t in tallies)
        + " | >= 0.9 impacts, >= 0.85 instruments |",
        "| matched onset error, mean / median abs (ms) | "
        + " | ".join(f"{np.mean(t.errors_ms):+.1f} / {np.median(np.abs(t.errors_ms)):.1f}" for t in tallies)
        + " | |",
        "| Foley: impact material right | "
        + " | ".join(
            share([True] * t.material_right + [False] * (t.material_total - t.material_right))
            if t.material_total
            else "-"
            for t in tallies
        )
        + " | >= 85 % |",
        "| score: true soundtrack above another clip's | "
        + " | ".join(share(t.vs_other) for t in tallies)
        + " | >= 97 % |",
        "| score: true soundtrack above the same one delayed (0.2-1.5 s) | "
        + " | ".join(share(t.vs_delayed) for t in tallies)
        + " | >= 95 % |",
        "| score: delay estimated within one frame | "
        + " | ".join(share(t.delay_right) for t in tallies)
        + " | >= 90 % |",
        "| score: true soundtrack's offset within one frame of 0 | "
        + " | ".join(share([abs(o) <= 1000 / args.fps for o in t.true_offset_ms]) for t in tallies)
        + " | |",
        "| audio onsets of the true soundtrack (score's detector), F1 (+-50 ms) | "
        + " | ".join(f"{np.mean(t.audio_f1):.3f}" for t in tallies)
        + " | |",
        "| delay within one frame when its confidence >= 0.1 (share of clips so confident) | "
        + " | ".join(_confident(t.confidence) for t in tallies)
        + " | |",
        "| Foley detect, seconds per clip | "
        + " | ".join(f"{np.mean(t.seconds):.2f}" for t in tallies)
        + " | |",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed", type=int, default=varied.BENCHMARK_SEEDS[0], help="impacts seed (+1: instruments)"
    )
    parser.add_argument("--clips", type=int, default=40, help="clips per kind")
    parser.add_argument("--kinds", default="impacts,instruments")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = varied.VariedConfig(seconds=args.seconds, fps=args.fps, size=args.size)
    kinds = args.kinds.split(",")
    tallies = [run_kind(k, args.seed + KINDS[k], args.clips, cfg) for k in kinds]
    text = report(tallies, args)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
