"""The one atomic-write helper: every file pixelsound writes appears whole or not at all.

A file is written to a temporary name in the same folder (same disk), flushed to disk and renamed over the
target (``os.replace``), so a crash or a kill leaves either the old file or the new one, never a partial one.
Temporary files of writers that were killed are removed the next time the same file is written.
Checkpoints and releases (:mod:`pixelsound.checkpoint`), indexes, the data set's clip cache and media files
(:mod:`pixelsound.io`) are all written through :func:`atomic_path`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch


@contextmanager
def atomic_path(path: str | os.PathLike, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` when the block ends without error,
    removed when it raises.

    Args:
        path: the file to write (its folder is created).
        durable: fsync the file and the folder, so the rename survives a power cut (False for caches).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        if durable:
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of ``path`` left by writers that were killed (their process no longer exists)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass


Writer = Callable[[IO[bytes]], None]  # writes a file's content into an open binary file


def write_atomic(path: str | os.PathLike, write: Writer, *, durable: bool = True) -> Path:
    """Write through ``write(fileobj)`` atomically (see :func:`atomic_path`); returns ``path``."""
    with atomic_path(path, durable=durable) as tmp, tmp.open("xb") as f:  # a new file, usual permissions
        write(f)
    return Path(path)


def save_atomic(obj: Any, path: str | os.PathLike, *, durable: bool = True) -> Path:
    """``torch.save(obj)`` to ``path`` atomically."""
    return write_atomic(path, lambda f: torch.save(obj, f), durable=durable)


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write bytes to ``path`` atomically."""
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    return write_bytes_atomic(text.encode("utf-8"), path)
