"""Sanity of every training sound source: each class's notes at their pitch, levels, no NaN, speed.

    python benchmarks/check_sources.py [--out benchmarks/results/sources.md] [--wavs /tmp/sources]

For each training source (``instruments.SOURCES`` with role "train") and each class it plays, renders single
notes across the class's range (melodic classes: 1.5 s notes, every 5 semitones, the own program and its
variants) and measures their fundamental by autocorrelation between 0.3 and 1.2 s; then one 6 s phrase with
accompaniment and expression (``instruments.performance`` / ``expression``, seed 0) for its level, peak and
CPU time. The far source is left out (nothing is tuned on it). Writes a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
import wave
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import builder, instruments  # noqa: E402
from pixelsound.builder import BuildConfig  # noqa: E402
from pixelsound.melody import Note  # noqa: E402

RATE = 22050


def fundamental(x: np.ndarray) -> float:
    """Pitch (Hz) by autocorrelation: the first peak above 90 % of the highest, refined by a parabola."""
    x = x - x.mean()
    corr = np.fft.irfft(np.abs(np.fft.rfft(x, 2 * len(x))) ** 2)[: len(x)]
    low, high = RATE // 2000, RATE // 40
    best = corr[low:high].max()
    lag = next(k for k in range(low, high) if corr[k] > 0.9 * best and corr[k - 1] <= corr[k] >= corr[k + 1])
    a, b, c = corr[lag - 1 : lag + 2]
    return RATE / (lag + 0.5 * (a - c) / (a - 2 * b + c))


def pitch_errors(player, inst: instruments.Instrument) -> np.ndarray:
    """|Cents| between each note's measured fundamental and its pitch (the estimator's octave errors
    folded)."""
    cents = []
    for program in (None, *inst.variants):
        for pitch in range(inst.low, inst.high + 1, 5):
            x = player.render(inst, [Note(0.1, 1.5, pitch, 100)], 2.0, program)
            error = 1200 * np.log2(
                fundamental(x[int(0.3 * RATE) : int(1.2 * RATE)]) / (440 * 2 ** ((pitch - 69) / 12))
            )
            cents.append(error - 1200 * round(error / 1200))
    return np.abs(np.array(cents))


def write_wav(path: Path, x: np.ndarray) -> None:
    """16-bit mono wav at RATE."""
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(RATE)
        fh.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def row(source: str, inst: instruments.Instrument, wavs: Path | None) -> str:
    """One table row: the source playing the class."""
    player = builder._renderer(BuildConfig(out=Path("/tmp"), clips=1, sample_rate=RATE), source)
    cents = pitch_errors(player, inst) if inst.kind == "melodic" else np.zeros(0)
    rng = np.random.default_rng(0)
    notes = instruments.performance(inst, rng, 6.0, RATE, accompany=0.3)
    controls = instruments.expression(inst, rng, notes, 6.0)
    start = time.process_time()
    x = player.render(inst, notes, 6.0, None, controls)
    cpu = time.process_time() - start
    if wavs is not None:
        write_wav(wavs / f"{source}-{inst.name}.wav", instruments.normalize(x))
    rms = 20 * np.log10(max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-9))
    pitch = f"{np.median(cents):.1f} / {cents.max():.1f}" if cents.size else "-"
    return (
        f"| {source} | {inst.name} | {pitch} | {rms:.1f} | {float(np.abs(x).max()):.2f} | "
        f"{'yes' if not np.isfinite(x).all() else 'no'} | {cpu:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sources.md")
    parser.add_argument("--wavs", type=Path, default=None, help="also write each phrase here")
    args = parser.parse_args()
    if args.wavs is not None:
        args.wavs.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Training sound sources: pitch, level, speed (`benchmarks/check_sources.py`)",
        "",
        "Command: `python benchmarks/check_sources.py`; CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}. Pitch: median / worst |cents| of single notes (the",
        "estimator's octave errors folded); level and peak of a 6 s phrase before normalization (dBFS, full",
        "scale 1.0); CPU seconds to render that phrase (a library's first use decodes it first). A class a",
        "source does not play falls back to FluidR3 (not listed).",
        "",
        "| source | class | pitch error (cents) | level (dBFS) | peak | NaN | CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for source in instruments.TRAIN_MIX:
        for inst in instruments.INSTRUMENTS:
            if builder._playable(source, (inst.name,)) == source:
                lines.append(row(source, inst, args.wavs))
                print(lines[-1], flush=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
