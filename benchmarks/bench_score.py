"""Scoring validation on generated test clips whose soundtracks are known.

    .venv/bin/python benchmarks/bench_score.py                      # builds /tmp/score-data if missing
    .venv/bin/python benchmarks/bench_score.py --data /tmp/score-data-240 --clips 240 --seed 4 --append
    .venv/bin/python benchmarks/bench_score.py --data DIR --model none --out /tmp/score.md

Data: `pixelsound data instruments --out DIR --clips 60 --seed 3` (built here when DIR is missing). Every
clip of the held-out splits (test, test_style, duet_test, silent_test) with its true soundtrack (the mp4's
own, or the wav kept aside for a silent clip). Instruments move on every note onset, so motion says when.

For each clip, one motion analysis and these candidate soundtracks, scored by ``pixelsound.score``:

* the true soundtrack;
* ``--others`` other clips' true soundtracks (the next clips in the list, wrapping around);
* the true soundtrack delayed and advanced by 250 ms (zero-padded);
* the true soundtrack shifted by a known random amount in +-1.5 s (seeded).

Reported: ROC AUC of the overall score (and of each sub-score) for true vs other (goal >= 0.95) and true vs
+-250 ms (goal >= 0.9); the share of known shifts whose estimated offset is within one video frame (goal >=
90 %); how often the true soundtrack ranks first among all its candidates; sounding objects found vs
instruments in the clip; motion-event and audio-onset F1 against the sidecar's note onsets; seconds per clip.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pixelsound import attribution, io, onsets, score  # noqa: E402
from pixelsound.clip import FileClip  # noqa: E402
from pixelsound.index import read_index  # noqa: E402

SPLITS = ("test", "test_style", "duet_test", "silent_test")
SHIFT_MS = 250.0


@dataclass
class Clip:
    """One test clip: its video, true soundtrack file, sidecar, number of instruments."""

    video: Path
    soundtrack: Path
    sidecar: dict
    instruments: int


def build_data(data: Path, clips: int, seed: int) -> None:
    """Run the data builder (its own CLI, so the benchmark exercises what users run)."""
    command = [sys.executable, "-m", "pixelsound.cli", "data", "instruments", "--out", str(data),
               "--clips", str(clips), "--seed", str(seed)]  # fmt: skip
    print("building:", " ".join(command[2:]), flush=True)
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise SystemExit(
            f"building {data} failed (message above); the builder needs the project set up (./dev)"
        )


def load_clips(data: Path, splits: tuple[str, ...]) -> list[Clip]:
    """The held-out clips of the given splits, in index order."""
    found = []
    for split in splits:
        path = data / f"{split}.jsonl"
        if not path.is_file():
            continue
        for record in read_index(path):
            video = Path(record["path"]) if Path(record["path"]).is_absolute() else data / record["path"]
            sidecar = json.loads((data / record["sidecar"]).read_text())
            track = data / record["soundtrack"] if record.get("soundtrack") else video
            found.append(Clip(video, track, sidecar, len(sidecar["instruments"])))
    return found


def shifted(wave: torch.Tensor, seconds: float, sr: int) -> torch.Tensor:
    """The same length, delayed by ``seconds`` (advanced when negative), zero-padded."""
    n = int(round(seconds * sr))
    out = torch.zeros_like(wave)
    if n >= 0:
        out[n:] = wave[: len(wave) - n]
    else:
        out[:n] = wave[-n:]
    return out


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a positive scores above a negative (ties count half)."""
    pos, neg = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


def score_clip(clip: Clip, tracks: dict, index: int, clips: list[Clip], args, net, rng) -> dict:
    """All candidates of one clip, with the facts needed for the tables."""
    options = score.ScoreOptions()
    sr = options.sample_rate
    source = FileClip(clip.video)
    video = score.motion_clip(source, options)
    true = tracks[clip.soundtrack]
    lag = float(rng.uniform(-1.5, 1.5))
    audios = [("true", true)]
    audios += [
        (f"other{k}", tracks[clips[(index + k) % len(clips)].soundtrack]) for k in range(1, args.others + 1)
    ]
    audios += [("late", shifted(true, SHIFT_MS / 1000, sr)), ("early", shifted(true, -SHIFT_MS / 1000, sr))]
    audios += [("lag", shifted(true, lag, sr))]
    start = time.perf_counter()
    result = score.score_frames(
        video.frames, video.fps, audios, sr, model=net, clip=source, video_size=source.size,
        t0=video.t0, name=clip.video.name, options=options,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    by_name = {c.name: c for c in result.candidates}
    notes = sorted({t for part in clip.sidecar["instruments"] for t in part["onsets"]})
    tolerance = 500.0 / video.fps + 10.0
    return {
        "clip": clip, "result": result, "by_name": by_name, "lag_ms": lag * 1000, "fps": video.fps,
        "seconds": seconds, "true_first": result.candidates[0].name == "true",
        "motion_f1": onsets.f_measure(notes, result.motion_events.times, tolerance).f1,
        "onset_f1": onsets.f_measure(notes, by_name["true"].onsets.times, 50.0).f1,
    }  # fmt: skip


SUBSCORES = {
    "score (overall)": lambda c: c.score,
    "sync F1": lambda c: c.sync.f1,
    "rhythm": lambda c: c.rhythm,
    "attribution": lambda c: c.attribution,
    "correspondence": lambda c: c.correspondence,
}


def auc_rows(rows: list[dict], others: int) -> list[tuple[str, float, float]]:
    """(sub-score, AUC true vs other, AUC true vs +-250 ms) for each sub-score that was computed."""
    table = []
    for name, get in SUBSCORES.items():
        true = [get(r["by_name"]["true"]) for r in rows]
        if any(v is None for v in true):
            continue
        other = [get(r["by_name"][f"other{k}"]) for r in rows for k in range(1, others + 1)]
        shift = [get(r["by_name"][s]) for r in rows for s in ("late", "early")]
        table.append((name, roc_auc(true, other), roc_auc(true, shift)))
    return table


def offset_stats(rows: list[dict]) -> dict:
    """Offset errors for the known random shifts and for the unshifted true soundtracks."""
    err = np.array([r["by_name"]["lag"].offset_ms - r["lag_ms"] for r in rows])
    zero = np.array([r["by_name"]["true"].offset_ms for r in rows])
    frame = np.array([1000.0 / r["fps"] for r in rows])
    fixed = np.array([r["by_name"][s].offset_ms - sign * SHIFT_MS for r in rows for s, sign in
                      (("late", 1), ("early", -1))])  # fmt: skip
    return {
        "within_frame": float(np.mean(np.abs(err) <= frame)),
        "zero_within_frame": float(np.mean(np.abs(zero) <= frame)),
        "fixed_within_frame": float(np.mean(np.abs(fixed) <= np.repeat(frame, 2))),
        "median_abs_ms": float(np.median(np.abs(err))),
        "bias_ms": float(np.median(np.concatenate([err, zero]))),
        "frame_ms": float(frame.mean()),
    }


def describe_data(rows: list[dict], args, described: str, load: tuple[float, ...]) -> list[str]:
    """The report's opening paragraphs: command, data, model, machine, candidates."""
    built = "built by `pixelsound data instruments`"
    manifest = args.data / "dataset.json"
    if manifest.is_file():
        cfg = json.loads(manifest.read_text()).get("config", {})
        built = f"`pixelsound data instruments --clips {cfg.get('clips')} --seed {cfg.get('seed')}`"
    kinds: dict[str, int] = {}
    for r in rows:
        kind = "silent" if r["clip"].sidecar.get("silent") else r["clip"].sidecar["kind"]
        kinds[kind] = kinds.get(kind, 0) + 1
    counts = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    frame_ms = 1000.0 / rows[0]["fps"]
    return [
        "# Scoring soundtracks (`pixelsound score`)",
        "",
        f"Command: `{args.command}`",
        "",
        f"Data: `{args.data}` ({built}), splits {', '.join(args.splits)}: {len(rows)} clips ({counts}), "
        f"{rows[0]['fps']:g} fps (one frame = {frame_ms:.0f} ms). Model: {described}. Machine: 2 CPU cores "
        f"(capability {torch.backends.cpu.get_cpu_capability()}) shared with other jobs "
        f"(load average {load[0]:.1f} at the start).",
        "",
        f"Candidates per clip: the true soundtrack, {args.others} other clips' soundtracks, the true one "
        f"delayed and advanced by {SHIFT_MS:.0f} ms, and the true one shifted by a known random amount in "
        f"+-1.5 s (seed {args.shift_seed}).",
        "",
    ]


def goal_table(aucs: list[tuple[str, float, float]], off: dict) -> list[str]:
    """The three goals of the issue, with pass/fail."""
    _, other, shift = aucs[0]
    verdict = lambda ok: "pass" if ok else "FAIL"  # noqa: E731
    return [
        "## Goals",
        "",
        "| measure | value | goal | |",
        "|---|---|---|---|",
        f"| ROC AUC, true vs another clip's soundtrack (overall score) | {other:.3f} | >= 0.95 | "
        f"{verdict(other >= 0.95)} |",
        f"| ROC AUC, true vs the same soundtrack shifted by +-{SHIFT_MS:.0f} ms (overall score) | "
        f"{shift:.3f} | >= 0.9 | {verdict(shift >= 0.9)} |",
        f"| offsets within one frame, known shifts in +-1.5 s | {off['within_frame']:.1%} | >= 90 % | "
        f"{verdict(off['within_frame'] >= 0.9)} |",
        "",
        "## Sub-scores (ROC AUC)",
        "",
        "| sub-score | true vs other | true vs +-250 ms |",
        "|---|---|---|",
        *(f"| {name} | {a:.3f} | {b:.3f} |" for name, a, b in aucs),
        "",
    ]


def detail_table(rows: list[dict], args, off: dict, wall: float) -> list[str]:
    """Offsets, ranking, objects, event detection and time."""
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    objects_ok = float(np.mean([len(r["result"].regions) == r["clip"].instruments for r in rows]))
    n = args.others + 4
    return [
        "## Offsets, ranking, objects, events",
        "",
        "| measure | value |",
        "|---|---|",
        f"| estimated offset within one frame, known random shifts | {off['within_frame']:.1%} |",
        f"| ... the +-250 ms shifts | {off['fixed_within_frame']:.1%} |",
        f"| ... the true soundtrack (offset 0) | {off['zero_within_frame']:.1%} |",
        f"| median absolute offset error, random shifts | {off['median_abs_ms']:.0f} ms |",
        f"| median offset error, random shifts and true (bias) | {off['bias_ms']:+.0f} ms |",
        f"| true soundtrack ranked first among its {n} candidates | {mean('true_first'):.1%} |",
        f"| sounding objects found == instruments in the clip | {objects_ok:.1%} |",
        f"| motion events vs note onsets, F1 (tolerance half a frame + 10 ms) | {mean('motion_f1'):.3f} |",
        f"| audio onsets vs note onsets, F1 (tolerance 50 ms) | {mean('onset_f1'):.3f} |",
        f"| scoring time per clip ({n} candidates, decoded) | {mean('seconds'):.2f} s (run {wall:.0f} s) |",
        "",
    ]


def report(rows: list[dict], args, described: str, load: tuple[float, ...], wall: float) -> str:
    """The results as markdown."""
    off = offset_stats(rows)
    lines = describe_data(rows, args, described, load)
    lines += goal_table(auc_rows(rows, args.others), off)
    lines += detail_table(rows, args, off, wall)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/score-data"))
    parser.add_argument("--clips", type=int, default=60, help="clips to build when --data is missing")
    parser.add_argument("--seed", type=int, default=3, help="builder seed when --data is missing")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    parser.add_argument("--others", type=int, default=3, help="other clips' soundtracks per clip")
    parser.add_argument("--shift-seed", type=int, default=0)
    parser.add_argument("--model", default="default", help="release folder, 'default' (bundled) or 'none'")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "score.md")
    parser.add_argument(
        "--append", action="store_true", help="add to --out (one more data set) instead of replacing"
    )
    args = parser.parse_args()
    args.command = " ".join([".venv/bin/python benchmarks/bench_score.py", *sys.argv[1:]])
    torch.set_num_threads(2)
    if not args.data.is_dir():
        build_data(args.data, args.clips, args.seed)
    clips = load_clips(args.data, tuple(args.splits))
    if len(clips) < args.others + 1:
        raise SystemExit(f"{args.data}: only {len(clips)} held-out clips in {args.splits}; build more")
    net = attribution.scoring_model(args.model)
    described = net.name if net else None
    sr = score.ScoreOptions().sample_rate
    tracks = {c.soundtrack: io.read_audio(c.soundtrack, sr)[0] for c in clips}
    rng = np.random.default_rng(args.shift_seed)
    load, start, rows = os.getloadavg(), time.perf_counter(), []
    for i, clip in enumerate(clips):
        rows.append(score_clip(clip, tracks, i, clips, args, net, rng))
        print(f"[{i + 1}/{len(clips)}] {clip.video.name}: true first={rows[-1]['true_first']}", flush=True)
    text = report(rows, args, described or "none (motion and onsets only)", load, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.append and args.out.is_file():
        text = (
            args.out.read_text().rstrip("\n")
            + "\n\n"
            + text.replace("score`)", "score`), another data set", 1)
        )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
