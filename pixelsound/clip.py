"""The one clip reader of the verbs: frames at given times and audio at a given rate, read lazily.

A :class:`Clip` is a video with (maybe) a soundtrack, from a file (:class:`FileClip`, decoded on demand
through :mod:`pixelsound.io`, which handles bad packets, timestamps and rotation) or from tensors in memory
(:class:`TensorClip`). ``separate``, ``pixels``, ``score``, ``foley``, ``bank`` and ``evaluate`` read their
inputs through it:

* ``clip.frames_at(times, size)``: the frames on screen at ``times`` (seconds, clamped into the clip);
* ``clip.audio(sr, start, duration)``: the mono soundtrack at ``sr`` (:func:`pixelsound.io.resample`);
* ``clip.soundtrack()``: the original audio, all channels, at its own rate;
* ``clip.sampled(fps, size)``: frames at a constant rate, decoded a chunk at a time (memory stays bounded);
* ``clip.decode()``: every frame in memory, as a :class:`TensorClip` with the frames' own timestamps.

Shapes: V frames, C audio channels, L samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pixelsound import io

Times = Tensor | np.ndarray
Size = int | tuple[int, int] | None

CHUNK_BYTES = 64e6  # full-size float frames decoded at once by Clip.sampled (8 to 240 frames)


class Clip:
    """A video clip read lazily (base of :class:`FileClip` and :class:`TensorClip`).

    Attributes:
        path: the file (None for tensors).
        fps: frame rate.
        size: ``(H, W)`` of the frames.
        duration: seconds.
        has_audio: whether it has a soundtrack.
    """

    path: str | None
    fps: float
    size: tuple[int, int]
    duration: float
    has_audio: bool

    def read(self, times: Times, size: Size = None) -> tuple[Tensor, Tensor]:
        """Frames shown at ``times`` and their timestamps. ``(V,)`` -> uint8 ``(V, 3, H, W)``, ``(V,)``."""
        raise NotImplementedError

    def frames_at(self, times: Times, size: Size = None) -> Tensor:
        """Frames on screen at ``times`` (seconds, clamped into the clip), resized to ``size`` (None: as they
        are; int: square; or ``(H, W)``). ``(...,)`` -> uint8 ``(..., 3, H, W)``."""
        times = torch.as_tensor(times, dtype=torch.float64)
        return self.read(times.flatten(), size)[0].unflatten(0, times.shape)

    def audio(self, sr: int, start: float = 0.0, duration: float | None = None) -> Tensor:
        """The mono soundtrack at ``sr``, ``duration`` seconds (None: all) from ``start``. ``(L,)``."""
        raise NotImplementedError

    def soundtrack(self) -> tuple[Tensor, int]:
        """The original audio, all channels, at its own rate: ``((C, L), sr)``."""
        raise NotImplementedError

    def sampled(self, fps: float, size: Size = None) -> tuple[Tensor, Tensor]:
        """Frames at ``k / fps`` for every k inside the clip, decoded and resized a chunk at a time.

        Returns:
            uint8 ``(V, 3, H, W)`` and the frames' timestamps ``(V,)``.
        """
        chunk = int(np.clip(CHUNK_BYTES / (self.size[0] * self.size[1] * 3 * 4), 8, 240))
        total = max(1, int(math.floor(self.duration * fps + 1e-6)))
        pieces, stamps = [], []
        for first in range(0, total, chunk):
            count = min(chunk, total - first)
            frames, used = self.read((first + np.arange(count)) / fps, size)
            pieces.append(frames)
            stamps.append(used)
        return torch.cat(pieces), torch.cat(stamps)

    def decode(self) -> TensorClip:
        """Every frame in memory with its timestamp."""
        raise NotImplementedError


class FileClip(Clip):
    """A clip read from a media file on demand (:mod:`pixelsound.io`).

    Args:
        path: a media file.
        scan: probe every packet (frame count, true duration, truncation); False trusts the header (fast).

    Raises:
        MediaError: the file cannot be read (the message names it and why).
    """

    def __init__(self, path: str | Path, *, scan: bool = True):
        self.info = io.probe(path, scan=scan)
        self.path, self.fps, self.duration = str(path), self.info.fps, self.info.duration
        self.size = (self.info.height, self.info.width)
        self.has_audio, self.has_video = self.info.has_audio, self.info.has_video
        self.end = max(self.duration - 1e-3, 0.0)  # the last time with a frame on screen

    def read(self, times: Times, size: Size = None) -> tuple[Tensor, Tensor]:
        times = torch.as_tensor(times, dtype=torch.float64).clamp(0, self.end)
        return io.read_frames(self.path, times=times, size=size)

    def audio(self, sr: int, start: float = 0.0, duration: float | None = None) -> Tensor:
        return io.read_audio(self.path, sr, start=start, duration=duration)[0]

    def soundtrack(self) -> tuple[Tensor, int]:
        rate = self.info.sample_rate
        return io.read_audio(self.path, rate, mono=False), rate

    def decode(self) -> TensorClip:
        frames, used = io.read_frames(self.path)
        return TensorClip(frames, self.fps, times=used.numpy(), path=str(Path(self.path).resolve()))


class TensorClip(Clip):
    """A clip held in memory.

    Args:
        frames: uint8 ``(V, 3, H, W)``; frame i is on screen from ``times[i]``.
        fps: frame rate.
        audio: the soundtrack ``(L,)`` or ``(C, L)`` (None: silent).
        sample_rate: Hz of ``audio``.
        times: the frames' timestamps ``(V,)`` (default ``i / fps``); frames are picked by fps from
            ``times[0]``.
        path: where the frames came from (None: nowhere).

    Raises:
        ValueError: frames that are not uint8 ``(V, 3, H, W)``, or fps <= 0.
    """

    def __init__(
        self,
        frames: Tensor,
        fps: float,
        audio: Tensor | None = None,
        sample_rate: int = 0,
        *,
        times: np.ndarray | None = None,
        path: str | None = None,
    ):
        frames = torch.as_tensor(frames)
        if frames.dim() != 4 or frames.shape[1] != 3 or frames.dtype != torch.uint8 or not fps or fps <= 0:
            raise ValueError(
                f"frames must be uint8 (V, 3, H, W) with fps > 0, got {frames.dtype} {tuple(frames.shape)}, "
                f"fps={fps}"
            )
        self.frames, self.fps, self.path = frames, float(fps), path
        self.times = np.arange(len(frames)) / fps if times is None else np.asarray(times)
        self.size = (int(frames.shape[2]), int(frames.shape[3]))
        self.duration = float(self.times[-1] + 1 / self.fps) if len(self.times) else 0.0
        self.original = None if audio is None else torch.as_tensor(audio, dtype=torch.float32)
        if self.original is not None and self.original.dim() == 1:
            self.original = self.original[None]  # (C, L)
        self.native_rate, self.has_audio, self._mono = sample_rate, audio is not None, {}

    @property
    def t0(self) -> float:
        """Time of frame 0."""
        return float(self.times[0]) if len(self.times) else 0.0

    def read(self, times: Times, size: Size = None) -> tuple[Tensor, Tensor]:
        times = torch.as_tensor(times, dtype=torch.float64)
        index = ((times - self.t0) * self.fps + 1e-6).floor().long().clamp(0, len(self.frames) - 1)
        picked = self.frames[index]  # (V, 3, H, W)
        stamps = torch.from_numpy(self.times)[index]  # (V,)
        return (picked if size is None else io.resize_frames(picked, size)), stamps

    def mono(self, sr: int) -> Tensor:
        """The whole soundtrack, channels averaged, at ``sr`` (resampled once, kept). ``(L,)``."""
        if self.original is None:
            raise ValueError(f"{self.path or 'the clip'} has no soundtrack")
        if sr not in self._mono:
            self._mono[sr] = io.resample(self.original.mean(0), self.native_rate, sr)
        return self._mono[sr]

    def audio(self, sr: int, start: float = 0.0, duration: float | None = None) -> Tensor:
        first = round(start * sr)
        stop = None if duration is None else first + round(duration * sr)
        return self.mono(sr)[first:stop]

    def soundtrack(self) -> tuple[Tensor, int]:
        if self.original is None:
            raise ValueError(f"{self.path or 'the clip'} has no soundtrack")
        return self.original, self.native_rate

    def decode(self) -> TensorClip:
        return self


def open_clip(video: str | Path | Tensor | Clip, fps: float | None = None, *, scan: bool = True) -> Clip:
    """A :class:`Clip` from a file, frames ``(V, 3, H, W)`` with their ``fps``, or a clip (returned as is)."""
    if isinstance(video, Clip):
        return video
    if isinstance(video, Tensor):
        return TensorClip(video, fps or 0.0)
    return FileClip(video, scan=scan)
