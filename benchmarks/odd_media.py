"""Odd real-world media through every verb: each run gives a right result or a clean one-line error.

About thirty files crafted with PyAV (tests/oddmedia.py): odd sizes and rates, mono to 5.1, missing and
silent streams, truncated and empty files, damaged packets, AVI timestamps in decode order, audio starting
late, and the codecs and containers PyAV writes here. Each goes through ``separate``, ``pixels``, ``foley``,
``score`` and ``index`` as a user runs them (``pixelsound.cli.main``; ``--subprocess``: a process per run).
A run is right when it succeeds with the expected duration and shapes, or, where the file cannot serve the
verb, exits 1 with one error line naming the file and no traceback. Writes benchmarks/results/odd_media.md
(and .json; a run with ``--only`` replaces its rows).

Usage: nice -n 15 python benchmarks/odd_media.py [--work /tmp/odd_media] [--only NAME ...] [--verbs V ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from oddmedia import corrupt_packet, write_media  # noqa: E402

from pixelsound import io  # noqa: E402

MODEL = ROOT / "pixelsound" / "assets" / "model"
VERBS = ("separate", "pixels", "foley", "score", "index")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's pixelsound, whatever is installed


@dataclass(frozen=True)
class Case:
    """One crafted file and what a right answer about it is."""

    name: str
    make: Callable[[Path], Path]
    duration: float = 2.0  # seconds every stream covers (None: the file is unusable)
    video: bool = True
    audio: bool = True
    size: tuple[int, int] | None = (48, 64)  # (H, W) as displayed
    broken: str | None = None  # a word the error must contain, for files no verb can use
    note: str = ""
    slack: float = 0.0  # extra tolerance on durations (a variable-rate video's last frame has no set length)


def _media(name: str, **kwargs) -> Callable[[Path], Path]:
    return lambda folder: write_media(folder / name, **kwargs)


def _cut(name: str, keep: float, **kwargs) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = write_media(folder / name, **kwargs)
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * keep)])
        return path

    return make


def _damaged(name: str, kind: str, packets: list[int], **kwargs) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = write_media(folder / name, **kwargs)
        for index in packets:
            corrupt_packet(path, kind, index)
        return path

    return make


def _empty(folder: Path) -> Path:
    path = folder / "zero_length.mp4"
    path.write_bytes(b"")
    return path


VFR = [0.0, 0.1, 0.15, 0.4, 0.5, 0.9, 1.3, 1.35, 1.7, 1.95]
CASES = [
    Case("h264_aac.mp4", _media("h264_aac.mp4"), note="baseline"),
    Case(
        "odd_size.webm",
        _media("odd_size.webm", vcodec="libvpx-vp9", acodec="libopus", size=(47, 63)),
        size=(47, 63),
        note="odd width and height, VP9 + Opus",
    ),  # fmt: skip
    Case(
        "one_pixel.mkv",
        _media("one_pixel.mkv", vcodec="libvpx-vp9", acodec="libopus", size=(1, 1)),
        size=(1, 1),
        note="1x1 frames",
    ),  # fmt: skip
    Case("wide.mp4", _media("wide.mp4", size=(16, 512)), size=(16, 512), note="aspect 32:1"),
    Case("tall.mkv", _media("tall.mkv", size=(400, 16)), size=(400, 16), note="aspect 1:25"),
    Case(
        "hd_51.mp4",
        _media("hd_51.mp4", size=(720, 1280), channels=6),
        size=(720, 1280),
        note="1280x720 with 5.1 AAC",
    ),  # fmt: skip
    Case("ac3_51.mkv", _media("ac3_51.mkv", acodec="ac3", channels=6), note="5.1 AC-3"),
    Case("sr8k_mono.mp4", _media("sr8k_mono.mp4", sr=8000, channels=1), note="8 kHz mono AAC"),
    Case("sr96k_flac.mkv", _media("sr96k_flac.mkv", acodec="flac", sr=96000), note="96 kHz FLAC"),
    Case(
        "sr11025.avi",
        _media("sr11025.avi", vcodec="mpeg4", acodec="pcm_s16le", sr=11025, channels=1),
        note="11.025 kHz PCM in AVI",
    ),  # fmt: skip
    Case("vfr.mkv", _media("vfr.mkv", times=VFR), note="variable frame rate", slack=0.25),
    Case("fps1.mp4", _media("fps1.mp4", fps=1.0, seconds=4.0), duration=4.0, note="1 fps"),
    Case("fps120.mp4", _media("fps120.mp4", fps=120.0, seconds=1.5), duration=1.5, note="120 fps"),
    Case("mono.mov", _media("mono.mov", channels=1), note="mono, QuickTime"),
    Case("mjpeg_pcm.avi", _media("mjpeg_pcm.avi", vcodec="mjpeg", acodec="pcm_s16le"), note="MJPEG + PCM"),
    Case(
        "mpeg4_mp3.avi",
        _media("mpeg4_mp3.avi", vcodec="mpeg4", acodec="libmp3lame", sr=44100),
        note="MPEG-4 + MP3 in AVI",
    ),  # fmt: skip
    Case("h264_opus.mkv", _media("h264_opus.mkv", acodec="libopus"), note="Opus in Matroska"),
    Case("no_audio.mp4", _media("no_audio.mp4", acodec=None), audio=False, note="video only"),
    Case("no_video.mp4", _media("no_video.mp4", vcodec=None), video=False, size=None, note="audio only"),
    Case("silent.mp4", _media("silent.mp4", silent=True), note="digital silence"),
    Case("truncated.mp4", _cut("truncated.mp4", 0.5), duration=None, broken="truncated", note="cut in half"),
    Case("truncated.mkv", _cut("truncated.mkv", 0.6), duration=None, broken="truncated", note="cut at 60 %"),
    Case("zero_length.mp4", _empty, duration=None, broken="empty", note="0 bytes"),
    Case(
        "bad_first_ac3.avi",
        _damaged("bad_first_ac3.avi", "audio", [0], vcodec="mpeg4", acodec="ac3"),
        note="first AC-3 packet damaged",
    ),  # fmt: skip
    Case(
        "bad_mp3_packets.mkv",
        _damaged("bad_mp3_packets.mkv", "audio", [3, 9], acodec="libmp3lame", sr=44100),
        note="two MP3 packets damaged mid-stream",
    ),  # fmt: skip
    Case(
        "bframes.avi",
        _media("bframes.avi", acodec="ac3", video_options={"bf": "3"}),
        note="h264 B-frames in AVI: decode-order timestamps",
    ),  # fmt: skip
    Case(
        "audio_late.mp4",
        _media("audio_late.mp4", seconds=3.0, audio_offset=1.0),
        duration=3.0,
        note="audio starts 1 s after video",
    ),  # fmt: skip
    Case(
        "audio_late.mkv",
        _media("audio_late.mkv", seconds=3.0, audio_offset=1.0),
        duration=3.0,
        note="audio starts 1 s after video",
    ),  # fmt: skip
    Case("short.mp4", _media("short.mp4", seconds=0.4), duration=0.4, note="0.4 s"),
]


# ------------------------------------------------------------------------------------------- running


@dataclass
class Run:
    verb: str
    case: str
    verdict: str  # "ok", "clean error", or "WRONG: ..."
    seconds: float
    detail: str


def _argv(verb: str, path: Path, out: Path) -> list[str]:
    cli = [verb]
    if verb == "separate":
        return cli + [str(path), "--model", str(MODEL), "--out", str(out)]
    if verb == "pixels":
        return cli + [str(path), "--out", str(out), "--page-seconds", "1"]
    if verb == "foley":
        return cli + ["make", str(path), "-o", str(out / "out.mp4")]
    if verb == "score":
        return cli + [str(path), "--json"]
    return cli + [str(path.parent), "-o", str(out / "index.jsonl")]


def _needs(verb: str, case: Case) -> str | None:
    """Why the verb cannot work on this file (an error is then the right answer), or None."""
    if case.broken:
        return case.broken
    if verb in ("separate", "pixels", "index") and not case.audio:
        return "audio"
    if not case.video:
        return "video"
    return None


def _subprocess(argv: list[str], out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pixelsound.cli", *argv]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=out, env=ENV)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, -9, "", "Traceback: hangs (> 600 s)")


def _in_process(argv: list[str], out: Path) -> subprocess.CompletedProcess:
    """``pixelsound.cli.main(argv)`` here, its output captured; an exception escaping it is a traceback."""
    from pixelsound import cli

    stdout, stderr = StringIO(), StringIO()
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli.main(argv)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    except Exception:
        stderr.write(traceback.format_exc())
        code = 1
    finally:
        logging.getLogger().removeHandler(handler)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


def run_one(verb: str, case: Case, path: Path, out: Path, execute=_in_process) -> Run:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    begin = time.perf_counter()
    done = execute(_argv(verb, path, out), out)
    seconds = time.perf_counter() - begin
    text = done.stdout + done.stderr
    if "Traceback" in text:
        return Run(verb, case.name, "WRONG: traceback", seconds, _last_line(text))
    why = _needs(verb, case)
    if verb == "index":
        return _judge_index(case, path, out, why, seconds, done.returncode)
    if done.returncode != 0:
        return _judge_error(verb, case, path, why, seconds, done)
    if why is not None:
        return Run(verb, case.name, f"WRONG: succeeded without {why}", seconds, _last_line(text))
    problem, fact = CHECKS[verb](case, path, out, done.stdout)
    return Run(verb, case.name, f"WRONG: {problem}" if problem else "ok", seconds, fact)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and "%|" not in line]
    return lines[-1][:160] if lines else ""


def _judge_error(verb: str, case: Case, path: Path, why, seconds: float, done) -> Run:
    errors = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("ERROR")]
    message = errors[-1] if errors else _last_line(done.stdout + done.stderr)
    if why is None:
        return Run(verb, case.name, "WRONG: failed", seconds, message)
    if path.name not in message:
        return Run(verb, case.name, "WRONG: error does not name the file", seconds, message)
    if done.returncode != 1:
        return Run(verb, case.name, f"WRONG: exit code {done.returncode}", seconds, message)
    return Run(verb, case.name, "clean error", seconds, message)


def _judge_index(case: Case, path: Path, out: Path, why, seconds: float, code: int) -> Run:
    records = (
        [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()] if code == 0 else []
    )
    rejects_path = out / "index.rejects.jsonl"
    rejects = (
        [json.loads(line) for line in rejects_path.read_text().splitlines()] if rejects_path.exists() else []
    )
    mine = [r for r in records if r["path"].endswith(path.name)]
    refused = [r["reason"] for r in rejects if r["path"].endswith(path.name)]
    if why is not None:
        verdict = "clean error" if refused and not mine else f"WRONG: indexed without {why}"
        return Run("index", case.name, verdict, seconds, refused[0] if refused else "")
    if not mine:
        return Run("index", case.name, "WRONG: rejected", seconds, refused[0] if refused else f"exit {code}")
    record = mine[0]
    problem = _off(record["duration"], case, "duration") or _off_size(record, case)
    return Run(
        "index", case.name, f"WRONG: {problem}" if problem else "ok", seconds, f"{record['duration']:.2f} s"
    )


def _off(got: float, case: Case, what: str, tolerance: float = 0.1) -> str | None:
    """Why a duration is wrong for this case, or None."""
    ok = abs(got - case.duration) <= tolerance + case.slack
    return None if ok else f"{what} {got:.2f} s, expected {case.duration:.2f} s"


def _off_size(facts: dict, case: Case) -> str | None:
    got = (facts.get("height"), facts.get("width"))
    return None if case.size is None or got == case.size else f"size {got}, expected {case.size}"


def _check_separate(case: Case, path: Path, out: Path, stdout: str) -> tuple[str | None, str]:
    wavs = sorted(out.rglob("*.wav"))
    if len(wavs) != 2:
        return f"wrote {[w.name for w in wavs]}", ""
    length = min(io.probe(w).duration for w in wavs)
    return _off(length, case, "separated audio", 0.06), f"mix and source {length:.2f} s"


def _check_pixels(case: Case, path: Path, out: Path, stdout: str) -> tuple[str | None, str]:
    facts = json.loads((out / "pixels.json").read_text())
    problem = _off(facts["duration"], case, "duration")
    for name in facts["files"]["objects"]:
        problem = problem or _off(io.probe(out / name).duration, case, name, 0.06)
    if facts["files"]["overlay"] is None or not (out / "index.html").is_file():
        return problem or "no overlay.mp4 or no page", ""
    overlay = io.probe(out / "overlay.mp4")
    fact = f"{len(facts['files']['objects'])} objects, overlay {overlay.duration:.2f} s {overlay.channels} ch"
    return problem or _off(overlay.duration, case, "overlay.mp4", 0.15), fact


def _check_foley(case: Case, path: Path, out: Path, stdout: str) -> tuple[str | None, str]:
    info = io.probe(out / "out.mp4")
    if not (info.has_audio and info.has_video):
        return "out.mp4 lacks a stream", ""
    source = io.probe(path)
    fact = f"out.mp4 {info.duration:.2f} s, {info.num_frames} frames"
    if info.num_frames != source.num_frames:
        return f"out.mp4 has {info.num_frames} frames, the input {source.num_frames}", fact
    return _off(info.duration, case, "out.mp4", 0.15), fact


def _check_score(case: Case, path: Path, out: Path, stdout: str) -> tuple[str | None, str]:
    report = json.loads(stdout)
    problem = _off(report["duration"], case, "duration")
    own = [s for s in report.get("candidates", []) if s.get("candidate") == "own soundtrack"]
    if case.audio and not own and not problem:
        problem = "own soundtrack not scored"
    if not torch.tensor(report["sounding_map"]).numel():
        problem = problem or "empty sounding map"
    fact = f"{report['duration']:.2f} s at {report['fps']:.1f} fps" + (
        f", own score {own[0]['score']}" if own else ""
    )
    return problem, fact


CHECKS = {"separate": _check_separate, "pixels": _check_pixels, "foley": _check_foley, "score": _check_score}


# ------------------------------------------------------------------------------------------- report


def _stamp() -> str:
    """The code a run measured: commit (with '+' for uncommitted changes) and UTC date."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "pixelsound"], cwd=ROOT).returncode
    return f"{head.stdout.strip()}{'+' if dirty else ''} {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC"


def merge_runs(path: Path, runs: list[Run], stamp: str) -> list[dict]:
    """The results file's runs with these replacing the same (file, verb), in matrix order."""
    old = json.loads(path.read_text()) if path.exists() else []
    rows = {(r["case"], r["verb"]): r for r in old}
    rows.update({(r.case, r.verb): {**vars(r), "stamp": stamp} for r in runs})
    order = {c.name: i for i, c in enumerate(CASES)}
    keep = [r for key, r in rows.items() if key[0] in order]
    return sorted(keep, key=lambda r: (order[r["case"]], VERBS.index(r["verb"])))


def write_table(rows: list[dict], path: Path) -> None:
    wrong = [r for r in rows if r["verdict"].startswith("WRONG")]
    stamps = sorted({r["stamp"] for r in rows})
    lines = [
        "# Odd media through every verb",
        "",
        "Command: `nice -n 15 python benchmarks/odd_media.py` (a subset with `--only FILE ... --verbs VERB`",
        "replaces those rows). Files are crafted by tests/oddmedia.py; each run calls `pixelsound.cli.main`",
        "(`--subprocess`: one `python -m pixelsound.cli` each). Right: success with the expected",
        "duration/shape, or (for a file that cannot serve the verb) exit 1 with one error line naming the",
        "file, no traceback. Seconds: wall time on a shared 2-core machine at nice 15 beside training; CPU",
        f"capability {torch.backends.cpu.get_cpu_capability()}.",
        f"Code measured: {', '.join(stamps)}.",
        "",
        f"**{len(rows)} runs: {sum(r['verdict'] == 'ok' for r in rows)} right results, "
        f"{sum(r['verdict'] == 'clean error' for r in rows)} clean errors, {len(wrong)} wrong.**",
        "",
        "| file | what | verb | verdict | s | detail |",
        "|---|---|---|---|---|---|",
    ]
    notes = {c.name: c.note for c in CASES}
    for r in rows:
        cells = [r["case"], notes[r["case"]], r["verb"], r["verdict"], f"{r['seconds']:.1f}", r["detail"]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/odd_media"))
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--verbs", nargs="*", default=list(VERBS), choices=VERBS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "odd_media.md")
    parser.add_argument("--subprocess", action="store_true", help="one `python -m pixelsound.cli` per run")
    args = parser.parse_args()
    execute = _subprocess if args.subprocess else _in_process
    cases = [c for c in CASES if not args.only or c.name in args.only]
    shutil.rmtree(args.work, ignore_errors=True)
    stamp, runs = _stamp(), []
    for case in cases:
        folder = args.work / "media" / case.name
        folder.mkdir(parents=True)
        path = case.make(folder)
        for verb in args.verbs:
            runs.append(run_one(verb, case, path, args.work / "out" / f"{case.name}.{verb}", execute))
            print(
                f"{case.name:22} {verb:8} {runs[-1].verdict:28} {runs[-1].seconds:5.1f} s  {runs[-1].detail}"
            )
    write_table(merge_runs(args.out.with_suffix(".json"), runs, stamp), args.out)
    return 1 if any(r.verdict.startswith("WRONG") for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
