"""Solo clip windows from an index, as a torch Dataset (mixing happens later, in the training step).

An item is one window of ``audio.length`` samples at ``audio.sample_rate`` and ``frames.num_frames`` frames
at the centres of equal sub-windows, resized to ``frames.size`` x ``frames.size``. Training windows start at
random offsets (a per-call generator, reproducible given ``seed`` and ``torch.manual_seed``, including inside
DataLoader workers); evaluation windows are centred, so evaluation is deterministic.

With ``cache_dir`` set, each clip is decoded once into uint8 frames at ``cache_fps`` (frame k on screen from
k / cache_fps) and int16 audio at the sample rate, saved atomically with ``torch.save`` and later cut from the
cache: no mp4 is decoded per step. The cache key covers path, mtime, size and the settings that shape it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pixelsound import io as media
from pixelsound import rooms, timbre
from pixelsound.atomic import save_atomic
from pixelsound.config import AudioConfig, FramesConfig
from pixelsound.errors import UserError
from pixelsound.index import frame_files, read_index
from pixelsound.windows import frame_times

log = logging.getLogger(__name__)

_CACHE_VERSION = 1


class DatasetError(UserError, RuntimeError):
    """The dataset cannot produce items at all (no usable record, or every clip failed to load)."""


class ClipDataset(torch.utils.data.Dataset):
    """Windows of solo clips: ``{"frames": uint8 (V, 3, H, W), "audio": float32 (L,), "category": int,
    "index": int, "start": float}``.

    Only solo material is used: records whose "kind" is not "solo" (the builder's duets), records without
    audio or video, and clips shorter than the window are dropped (logged). A file that fails at read time
    is logged (``logging.warning`` naming it and the reason), remembered as bad and replaced by another
    item, so an epoch never stops on one file; only when every clip fails is a :class:`DatasetError` raised.
    ``"index"`` is the item actually returned (the replacement, if any).

    Args:
        records_or_index_path: an index file (see :mod:`pixelsound.index`) or its records.
        audio: sample rate and window length L.
        frames: V frames per window and their square size.
        train: random window offsets (True) or centred windows (False).
        seed: seeds the window offsets (together with ``torch.initial_seed()`` and a call counter).
        cache_dir: decoded-clip cache folder (created); None decodes the media every time.
        cache_fps: frame rate of the cache (frames are then picked at this rate's resolution).
        memory_items: also keep this many decoded clips in memory (per process; 0: none).
        categories: fixed category names (share the training set's list with the validation set); by default
            the sorted names found in the records.
        colour: training windows only: a random room, microphone colouring and background noise
            (:data:`pixelsound.rooms.TRAINING`), drawn from the window's own generator.
        timbre: training windows only: the share of windows played up to two semitones faster or slower and
            heard through a random spectral envelope (:mod:`pixelsound.timbre`), before any room.
    """

    def __init__(
        self,
        records_or_index_path: str | os.PathLike | list[dict[str, Any]],
        audio: AudioConfig,
        frames: FramesConfig,
        *,
        train: bool,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        cache_fps: float = 8.0,
        memory_items: int = 0,
        categories: list[str] | None = None,
        colour: bool = False,
        timbre: float = 0.0,
    ) -> None:
        source = records_or_index_path
        records = read_index(source) if isinstance(source, str | os.PathLike) else [dict(r) for r in source]
        self.source = str(source) if isinstance(source, str | os.PathLike) else "records"
        self.audio, self.frames, self.train, self.seed = audio, frames, train, seed
        self.colour = colour and train
        self.timbre = timbre if train else 0.0
        self.window = audio.length / audio.sample_rate  # seconds
        self.records = self._usable(records)
        names = sorted({str(r["category"]) for r in self.records if r.get("category")})
        self.categories: list[str] = list(categories) if categories is not None else names
        self._category_ids = {name: k for k, name in enumerate(self.categories)}
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.cache_fps = float(cache_fps)
        self.memory_items = memory_items
        self._memory: OrderedDict[int, dict[str, torch.Tensor]] = OrderedDict()
        self._bad: set[int] = set()
        self._calls = 0
        self.epoch = 0
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _usable(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Solo records (no "kind" or kind "solo") with audio and video, long enough for a window.

        The others are dropped with a log line saying how many and why.
        """
        kept, dropped = [], Counter()
        for r in records:
            if r.get("kind", "solo") != "solo":  # e.g. the builder's duet clips: not solo material
                dropped[f"kind {r['kind']!r}, not solo"] += 1
            elif not r.get("has_audio", True) or not r.get("has_video", True):
                dropped["without audio or video"] += 1
            elif float(r.get("duration", 0.0)) + media.WINDOW_TOLERANCE < self.window:
                dropped[f"shorter than the {self.window:.2f} s window"] += 1
            else:
                kept.append(r)
        for why, n in dropped.items():
            log.warning("%s: %d of %d clips skipped: %s", self.source, n, len(records), why)
        if not kept:
            raise DatasetError(f"{self.source}: no usable clip ({len(records)} records; see warnings)")
        return kept

    def __len__(self) -> int:
        return len(self.records)

    def category_of(self, i: int) -> int:
        """Category id of item i (-1 unknown), without decoding."""
        name = self.records[i].get("category")
        return self._category_ids.get(str(name), -1) if name else -1

    def set_epoch(self, epoch: int) -> None:
        """Mix the epoch into training offsets (optional; DataLoader workers already differ per epoch)."""
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._get(i, self._rng(i))

    def draw(self, i: int, key: tuple[int, ...]) -> dict[str, Any]:
        """Item i with its random window drawn from ``key`` alone (the training sampler's (epoch, position)).

        Unlike ``dataset[i]`` this does not depend on which process or worker reads the item, nor on what it
        read before, so resumed and distributed runs read the same windows.
        """
        return self._get(i, np.random.default_rng([self.seed, *key, i]))

    def _get(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        first_error = None
        for j in self._candidates(i, rng):
            try:
                return self._item(j, rng)
            except Exception as err:  # any failure of one file must not end the epoch
                self._bad.add(j)
                first_error = first_error or err
                log.warning("%s: %s; using another clip", _name(self.records[j]), _reason(err))
        why = str(first_error) if first_error else "each failed before (see the earlier warnings)"
        raise DatasetError(f"{self.source}: every one of the {len(self)} clips failed to load: {why}")

    def _rng(self, i: int) -> np.random.Generator:
        """A generator for one call: seed, epoch, torch's (worker) seed, this process's call count, item."""
        self._calls += 1
        return np.random.default_rng([self.seed, self.epoch, torch.initial_seed() % 2**63, self._calls, i])

    def _candidates(self, i: int, rng: np.random.Generator):
        """Item i, then (if it fails) every other item: the next ones in eval, a random order in train."""
        if i not in self._bad:
            yield i
        n = len(self)
        order = rng.permutation(n) if self.train else (i + 1 + np.arange(n - 1)) % n
        for j in order:
            if int(j) != i and int(j) not in self._bad:
                yield int(j)

    def _item(self, j: int, rng: np.random.Generator) -> dict[str, Any]:
        record = self.records[j]
        sr, L = self.audio.sample_rate, self.audio.length
        spare = max(0.0, float(record["duration"]) - self.window)
        start = float(rng.uniform(0.0, spare)) if self.train else spare / 2
        speed = timbre.draw_speed(rng) if self.timbre > 0 and rng.random() < self.timbre else None
        samples = L if speed is None else timbre.source_samples(L, speed)
        start = min(start, max(0.0, float(record["duration"]) - samples / sr))  # read within the clip
        V = self.frames.num_frames
        at = torch.tensor([start], dtype=torch.float64)
        times = frame_times(at, self.window, V)[0].numpy()  # (V,) centres of V equal parts, as every window
        if self.cache_dir is not None:
            audio, frames = self._from_cache(j, start, times, samples)
        else:
            audio, frames = self._decode_window(record, start, times, samples)
        if speed is not None:
            varied = timbre.envelope(timbre.play_at(audio.numpy(), speed, L), rng, sr)
            audio = torch.from_numpy(varied)
        if self.colour:
            audio = torch.from_numpy(rooms.colour(audio.numpy(), rng, sr, rooms.TRAINING))
        return {"frames": frames, "audio": audio, "category": self.category_of(j), "index": j, "start": start}

    # ------------------------------------------------------------------------------------- direct decoding

    def _decode_window(
        self, record: dict, start: float, times: np.ndarray, samples: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio (samples,) and frames (V, 3, S, S) of one window, decoded from the media."""
        sr = self.audio.sample_rate
        audio_path = record.get("audio_path") or record["path"]
        audio = media.read_audio(audio_path, sr, start=start, duration=samples / sr)[0]  # (samples,)
        if record.get("frames_dir"):
            frames = _image_frames(record, times, self.frames.size)
        else:
            frames, _ = media.read_frames(record["path"], times=times, size=self.frames.size)
        return audio, frames

    # ----------------------------------------------------------------------------------------------- cache

    def _from_cache(
        self, j: int, start: float, times: np.ndarray, samples: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One window's audio (samples,) and frames, cut from the decoded clip (decoded first if needed)."""
        clip = self._cached_clip(j)
        first = int(round(start * self.audio.sample_rate))
        # numpy for these small copies: torch's intra-op threads only add waiting on a busy machine
        audio = np.zeros(samples, dtype=np.float32)
        pcm = clip["audio"].numpy()[first : first + samples]  # shorter near the end (within the tolerance)
        audio[: len(pcm)] = pcm * np.float32(1 / 32767)
        frames = clip["frames"].numpy()
        picks = np.clip(np.floor(times * self.cache_fps + 1e-6).astype(np.int64), 0, len(frames) - 1)
        return torch.from_numpy(audio), torch.from_numpy(frames[picks])  # (samples,), (V, 3, S, S)

    def _cached_clip(self, j: int) -> dict[str, torch.Tensor]:
        if j in self._memory:
            self._memory.move_to_end(j)
            return self._memory[j]
        record = self.records[j]
        path = self.cache_dir / f"{self._cache_key(record)}.pt"
        clip = _load_cache(path)
        if clip is None:
            clip = self._decode_clip(record)
            save_atomic(clip, path, durable=False)  # a cache entry: rebuilt if lost
        if self.memory_items > 0:
            self._memory[j] = clip
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)
        return clip

    def _cache_key(self, record: dict) -> str:
        """Hash of the file's identity (path, mtime, size) and of every setting that shapes the cache."""
        main = Path(record.get("audio_path") or record["path"])
        stat = main.stat()
        extra = Path(record["frames_dir"]).stat().st_mtime_ns if record.get("frames_dir") else 0
        key = {
            "v": _CACHE_VERSION,
            "path": str(main.resolve()),
            "mtime": stat.st_mtime_ns,
            "bytes": stat.st_size,
            "frames_dir": record.get("frames_dir"),
            "frames_mtime": extra,
            "duration": round(float(record["duration"]), 6),
            "sr": self.audio.sample_rate,
            "fps": self.cache_fps,
            "size": self.frames.size,
        }
        return hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def _decode_clip(self, record: dict) -> dict[str, torch.Tensor]:
        """The whole clip: uint8 frames (Vc, 3, S, S) at cache_fps and int16 audio (n,) at the sample rate."""
        duration, sr, size = float(record["duration"]), self.audio.sample_rate, self.frames.size
        audio = media.read_audio(record.get("audio_path") or record["path"], sr, duration=duration)[0]
        times = np.arange(max(1, int(round(duration * self.cache_fps)))) / self.cache_fps
        if record.get("frames_dir"):
            frames = _image_frames(record, times, size)
        else:
            frames, _ = media.read_frames(record["path"], times=times, size=size)
        pcm = (audio.clamp(-1.0, 1.0) * 32767.0).round().to(torch.int16)
        return {"frames": frames.contiguous(), "audio": pcm}


# ------------------------------------------------------------------------------------------------ helpers


def _image_frames(record: dict, times: np.ndarray, size: int) -> torch.Tensor:
    """Frames (V, 3, S, S) from a Sound-of-Pixels frames folder: frame k is on screen from k / fps."""
    files = frame_files(record["frames_dir"])
    count = min(int(record["num_frames"]), len(files))
    if count == 0:
        raise media.MediaError(record["frames_dir"], "no frame images in the folder")
    picks = np.clip(np.floor(times * float(record.get("fps", 8.0)) + 1e-6).astype(np.int64), 0, count - 1)
    loaded: dict[int, torch.Tensor] = {}
    for k in np.unique(picks):
        with Image.open(files[k]) as image:
            array = np.array(image.convert("RGB"))  # (H, W, 3), a writable copy
        loaded[int(k)] = media.resize_frames(torch.from_numpy(array).permute(2, 0, 1)[None], size)[0]
    return torch.stack([loaded[int(k)] for k in picks])


def _load_cache(path: Path) -> dict[str, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        clip = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # reads only what is cut
        if isinstance(clip, dict) and {"frames", "audio"} <= clip.keys():
            return clip
    except Exception as err:  # a damaged cache entry is rebuilt, never fatal
        log.debug("%s: unreadable cache entry (%s); decoding again", path, err)
    return None


def _name(record: dict) -> str:
    return str(record.get("path") or record.get("audio_path"))


def _reason(err: Exception) -> str:
    if isinstance(err, media.MediaError):
        return err.reason
    return f"{type(err).__name__}: {err}"
