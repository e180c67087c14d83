"""``pixelsound score``: the command line over :mod:`pixelsound.score`, and its report.

``pixelsound score VIDEO [--audio A.wav ...] [--json]`` scores one clip; ``pixelsound score DIR --csv
scores.csv`` every video under a folder (a file that cannot be read becomes a row with its error). The
report is a table per clip (:func:`format_result`, the sounding map drawn in text), JSON
(:meth:`pixelsound.score.ScoreResult.to_dict`) or CSV rows (:func:`result_rows`, :data:`CSV_FIELDS`).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pixelsound import checkpoint
from pixelsound.attribution import LoadedModel, scoring_model
from pixelsound.errors import UserError
from pixelsound.index import find_videos
from pixelsound.score import AudioScore, ScoreOptions, ScoreResult, score

log = logging.getLogger(__name__)

SHADES = " .:-=+*#%@"


def ascii_map(level: np.ndarray) -> list[str]:
    """The sounding map as text, two characters per cell."""
    index = np.clip((level * (len(SHADES) - 1)).round().astype(int), 0, len(SHADES) - 1)
    return ["|" + "".join(SHADES[i] * 2 for i in row) + "|" for row in index]


def _candidate_line(rank: int, c: AudioScore) -> str:
    attr = "  -  " if c.attribution is None else f"{c.attribution:5.2f}"
    off = "-" if math.isnan(c.offset_ms) else f"{c.offset_ms:+.0f}"
    sync = f"{c.sync.f1:5.2f} ({c.sync.precision:.2f} / {c.sync.recall:.2f})"
    return (
        f"  {rank:4d}  {c.score:5.2f}  {c.correspondence:5.2f} ({attr}  {c.rhythm:5.2f})  {sync}  {off:>9}  "
        + (f"{c.aligned_f1:10.2f}  {c.name}")
    )


def format_result(result: ScoreResult) -> str:
    """A human-readable report of one clip."""
    lines = [
        f"{result.video}: {result.duration:.2f} s at {result.fps:g} fps, "
        f"{len(result.motion_events)} motion events, model: {result.model or 'none (motion, onsets only)'}",
        f"sounding map ({result.sounding_map.shape[0]}x{result.sounding_map.shape[1]}):",
        *("  " + row for row in ascii_map(result.sounding_map)),
        f"sounding objects: {len(result.regions)}",
    ]
    for i, region in enumerate(result.regions, 1):
        lines.append(
            f"  {i}. box {region.box}  area {region.area:.0%}  score {region.score:.2f}  "
            f"events {len(region.events)}"
        )
    if result.candidates:
        lines.append(f"soundtracks, best first (sync tolerance {result.tolerance_ms:.0f} ms):")
        lines.append(
            "  rank  score  match (attrib rhythm)  sync F1 (P / R)     offset ms  aligned F1  candidate"
        )
        lines += [_candidate_line(rank, c) for rank, c in enumerate(result.candidates, 1)]
    else:
        lines.append("no soundtrack: silent clip (give candidates with --audio)")
    return "\n".join(lines)


CSV_FIELDS = (
    "video", "rank", "candidate", "score", "correspondence", "attribution", "rhythm", "sync_f1",
    "sync_precision", "sync_recall", "offset_ms", "offset_confidence", "aligned_f1", "onsets", "objects",
    "motion_events", "error",
)  # fmt: skip


def result_rows(result: ScoreResult) -> list[dict]:
    """CSV rows of one clip: one per soundtrack (or one for a silent clip)."""
    base = {"video": result.video, "objects": len(result.regions), "motion_events": len(result.motion_events)}
    if not result.candidates:
        return [base]
    return [base | {"rank": rank} | c.row() for rank, c in enumerate(result.candidates, 1)]


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Rows with the :data:`CSV_FIELDS` columns (missing ones empty)."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="a video file, or a folder of videos (batch mode)")
    parser.add_argument(
        "--audio", nargs="+", default=[], metavar="FILE", help="candidate soundtracks to rank"
    )
    parser.add_argument("--no-own", action="store_true", help="do not score the video's own soundtrack")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--csv", metavar="FILE", help="write one row per clip and soundtrack (batch mode)")
    parser.add_argument("--model", default="default", help="release folder, 'default' (bundled) or 'none'")
    parser.add_argument("--tolerance-ms", type=float, default=None, help="sync tolerance (default: by fps)")
    parser.add_argument("--max-lag", type=float, default=2.0, help="offset search range in seconds")
    parser.add_argument(
        "--method",
        choices=("diff", "flow", "displacement"),
        default="diff",
        help="motion measure (motion.py)",
    )


def _options(args: argparse.Namespace) -> ScoreOptions:
    return ScoreOptions(tolerance_ms=args.tolerance_ms, max_lag_s=args.max_lag, method=args.method)


def _batch(args: argparse.Namespace, loaded: LoadedModel | str, options: ScoreOptions) -> int:
    """Score every video under a folder; a bad file becomes a row with its error, never a crash."""
    videos = find_videos(args.target)
    if not videos:
        raise UserError(f"{args.target}: no video files (mp4, mkv, webm, avi, mov) in this folder")
    rows, results, failed = [], [], []
    for video in tqdm(videos, desc="score", unit="clip", disable=args.json):
        try:
            result = score(video, args.audio, model=loaded, own=not args.no_own, options=options)
        except Exception as err:  # a bad file is reported and skipped
            failed.append(str(err) if str(video) in str(err) else f"{video}: {err}")
            rows.append({"video": str(video), "error": str(err)})
            continue
        results.append(result)
        rows.extend(result_rows(result))
    if args.csv:
        write_csv(args.csv, rows)
    if args.json:
        _show(json.dumps({"results": [r.to_dict() for r in results], "errors": failed}, indent=1) + "\n")
    else:
        _show("".join(format_result(result) + "\n\n" for result in results))
        log.info(
            "scored %d of %d videos%s", len(results), len(videos), f"; wrote {args.csv}" if args.csv else ""
        )
    for line in failed:
        log.warning("skipped: %s", line)
    if not results:
        raise UserError(f"{args.target}: none of its {len(videos)} videos could be scored")
    return 0


def run(args: argparse.Namespace) -> int:
    options = _options(args)
    loaded = scoring_model(args.model) or checkpoint.NO_MODEL  # loaded once for every clip
    if Path(args.target).is_dir():
        return _batch(args, loaded, options)
    result = score(args.target, args.audio, model=loaded, own=not args.no_own, options=options)
    if args.csv:
        write_csv(args.csv, result_rows(result))
    _show((json.dumps(result.to_dict(), indent=1) if args.json else format_result(result)) + "\n")
    return 0


def _show(text: str) -> None:
    """The verb's report (tables or JSON) on stdout: its one print; progress and notes are logged."""
    print(text, end="")
