"""JSON-lines indexes of clips: scan a folder of videos, or migrate an original Sound-of-Pixels CSV.

One concern, clip indexes: scanning folders, reading and writing JSON lines, migrating CSVs.

One line per usable file::

    {"path": "solo/violin/0001.mp4", "duration": 8.0, "fps": 8.0, "num_frames": 64, "width": 224,
     "height": 224, "sample_rate": 11025, "channels": 1, "has_audio": true, "has_video": true,
     "video_codec": "h264", "audio_codec": "aac", "rotation": 0, "category": "violin", "split": "train"}

Paths are stored relative to the index file's folder and come back absolute from :func:`read_index`.
Records migrated from a Sound-of-Pixels CSV (``audio_path,frames_folder,num_frames``; audio is an mp3/wav,
frames a folder of jpgs) carry ``"audio_path"``, ``"frames_dir"`` and ``"num_frames"`` instead of a video;
their ``"path"`` is the audio file.

``pixelsound index DIR -o index.jsonl`` writes the index, prints a summary, and lists every rejected file with
its reason in ``index.rejects.jsonl`` next to it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pixelsound.atomic import write_text_atomic
from pixelsound.errors import UsageError, UserError
from pixelsound.io import MediaError, probe

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
PATH_KEYS = ("path", "audio_path", "frames_dir")  # stored relative to the index file's folder
SOP_FPS = 8.0  # the original Sound-of-Pixels code extracted frames at 8 fps
CATEGORY_SOURCES = ("sidecar", "folder", "none")


class IndexFileError(UserError, ValueError):
    """An index file (or a Sound-of-Pixels CSV) is malformed; the message names the file and line."""


# --------------------------------------------------------------------------------------------- read / write


def read_index(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON-lines index; relative paths come back absolute (resolved against the index's folder).

    Args:
        path: the index file.

    Returns:
        One dict per non-blank line.

    Raises:
        IndexFileError: missing file, a line that is not a JSON object, or a record without a "path".
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (FileNotFoundError, IsADirectoryError):
        raise IndexFileError(f"{path}: index file not found") from None
    except UnicodeDecodeError:
        raise IndexFileError(f"{path}: not a text file") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise IndexFileError(
                f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno})"
            ) from None
        if not isinstance(record, dict) or not isinstance(record.get("path"), str):
            raise IndexFileError(f'{path}:{number}: expected a JSON object with a string "path"')
        records.append(_resolve(record, path.parent))
    return records


def write_index(path: str | os.PathLike, records: Iterable[dict[str, Any]]) -> None:
    """Write records as JSON lines atomically (temporary file + rename), paths relative to the index's folder.

    Args:
        path: the index file (its folder is created).
        records: dicts with at least "path".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent.resolve()
    text = "".join(json.dumps(_relative(r, folder), sort_keys=False) + "\n" for r in records)
    write_text_atomic(text, path)


def _resolve(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    out = dict(record)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str) and not os.path.isabs(out[key]):
            out[key] = os.path.normpath(folder.resolve() / out[key])
    return out


def _relative(record: dict[str, Any], folder: Path) -> dict[str, Any]:
    out = dict(record)
    for key in PATH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = os.path.relpath(Path(out[key]).resolve(), folder)
    return out


# -------------------------------------------------------------------------------------------- scan a folder


def find_videos(folder: str | os.PathLike) -> list[Path]:
    """Every file under ``folder`` (recursive) with a video suffix, sorted; hidden files are skipped."""
    folder = Path(folder)
    found = [
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(found)


def category_of_file(path: Path, category_from: str) -> tuple[str | None, str | None]:
    """(category, split) of a file: from ``<stem>.json`` next to it, from its folder's name, or none.

    Raises:
        IndexFileError: the sidecar exists but is not a JSON object.
    """
    if category_from == "folder":
        return path.parent.name or None, None
    if category_from != "sidecar":
        return None, None
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None, None
    try:
        data = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IndexFileError(f"{sidecar}: sidecar is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise IndexFileError(f"{sidecar}: sidecar is not a JSON object")
    category, split = data.get("category"), data.get("split")
    return (str(category) if category is not None else None), (str(split) if split is not None else None)


def index_file(
    path: Path, *, min_duration: float = 0.0, require_audio: bool = True, category_from: str = "sidecar"
) -> dict[str, Any]:
    """Probe one video and build its index record.

    Raises:
        MediaError: the file is unusable; the reason says why (also for --min-duration / --require-audio).
        IndexFileError: its sidecar is malformed.
    """
    info = probe(path)
    if not info.has_video:
        raise MediaError(path, "no video stream")
    if require_audio and not info.has_audio:
        raise MediaError(path, "no audio stream (pass --no-require-audio to keep silent videos)")
    if info.duration < min_duration:
        raise MediaError(path, f"too short: {info.duration:.2f} s < --min-duration {min_duration:g} s")
    category, split = category_of_file(path, category_from)
    record = info.to_dict()
    record["path"] = str(path.resolve())
    record.update(category=category, split=split)
    return record


def scan(
    folder: str | os.PathLike,
    *,
    min_duration: float = 0.0,
    require_audio: bool = True,
    category_from: str = "sidecar",
    progress: bool = False,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Probe every video under ``folder``.

    Args:
        folder: searched recursively for mp4, mkv, webm, avi and mov files.
        min_duration: shorter files are rejected (seconds).
        require_audio: reject files without an audio stream.
        category_from: "sidecar" (``<stem>.json`` with a "category" key), "folder" (parent folder name, as
            MUSIC is laid out) or "none".
        progress: show a tqdm bar.

    Returns:
        ``(records, rejects)``; a reject is ``{"path": ..., "reason": ...}``.
    """
    if category_from not in CATEGORY_SOURCES:
        raise ValueError(f"category_from must be one of {CATEGORY_SOURCES}, got {category_from!r}")
    records, rejects = [], []
    for path in tqdm(find_videos(folder), desc="probing", unit="file", disable=not progress):
        try:
            records.append(
                index_file(
                    path, min_duration=min_duration, require_audio=require_audio, category_from=category_from
                )
            )
        except MediaError as err:
            rejects.append({"path": str(path.resolve()), "reason": err.reason})
        except IndexFileError as err:
            rejects.append({"path": str(path.resolve()), "reason": str(err)})
        except Exception as err:  # a bad file never stops the scan; the reason goes to the rejects
            log.debug("%s: unexpected failure", path, exc_info=True)
            rejects.append({"path": str(path.resolve()), "reason": f"unexpected {type(err).__name__}: {err}"})
    return records, rejects


# ------------------------------------------------------------------------------ Sound-of-Pixels CSV indexes


def read_sop_csv(
    path: str | os.PathLike, *, fps: float = SOP_FPS, category_from: str = "folder"
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Migrate an original Sound-of-Pixels CSV index (lines ``audio_path,frames_folder,num_frames``).

    Relative paths in the CSV are taken relative to the CSV's folder. Each audio file is probed; the frames
    folder must hold at least ``num_frames`` jpg/png files (frame k, counted from 0 in name order, is on
    screen from k / fps).

    Args:
        path: the CSV file.
        fps: the rate the frames were extracted at (8 in the original code).
        category_from: "folder" (the audio file's parent folder, e.g. ``audio/violin/x.mp3``), "sidecar" or
            "none".

    Returns:
        ``(records, rejects)`` as :func:`scan`; records have "audio_path", "frames_dir", "num_frames", "fps".

    Raises:
        IndexFileError: the CSV is missing or a line does not have three fields with an integer count.
    """
    path = Path(path)
    records, rejects = [], []
    for number, audio, frames_dir, count in _sop_rows(path):
        try:
            records.append(_sop_record(audio, frames_dir, count, fps, category_from))
        except MediaError as err:
            rejects.append({"path": str(audio), "reason": f"{path.name} line {number}: {err.reason}"})
        except IndexFileError as err:
            rejects.append({"path": str(audio), "reason": f"{path.name} line {number}: {err}"})
    return records, rejects


def _sop_rows(path: Path) -> Iterable[tuple[int, Path, Path, int]]:
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError):
        raise IndexFileError(f"{path}: CSV file not found") from None
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        try:
            audio, frames_dir, count = (cell.strip() for cell in row)
            count = int(count)
        except ValueError:
            raise IndexFileError(
                f"{path}:{number}: expected 'audio_path,frames_folder,num_frames', got {','.join(row)!r}"
            ) from None
        yield number, path.parent / audio, path.parent / frames_dir, count


def _sop_record(audio: Path, frames_dir: Path, count: int, fps: float, category_from: str) -> dict[str, Any]:
    info = probe(audio)
    if not info.has_audio:
        raise MediaError(audio, "no audio stream")
    images = frame_files(frames_dir)
    if count <= 0 or len(images) < count:
        raise MediaError(frames_dir, f"frames folder has {len(images)} images, CSV says {count}")
    category, split = category_of_file(audio, category_from)
    return {
        "path": str(audio.resolve()),
        "audio_path": str(audio.resolve()),
        "frames_dir": str(frames_dir.resolve()),
        "num_frames": count,
        "fps": fps,
        "duration": min(info.duration, count / fps),
        "width": 0,
        "height": 0,
        "sample_rate": info.sample_rate,
        "channels": info.channels,
        "has_audio": True,
        "has_video": True,
        "category": category,
        "split": split,
    }


def frame_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of a frames folder in name order (jpg, jpeg, png); [] when the folder is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


# ------------------------------------------------------------------------------------------------- the verb


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", nargs="?", help="folder searched recursively for mp4/mkv/webm/avi/mov files"
    )
    parser.add_argument("-o", "--out", required=True, help="the JSON-lines index to write")
    parser.add_argument(
        "--from-sop-csv", metavar="FILE", help="migrate an original Sound-of-Pixels CSV index"
    )
    parser.add_argument("--min-duration", type=float, default=0.0, help="reject shorter files (seconds)")
    parser.add_argument(
        "--require-audio",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reject videos without an audio stream (default: on)",
    )
    parser.add_argument(
        "--category-from",
        choices=CATEGORY_SOURCES,
        default=None,
        help="category source: <stem>.json sidecar 'category' key, parent folder name, or none "
        "(default: sidecar; folder with --from-sop-csv)",
    )
    parser.add_argument("--sop-fps", type=float, default=SOP_FPS, help="frame rate of a SoP frames folder")
    parser.add_argument(
        "--split",
        type=float,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        help="also write OUT.train/.val/.test.jsonl, split by video with these fractions",
    )


def run(args: argparse.Namespace) -> int:
    """Write the index and the rejects file; print a summary. Returns 0 (errors are raised)."""
    if bool(args.folder) == bool(args.from_sop_csv):
        raise UsageError("give a FOLDER or --from-sop-csv FILE (one of them)")
    if args.from_sop_csv:
        records, rejects = read_sop_csv(
            args.from_sop_csv, fps=args.sop_fps, category_from=args.category_from or "folder"
        )
    else:
        if not Path(args.folder).is_dir():
            raise IndexFileError(f"{args.folder}: not a folder")
        records, rejects = scan(
            args.folder,
            min_duration=args.min_duration,
            require_audio=args.require_audio,
            category_from=args.category_from or "sidecar",
            progress=True,
        )
    write_index(args.out, records)
    if args.split:
        for name, part in split_by_video(records, args.split).items():
            write_index(split_file(args.out, name), part)
            print(f"{name}: {len(part)} files -> {split_file(args.out, name)}")
    rejects_path = rejects_file(args.out)
    _write_rejects(rejects_path, rejects)
    print(summary(records, rejects, args.out, rejects_path))
    return 0


def video_key(record: dict[str, Any]) -> str:
    """What identifies a record's video: its file stem (MUSIC: the YouTube id; SoP: the audio file's stem)."""
    return Path(record.get("audio_path") or record["path"]).stem


def split_by_video(records: list[dict[str, Any]], fractions: Sequence[float]) -> dict[str, list[dict]]:
    """Split records into train / val / test so that all clips of one video land in the same split.

    A video's split is a pure function of its key (a hash), so adding videos never moves the others.

    Args:
        records: index records.
        fractions: three non-negative shares (train, val, test), normalized to sum to 1.
    """
    total = sum(fractions)
    if len(fractions) != 3 or min(fractions) < 0 or total <= 0:
        raise IndexFileError(f"--split needs three non-negative fractions, got {list(fractions)}")
    edges = [fractions[0] / total, (fractions[0] + fractions[1]) / total]
    parts: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for record in records:
        digest = hashlib.sha1(video_key(record).encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        name = "train" if u < edges[0] else "val" if u < edges[1] else "test"
        parts[name].append({**record, "split": name})
    return parts


def split_file(index_path: str | os.PathLike, name: str) -> Path:
    """``index.jsonl`` -> ``index.train.jsonl`` (and .val, .test)."""
    index_path = Path(index_path)
    return index_path.with_name(f"{index_path.stem}.{name}{index_path.suffix}")


def rejects_file(index_path: str | os.PathLike) -> Path:
    """Where the rejects of an index are listed: ``index.jsonl`` -> ``index.rejects.jsonl``."""
    index_path = Path(index_path)
    return index_path.with_name(index_path.stem + ".rejects.jsonl")


def _write_rejects(path: Path, rejects: list[dict[str, str]]) -> None:
    if not rejects:
        path.unlink(missing_ok=True)
        return
    write_text_atomic("".join(json.dumps(r) + "\n" for r in rejects), path)


def summary(records: list[dict], rejects: list[dict], out: str | os.PathLike, rejects_path: Path) -> str:
    """A human summary: counts, categories, and every rejected file with its reason."""
    hours = sum(r.get("duration", 0.0) for r in records) / 3600
    lines = [f"indexed {len(records)} files ({hours:.2f} h) -> {out}"]
    categories = Counter(r.get("category") for r in records if r.get("category"))
    if categories:
        lines.append("categories: " + ", ".join(f"{name} {n}" for name, n in sorted(categories.items())))
    if rejects:
        lines.append(f"rejected {len(rejects)} files (listed in {rejects_path}):")
        lines += [f"  {r['path']}: {r['reason']}" for r in rejects]
    return "\n".join(lines)
