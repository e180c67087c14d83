"""Shared fixtures: tiny media made in tmp_path with pixelsound.io (others may ADD fixtures at the end).

``make_clip(folder, name, ...)`` writes a small video (coloured frames whose left half carries a grey level
telling the frames apart, see ``frame_level``) with a sine tone, or an audio-only file. ``bad_media``
crafts one real file per failure case; ``make_sop_tree`` lays out an original Sound-of-Pixels tree.
``media`` bundles the helpers (``tone``, ``tone_at``, ``clip_frames``, ``frame_level``, ``snr_db``).
"""

from __future__ import annotations

import math
import types
from pathlib import Path

import pytest
import torch
from PIL import Image

from pixelsound import io


def frame_level(i: int) -> int:
    """Grey level of the left half of frame i in ``make_clip`` videos (neighbours differ by >= 37)."""
    return 20 + (i * 37) % 216


def clip_frames(
    num: int, height: int, width: int, color: tuple[int, int, int] = (200, 40, 40)
) -> torch.Tensor:
    """uint8 (V, 3, H, W): the right half in ``color``, the left half grey at ``frame_level(i)``."""
    frames = torch.tensor(color, dtype=torch.uint8).view(1, 3, 1, 1).repeat(num, 1, height, width)
    for i in range(num):
        frames[i, :, :, : width // 2] = frame_level(i)
    return frames


def tone(
    seconds: float, sr: int, freq: float = 440.0, channels: int = 1, amplitude: float = 0.5
) -> torch.Tensor:
    """float32 (C, L), L = round(seconds * sr): channel c is a sine at ``freq * (1 + 0.5 c)`` Hz."""
    t = torch.arange(int(round(seconds * sr)), dtype=torch.float64) / sr
    waves = [amplitude * torch.sin(2 * math.pi * freq * (1 + 0.5 * c) * t) for c in range(channels)]
    return torch.stack(waves).float()


def tone_at(start: float, length: int, sr: int, freq: float = 440.0, channel: int = 0) -> torch.Tensor:
    """The samples ``tone`` has at ``start + j / sr`` for j < length (reference for windows)."""
    t = start + torch.arange(length, dtype=torch.float64) / sr
    return (0.5 * torch.sin(2 * math.pi * freq * (1 + 0.5 * channel) * t)).float()


def snr_db(reference: torch.Tensor, estimate: torch.Tensor) -> float:
    return float(
        10 * torch.log10(reference.pow(2).sum() / (reference - estimate).pow(2).sum().clamp_min(1e-12))
    )


def _make_clip(
    folder: str | Path,
    name: str = "clip.mp4",
    *,
    seconds: float = 1.0,
    fps: float = 8.0,
    size: tuple[int, int] = (32, 32),
    sr: int = 11025,
    channels: int = 1,
    freq: float = 440.0,
    color: tuple[int, int, int] = (200, 40, 40),
    audio: bool = True,
    video: bool = True,
    times: list[float] | None = None,
    rotation: int = 0,
) -> Path:
    """Write a tiny clip into ``folder`` and return its path.

    Args:
        size: (H, W) of the frames.
        audio / video: leave a stream out (``video=False`` writes an audio-only file, e.g. ``x.m4a``).
        times: per-frame timestamps for a variable frame rate (then ``len(times)`` frames).
    """
    path = Path(folder) / name
    sound = tone(seconds, sr, freq, channels) if audio else None
    if not video:
        io.write_audio(path, sound, sr)
        return path
    num = len(times) if times is not None else int(round(seconds * fps))
    frames = clip_frames(num, size[0], size[1], color)
    io.write_video(path, frames, fps, sound, sr if audio else None, times=times, rotation=rotation)
    return path


@pytest.fixture
def make_clip():
    """``make_clip(folder, name="clip.mp4", *, seconds=1.0, fps=8.0, size=(32, 32), sr=11025, ...)``."""
    return _make_clip


@pytest.fixture
def media():
    """Helpers for checking decoded media: tone, tone_at, clip_frames, frame_level, snr_db."""
    return types.SimpleNamespace(
        tone=tone, tone_at=tone_at, clip_frames=clip_frames, frame_level=frame_level, snr_db=snr_db
    )


@pytest.fixture
def bad_media(tmp_path) -> dict[str, Path]:
    """One crafted file per failure: missing, empty, text named .mp4, truncated (data cut; header cut),
    video without audio, audio without video (an .mp4 holding only AAC), and a clip too short (0.5 s).
    """
    folder = tmp_path / "bad"
    folder.mkdir()
    good = _make_clip(tmp_path, "good.mp4", seconds=2.0)
    data = good.read_bytes()
    files = {
        "missing": folder / "missing.mp4",
        "empty": folder / "empty.mp4",
        "text": folder / "notes.mp4",
        "truncated": folder / "truncated.mp4",
        "truncated_header": folder / "truncated_header.mp4",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is a text file, not a video\n")
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["truncated_header"].write_bytes(data[:400])
    files["no_audio"] = _make_clip(folder, "silent.mp4", audio=False)
    files["no_video"] = _make_clip(folder, "audio_only.mp4", video=False)
    files["short"] = _make_clip(folder, "short.mp4", seconds=0.5)
    return files


def _make_sop_tree(folder: str | Path, count: int = 16) -> list[str]:
    """An original Sound-of-Pixels layout under ``folder``; returns its CSV lines (paths relative to folder).

    ``audio/<cat>/vid_<cat>.<mp3|wav>`` (2 s tones: violin 440 Hz mp3, flute 660 Hz wav) and
    ``frames/<cat>/vid_<cat>.mp4/000001.jpg ...``: ``count`` 40x30 jpgs, red channel 15 * k in frame k.
    """
    folder = Path(folder)
    lines = []
    for category, ext, freq in (("violin", "mp3", 440.0), ("flute", "wav", 660.0)):
        audio = folder / "audio" / category / f"vid_{category}.{ext}"
        audio.parent.mkdir(parents=True)
        io.write_audio(audio, tone(2.0, 11025, freq), 11025)
        frames = folder / "frames" / category / f"vid_{category}.mp4"
        frames.mkdir(parents=True)
        for k in range(count):
            Image.new("RGB", (40, 30), (k * 15, 100, 50)).save(frames / f"{k + 1:06d}.jpg", quality=95)
        lines.append(f"audio/{category}/vid_{category}.{ext},frames/{category}/vid_{category}.mp4,{count}")
    return lines


@pytest.fixture
def make_sop_tree():
    """``make_sop_tree(folder, count=16) -> CSV lines`` of a tiny original Sound-of-Pixels layout."""
    return _make_sop_tree


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """One intra-op thread for every test: the tests are tiny, and on a shared 2-core machine OpenMP threads
    that get descheduled stall every op (tests that measure threading set their own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
