"""Decode and encode media with PyAV; the only module in pixelsound that imports ``av``.

One concern, hence one long module: reading and writing media with PyAV (probe, decode, encode, resample);
every other module reads and writes media through it.

Reading selects video frames by timestamp (never by index), so variable frame rates work; audio is decoded
from a little before the window, resampled with ``torchaudio.functional.resample`` and trimmed to the exact
sample count.
Real-world files: a packet the decoder rejects is skipped (counted by :func:`skipped`, one warning per file)
and its time left silent, so later sound keeps its place; reading fails only when a stream gives nothing.
Streams are placed by their timestamps (audio starting after the video keeps its leading silence and its
end); AVI frames stamped in decode order get increasing times. Writers downmix more than two channels and
repair frame times that do not increase, so finished work is not lost to the output format.
Every failure raises :class:`MediaError`, whose message names the file and the reason.

Shapes follow the glossary in :mod:`pixelsound`: frames ``(V, 3, H, W)`` uint8 RGB, audio ``(C, L)`` float32.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import heapq
import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from pixelsound.atomic import atomic_path
from pixelsound.errors import UserError

log = logging.getLogger(__name__)

# A window may end this many seconds past the decoded end of a stream; the gap is filled (zeros / last frame).
WINDOW_TOLERANCE = 0.1
_PREROLL = 0.5  # seconds decoded before the asked start (AAC warm-up, decoders that land early)
_TRUNCATED_GAP = 0.5  # data ending this much before the header's duration means a truncated file
_REORDER_DEPTH = 16  # most frames a decoder holds back (h264's largest picture buffer)
_NO_PTS_FORMATS = {"avi", "h264", "hevc", "m4v"}  # containers/raw streams stamping video in decode order

# suffix -> (container format, video codec, audio codec); video codecs in _EVEN_CODECS need even W and H
_WRITERS = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".m4v": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
    ".avi": ("avi", "mpeg4", "pcm_s16le"),
}
_AUDIO_WRITERS = {
    ".wav": ("wav", "pcm_s16le"),
    ".flac": ("flac", "flac"),
    ".m4a": ("ipod", "aac"),
    ".mp4": ("mp4", "aac"),
    ".mp3": ("mp3", "libmp3lame"),
}
_EVEN_CODECS = {"libx264", "mpeg4"}
_MAGIC = {  # first bytes -> container family, to tell "corrupt" from "not a media file"
    b"\x1aE\xdf\xa3": "matroska/webm",
    b"RIFF": "RIFF (avi/wav)",
    b"ID3": "mp3",
    b"fLaC": "flac",
    b"OggS": "ogg",
}


class MediaError(UserError):
    """A media file cannot be read or written as asked; the message names the file and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learns about a file.

    ``duration`` is the span every present stream covers (the shorter of audio and video), in seconds.
    ``width``/``height`` are as displayed (rotation metadata applied); 0 without video. ``fps`` is the average
    frame rate (variable-rate files included); ``sample_rate``/``channels`` are 0 without audio.
    """

    path: str
    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    sample_rate: int
    channels: int
    has_audio: bool
    has_video: bool
    video_codec: str | None
    audio_codec: str | None
    rotation: int = 0  # degrees counter-clockwise applied to decoded frames for display

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------- opening


def _check_file(path: str | os.PathLike) -> tuple[Path, str | None]:
    """The path, checked to be a readable non-empty file, and its container family (see ``_sniff``)."""
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as fh:
            kind = _sniff(fh.read(12))
        return path, kind
    except OSError as err:
        raise MediaError(path, f"cannot read ({err.strerror or err})") from None


def _sniff(head: bytes) -> str | None:
    """Container family recognised from a file's first bytes, or None."""
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
        return "mp4/mov"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xf1", b"\xff\xf9"):
        return "mp3/adts"
    return None


def _truncation(path: Path, kind: str | None) -> str | None:
    """Why the container's own size fields say the file is cut short, or None (mp4/mov, matroska, RIFF)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if kind == "mp4/mov":
            return _mp4_truncation(fh, size)
        if kind == "matroska/webm":
            return _ebml_truncation(fh, size)
        if kind == "RIFF (avi/wav)":
            declared = 8 + int.from_bytes(fh.read(8)[4:8], "little")
            return f"RIFF size says {declared} bytes, file has {size}" if declared > size + 1 else None
    return None


def _mp4_truncation(fh, size: int) -> str | None:
    """Walk the top-level boxes; one that runs past the end of the file means a truncated file."""
    offset = 0
    while offset < size:
        fh.seek(offset)
        head = fh.read(16)
        if len(head) < 8:
            return f"box header cut at byte {offset}"
        length, name = int.from_bytes(head[:4], "big"), head[4:8].decode("latin-1")
        if length == 1:
            length = int.from_bytes(head[8:16], "big") if len(head) == 16 else size + 1
        elif length == 0:  # runs to the end of the file
            return None
        if length < 8 or offset + length > size:
            return f"'{name}' box ends at byte {offset + length}, file has {size}"
        offset += length
    return None


def _ebml_truncation(fh, size: int) -> str | None:
    """Check the EBML header and the Segment's declared size against the file size."""
    offset = 0
    for _ in range(2):  # EBML header, then Segment
        fh.seek(offset)
        head = fh.read(12)
        id_len = _vint_length(head[0]) if head else 0
        if not id_len or len(head) < id_len + 1:
            return f"element header cut at byte {offset}"
        size_len = _vint_length(head[id_len])
        if not size_len or len(head) < id_len + size_len:
            return f"element header cut at byte {offset}"
        raw = int.from_bytes(head[id_len : id_len + size_len], "big")
        value = raw & ((1 << (7 * size_len)) - 1)
        if value == (1 << (7 * size_len)) - 1:  # unknown size (live stream): cannot tell
            return None
        end = offset + id_len + size_len + value
        if end > size:
            return f"element at byte {offset} ends at byte {end}, file has {size}"
        offset = end
    return None


def _vint_length(first: int) -> int:
    for n in range(8):
        if first & (0x80 >> n):
            return n + 1
    return 0


# tags that are not valid UTF-8 (seen in real files) must not stop a read: PyAV before 19 decodes them
# strictly unless told to drop bad bytes; PyAV 19 removed that option
_READ_OPTIONS = {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """Open a file for reading; every PyAV failure inside the block becomes a MediaError naming the file."""
    path, kind = _check_file(path)
    try:
        cut = _truncation(path, kind)
    except OSError as err:
        raise MediaError(path, f"cannot read ({err.strerror or err})") from None
    if cut:
        raise MediaError(path, f"truncated file ({cut})")
    try:
        container = av.open(str(path), mode="r", **_READ_OPTIONS)
    except UnicodeDecodeError as err:
        raise MediaError(path, f"unreadable metadata (not text: {err.reason})") from None
    except av.FFmpegError as err:
        if kind is None:
            raise MediaError(path, f"not a media file (unrecognised content; {_why(err)})") from None
        raise MediaError(path, f"corrupt or truncated {kind} file ({_why(err)})") from None
    try:
        yield container
    except av.FFmpegError as err:
        raise MediaError(path, f"corrupt or truncated data ({_why(err)})") from None
    finally:
        container.close()


def _why(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err)


def _stream(container, kind: str, path) -> av.stream.Stream:
    streams = container.streams.video if kind == "video" else container.streams.audio
    if not streams:
        raise MediaError(path, f"no {kind} stream")
    return streams[0]


def _origin(container) -> float:
    """Time zero of a file in its streams' timeline: the container's start time (ffmpeg's convention).

    Usually 0; an mp3 with an encoder-delay tag starts at the delay (e.g. 0.1 s), whose first real sample is
    our time 0. Streams starting later than others keep their offset (A/V sync).
    """
    return container.start_time / 1e6 if container.start_time is not None else 0.0


def _header_duration(container, stream) -> float | None:
    """Where the header says a stream ends, in seconds from the file's time zero (``_origin``).

    A stream starting late (audio 1 s after the video) ends at its start plus its duration, not at its
    duration alone.
    """
    if stream.duration is not None and stream.time_base is not None:
        begin = float(stream.start_time * stream.time_base) - _origin(container) if stream.start_time else 0.0
        return max(begin, 0.0) + float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1e6
    return None


def _decoded(container, stream) -> Iterator:
    """Decoded frames of ``stream`` from the container's position on.

    A packet the decoder rejects (a damaged AC-3 frame on a camera card) is skipped, counted (``skipped``)
    and reported once per file; a frame out of order in a container without presentation times (AVI with
    B-frames) gets its right timestamp back (``_in_order``).
    """
    frames = _decode_packets(container.demux(stream), container.name)
    if stream.type == "video":
        depth = _REORDER_DEPTH if _stamps_decode_order(container) else 0
        frames = _in_order(frames, depth)
    yield from frames


def _decode_packets(packets, path) -> Iterator:
    for packet in packets:
        try:
            frames = packet.decode()
        except av.FFmpegError as err:  # whatever the decoder says about one packet, the next may be fine
            _skip(path, packet, err)
            continue
        yield from frames


_SKIPPED: dict[str, set] = {}  # file -> (stream, position) of each undecodable packet met


def _skip(path, packet, err: Exception) -> None:
    """Count an undecodable packet; the first one of a file is logged as a warning."""
    seen = _SKIPPED.setdefault(os.path.abspath(path), set())
    first = not seen
    seen.add((packet.stream.index, packet.pos if packet.pos is not None else packet.pts))
    if first:
        at = float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None
        where = f" at {at:.2f} s" if at is not None else ""
        log.warning(
            "%s: skipping undecodable %s packets (first%s: %s); decoding goes on with the rest",
            path, packet.stream.type, where, _why(err),
        )  # fmt: skip


def skipped(path: str | os.PathLike) -> int:
    """How many undecodable packets of ``path`` were skipped so far in this process."""
    return len(_SKIPPED.get(os.path.abspath(path), ()))


def _stamps_decode_order(container) -> bool:
    """Containers whose video packets carry no presentation times (decoded frames' pts may be unordered)."""
    return any(name in _NO_PTS_FORMATS for name in container.format.name.split(","))


def _in_order(frames: Iterator, depth: int) -> Iterator:
    """Frames with strictly increasing pts.

    The decoder gives frames in display order; in an AVI their pts are the packets' in decode order, a
    permutation within a few frames. The k-th frame out gets the k-th smallest pts (a heap over a window of
    ``depth`` frames); a pts not above the previous one is moved just past it.
    """
    held: collections.deque = collections.deque()
    stamps: list[int] = []
    last: int | None = None
    for frame in frames:
        if frame.pts is None:
            yield frame
            continue
        held.append(frame)
        heapq.heappush(stamps, frame.pts)
        while len(held) > depth:
            frame, last = _restamp(held.popleft(), heapq.heappop(stamps), last)
            yield frame
    while held:
        frame, last = _restamp(held.popleft(), heapq.heappop(stamps), last)
        yield frame


def _restamp(frame, pts: int, last: int | None) -> tuple:
    frame.pts = pts if last is None or pts > last else last + 1
    return frame, frame.pts


# ----------------------------------------------------------------------------------------------- probe


@dataclass
class _Scan:
    frames: int = 0
    first: float | None = None
    last: float | None = None
    ends: dict = dataclasses.field(default_factory=dict)  # stream index -> end time of its data
    rotation: int = 0


def _scan(container, streams, path) -> _Scan:
    """Demux every packet (decoding one frame per stream) to count frames and find where the data ends."""
    scan, unchecked, origin = _Scan(), {s.index for s in streams}, _origin(container)
    for packet in container.demux(streams):
        s = packet.stream
        if packet.pts is not None:
            t = float(packet.pts * packet.time_base) - origin
            end = t + float((packet.duration or 0) * packet.time_base)
            scan.ends[s.index] = max(scan.ends.get(s.index, end), end)
            if s.type == "video":
                scan.frames += 1
                scan.first = t if scan.first is None else min(scan.first, t)
                scan.last = t if scan.last is None else max(scan.last, t)
        if s.index in unchecked:
            _check_decodes(scan, unchecked, s, list(_decode_packets([packet], path)))
    for s in streams:  # decoders holding frames back (reordering, tiny files): flush them
        if s.index in unchecked:
            _check_decodes(scan, unchecked, s, _flush(s))
    if unchecked:
        kinds = " and ".join(s.type for s in streams if s.index in unchecked)
        bad = f" ({skipped(path)} undecodable packets skipped)" if skipped(path) else ""
        raise MediaError(path, f"corrupt data: the {kinds} stream yields no decodable frame{bad}")
    return scan


def _flush(stream) -> list:
    try:
        return stream.codec_context.decode(None)
    except av.FFmpegError:  # a decoder left in error by undecodable packets has nothing to give
        return []


def _check_decodes(scan: _Scan, unchecked: set[int], stream, frames: list) -> None:
    if frames:
        unchecked.discard(stream.index)
        if stream.type == "video":
            scan.rotation = int(round(frames[0].rotation or 0))


def probe(path: str | os.PathLike, *, scan: bool = True) -> MediaInfo:
    """Describe a media file.

    Args:
        path: any container PyAV reads (mp4, mkv, webm, avi, mov, m4a, wav, ...).
        scan: demux every packet (no full decode) to count frames, measure variable frame rates and detect
            truncated files; ``False`` trusts the header only (fast, for files already checked).

    Returns:
        MediaInfo.

    Raises:
        MediaError: missing, empty, not a media file, corrupt or truncated, or without audio and video.
    """
    with _open(path) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(path, "no audio or video stream")
        streams = [s for s in (video, audio) if s is not None]
        found = _scan(container, streams, path) if scan else None
        durations = [_stream_duration(container, s, found, path) for s in streams]
        fps, frames, rotation = _video_facts(video, found, durations[0]) if video is not None else (0.0, 0, 0)
        width, height = (
            (video.codec_context.width, video.codec_context.height) if video is not None else (0, 0)
        )
        if rotation % 180:
            width, height = height, width
        return MediaInfo(
            path=str(path),
            duration=min(durations),
            fps=fps,
            num_frames=frames,
            width=width,
            height=height,
            sample_rate=audio.codec_context.sample_rate if audio is not None else 0,
            channels=audio.codec_context.channels if audio is not None else 0,
            has_audio=audio is not None,
            has_video=video is not None,
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            rotation=rotation,
        )


def _stream_duration(container, stream, found: _Scan | None, path) -> float:
    """Header duration of a stream, checked against where its data really ends when scanned."""
    if found is None:
        return _header_duration(container, stream) or 0.0
    header = _header_duration(container, stream) if stream.duration is not None else None
    end = found.ends.get(stream.index)
    if end is None:
        raise MediaError(path, f"corrupt data: {stream.type} stream has no packets")
    if header is not None and end < header - _TRUNCATED_GAP:
        raise MediaError(
            path, f"truncated file: {stream.type} data ends at {end:.2f} s, header says {header:.2f} s"
        )
    return header if header is not None else end


def _video_facts(video, found: _Scan | None, duration: float) -> tuple[float, int, int]:
    """(average fps, frame count, rotation) of the video stream."""
    rate = video.average_rate or video.guessed_rate
    if found is None:
        fps = float(rate) if rate else 0.0
        return fps, video.frames or int(round(duration * fps)), 0
    if found.frames >= 2 and found.last > found.first:
        fps = (found.frames - 1) / (found.last - found.first)
        if rate and abs(float(rate) / fps - 1) < 0.005:  # a constant rate in ms-rounded stamps (Matroska)
            fps = float(rate)
    else:
        fps = float(rate) if rate else 0.0
    return fps, found.frames, found.rotation


# ---------------------------------------------------------------------------------------------- frames


def read_frames(
    path: str | os.PathLike,
    *,
    times: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    start: float = 0.0,
    duration: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode video frames by timestamp.

    The frame for time t is the one on screen at t (the last frame whose timestamp is <= t), so variable frame
    rates need no special care. Rotation metadata is applied (portrait phone videos come out portrait).

    Args:
        path: a file with a video stream.
        times: seconds to sample (any order, repeats allowed); overrides ``fps``, ``start`` and ``duration``.
        fps: sample at ``start + k / fps`` for k < round(duration * fps). Without ``times`` and ``fps``, every
            frame with ``start <= t < start + duration`` is returned.
        size: None keeps the decoded size; an int gives size x size; (H, W) gives that size (antialiased).
        start: window start in seconds.
        duration: window length in seconds (default: to the end of the video).

    Returns:
        ``(frames, used)``: frames uint8 ``(V, 3, H, W)``; used float64 ``(V,)``, the frames' timestamps.

    Raises:
        MediaError: file problems, no video stream, or a time/window past the end of the video (beyond
            ``WINDOW_TOLERANCE``).
    """
    if start < 0 or (duration is not None and duration <= 0):
        raise MediaError(path, f"bad window: start={start} duration={duration}")
    with _open(path) as container:
        stream = _stream(container, "video", path)
        stream.thread_type = "AUTO"
        if times is None and fps is None:
            picked, used = _pick_window(container, stream, start, duration, path)
        else:
            targets = _frame_targets(container, stream, times, fps, start, duration, path)
            picked, used = _pick_at(container, stream, targets, path)
        frames = _to_tensor(picked)
    if size is not None:
        frames = resize_frames(frames, size)
    return frames, torch.tensor(used, dtype=torch.float64)


def _frame_targets(container, stream, times, fps, start, duration, path) -> np.ndarray:
    """The times to sample, in the caller's order."""
    if times is not None:
        targets = np.asarray(times, dtype=np.float64).reshape(-1)
        if targets.size and (not np.isfinite(targets).all() or targets.min() < 0):
            raise MediaError(path, "frame times must be finite and >= 0")
        return targets
    if fps <= 0:
        raise MediaError(path, f"fps must be > 0, got {fps}")
    end = _header_duration(container, stream)
    if duration is None:
        if end is None:
            raise MediaError(path, "video duration unknown; give duration or times")
        duration = end - start
    elif end is not None and start + duration > end + WINDOW_TOLERANCE:
        raise MediaError(
            path,
            f"too short: window {start:.2f}-{start + duration:.2f} s asked, video ends at {end:.2f} s",
        )
    count = int(round(duration * fps))
    if count <= 0:
        raise MediaError(
            path, f"too short: no frame at {fps} fps from {start:.2f} s to the end ({duration:.2f} s)"
        )
    return start + np.arange(count) / fps


def _decode_from(container, stream, t: float, margin: float = 0.0) -> Iterator:
    """Decoded frames of ``stream`` from at or before ``t - margin`` (seeks when t is far from the start)."""
    origin = _origin(container)
    if t - margin > 2 * _PREROLL:
        container.seek(int((t - margin - _PREROLL + origin) / stream.time_base), stream=stream, backward=True)
        frames = _decoded(container, stream)
        first = next(frames, None)
        if first is not None and (first.time is None or first.time - origin <= t - margin + 1e-6):
            yield first
            yield from frames
            return
        log.debug("%s: seek to %.2f s overshot; decoding from the start", container.name, t)
        container.seek(stream.start_time or 0, stream=stream, backward=True)
    yield from _decoded(container, stream)


def _frame_time(frame, prev: tuple | None, stream) -> float:
    """Seconds from the file's time zero (see ``_origin``); extrapolated from the previous frame."""
    if frame.time is not None:
        return float(frame.time) - _origin(stream.container)
    return 0.0 if prev is None else prev[1] + _frame_length(prev[0], stream)


def _frame_length(frame, stream) -> float:
    if frame.duration and frame.time_base:
        return float(frame.duration * frame.time_base)
    rate = stream.average_rate or stream.guessed_rate
    return 1.0 / float(rate) if rate else 0.04


def _pick_at(container, stream, targets: np.ndarray, path) -> tuple[list, list[float]]:
    """Decode once, keeping the frame on screen at each target time."""
    if not targets.size:
        return [], []
    order = np.argsort(targets, kind="stable")
    chosen: list = [None] * len(targets)
    k, prev, prev_end = 0, None, 0.0
    for frame in _decode_from(container, stream, float(targets[order[0]])):
        t = _frame_time(frame, prev, stream)
        while k < len(order) and targets[order[k]] < t - 1e-6:
            chosen[order[k]] = prev if prev is not None else (frame, t)
            k += 1
        if k == len(order):
            break
        prev, prev_end = (frame, t), t + _frame_length(frame, stream)
    if prev is None and k < len(order):
        raise MediaError(path, "no decodable video frame")
    for j in order[k:]:
        if targets[j] > prev_end + WINDOW_TOLERANCE:
            raise MediaError(
                path, f"too short: frame asked at {targets[j]:.2f} s, video ends at {prev_end:.2f} s"
            )
        chosen[j] = prev
    return [c[0] for c in chosen], [c[1] for c in chosen]


def _pick_window(container, stream, start: float, duration: float | None, path) -> tuple[list, list[float]]:
    """Every frame with start <= t < start + duration."""
    end = float("inf") if duration is None else start + duration
    picked, prev, prev_end = [], None, 0.0
    for frame in _decode_from(container, stream, start):
        t = _frame_time(frame, prev, stream)
        if t >= end - 1e-6:
            prev_end = end
            break
        if t >= start - 1e-6:
            picked.append((frame, t))
        prev, prev_end = (frame, t), t + _frame_length(frame, stream)
    if duration is not None and prev_end < end - WINDOW_TOLERANCE:
        raise MediaError(
            path, f"too short: window {start:.2f}-{end:.2f} s asked, video ends at {prev_end:.2f} s"
        )
    if not picked:
        raise MediaError(path, f"too short: no video frame at or after {start:.2f} s")
    return [p[0] for p in picked], [p[1] for p in picked]


def _to_tensor(picked: list) -> torch.Tensor:
    """VideoFrames -> uint8 (V, 3, H, W), converting each distinct frame once, rotation metadata applied."""
    cache: dict[int, torch.Tensor] = {}
    out = []
    for frame in picked:
        if id(frame) not in cache:
            image = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)  # (3, H, W)
            turns = int(round((frame.rotation or 0) / 90)) % 4
            cache[id(frame)] = torch.rot90(image, turns, dims=(1, 2)) if turns else image
        out.append(cache[id(frame)])
    if not out:
        return torch.zeros(0, 3, 0, 0, dtype=torch.uint8)
    return torch.stack(out).contiguous()


def resize_frames(frames: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of uint8 frames.

    Args:
        frames: uint8 ``(V, 3, H, W)``.
        size: int for size x size, or (H, W).

    Returns:
        uint8 ``(V, 3, size_h, size_w)``.
    """
    out_h, out_w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if tuple(frames.shape[-2:]) == (out_h, out_w) or frames.shape[0] == 0:
        return frames
    x = F.interpolate(
        frames.float(), size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False
    )
    return x.round_().clamp_(0, 255).to(torch.uint8)


# ----------------------------------------------------------------------------------------------- audio


def read_audio(
    path: str | os.PathLike, sr: int, *, start: float = 0.0, duration: float | None = None, mono: bool = True
) -> torch.Tensor:
    """Decode, resample and cut audio.

    Decoding starts a little before ``start`` (decoder warm-up, AAC priming) and the result is placed by the
    decoded frames' timestamps, so the cut is sample-exact whatever the decoder does at the edges.

    Args:
        path: a file with an audio stream.
        sr: output sample rate (resampled with ``torchaudio.functional.resample``).
        start: window start in seconds (exact when resampling; rounded to the nearest sample when the file is
            already at ``sr``).
        duration: window length in seconds; None reads to the end of the stream.
        mono: average the channels.

    Returns:
        float32 ``(C, L)`` with C = 1 when mono; L = round(duration * sr) exactly when duration is given.

    Raises:
        MediaError: file problems, no audio stream, a truncated file, or a window ending more than
            ``WINDOW_TOLERANCE`` seconds past the end of the audio.
    """
    if start < 0 or (duration is not None and duration <= 0) or sr <= 0:
        raise MediaError(path, f"bad request: sr={sr} start={start} duration={duration}")
    with _open(path) as container:
        stream = _stream(container, "audio", path)
        stop = None if duration is None else start + duration + 0.2
        wave, first, native = _decode_audio(container, stream, start, stop, path)
        header = _header_duration(container, stream)
    wave = torch.from_numpy(wave)  # (C, n) at the native rate, sample 0 at time `first`
    if mono:
        wave = wave.mean(0, keepdim=True)
    wave = _resample_from(wave, native, sr, first, start)  # sample 0 now at `start`
    return _cut(wave, sr, start, start + wave.shape[1] / sr, duration, header, path)


def _resample_from(wave: torch.Tensor, native: int, sr: int, first: float, start: float) -> torch.Tensor:
    """Resample so that output sample 0 falls exactly at ``start`` (input sample 0 is at ``first``).

    Output samples lie on the grid ``first + n0 / native + j / sr``; n0 is picked (by its residue modulo the
    rates' ratio) so that the grid hits ``start`` exactly, with some real signal before it for the filter.
    Time before the stream's first sample is silence.
    """
    lcm = native * sr // math.gcd(native, sr)
    a, b = lcm // native, lcm // sr  # one native / one output sample, in units of 1 / lcm seconds
    u = round((start - first) * lcm)  # where `start` is, in the same units
    if native == sr:
        offset = round(u / a)
        return F.pad(wave, (-offset, 0)) if offset < 0 else wave[:, offset:]
    context = math.ceil(0.02 * native) + 64  # native samples before `start` fed to the filter
    pad = max(0, context + b - u // a)
    if pad:
        wave, u = F.pad(wave, (pad, 0)), u + pad * a
    latest = u // a - context
    n0 = latest - (latest - u * pow(a, -1, b)) % b  # n0 * a == u (mod b): the output grid hits `start`
    out = resample(wave[:, n0:], native, sr)
    return out[:, (u - n0 * a) // b :]


def _decode_audio(container, stream, start: float, stop: float | None, path) -> tuple[np.ndarray, float, int]:
    """Decode from before ``start`` to past ``stop``: (float32 (C, n), first sample's time, native rate).

    Frames are placed by their timestamps: a hole in the stream (a skipped damaged packet) stays as silence,
    so later sound keeps its time.
    """
    chunks: list[np.ndarray] = []
    first, native, count = None, stream.codec_context.sample_rate, 0
    for frame in _decode_from(container, stream, start, margin=0.1):
        x = _planar_float(frame)  # (C, n)
        if chunks and x.shape[0] != chunks[0].shape[0]:
            raise MediaError(path, "audio channel layout changes mid-stream")
        t = float(frame.time) - _origin(container) if frame.time is not None else None
        first = first if first is not None else (t or 0.0)
        native = frame.sample_rate or native
        gap = _gap(t, first, count, native, x.shape[1])
        if gap:  # a lost packet or a hole: silence, later sound stays in place
            chunks.append(np.zeros((x.shape[0], gap), np.float32))
            count += gap
        chunks.append(x)
        count += x.shape[1]
        if stop is not None and first + count / native >= stop:
            break
    if not chunks:
        bad = f" ({skipped(path)} undecodable packets skipped)" if skipped(path) else ""
        raise MediaError(path, f"too short: no audio at or after {start:.2f} s{bad}")
    return np.concatenate(chunks, axis=1), first, native


def _gap(t: float | None, first: float, count: int, native: int, size: int) -> int:
    """Samples missing before a frame stamped ``t`` (``count`` samples decoded since ``first``), or 0.

    Gaps under 2 ms are timestamp rounding (Matroska stamps in milliseconds); one within 2 ms of a whole
    number of frames is that many lost packets of this frame's size; gaps over a minute are not trusted.
    """
    if t is None:
        return 0
    gap = round((t - first) * native) - count
    slack = native // 500
    if not slack < gap < 60 * native:
        return 0
    whole = round(gap / size) * size
    return whole if abs(gap - whole) <= slack else gap


def resample(wave: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """Band-limited resampling: ``torchaudio.functional.resample``'s sinc filter, kernel cached per rate pair.

    Shapes:
        ``(..., n) -> (..., ceil(n * new / orig))``; sample 0 stays at time 0.
    """
    if orig == new:
        return wave
    return _resampler(int(orig), int(new))(wave.float())


@functools.lru_cache(maxsize=16)
def _resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig, new)


_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9.223372036854775808e18}


def _planar_float(frame) -> np.ndarray:
    """An AudioFrame of any sample format as float32 (C, n)."""
    x = frame.to_ndarray()
    channels = frame.layout.nb_channels
    if not frame.format.is_planar:
        x = x.reshape(-1, channels).T
    name = frame.format.name.rstrip("p")
    if name == "u8":
        return ((x.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if name in _SCALE:
        return (x.astype(np.float64) / _SCALE[name]).astype(np.float32)
    return np.ascontiguousarray(x, dtype=np.float32)


def _cut(wave, sr, start, data_end, duration, header, path) -> torch.Tensor:
    """Exact window of a wave whose sample 0 is at ``start`` and whose decoded data ends at ``data_end``."""
    end = min(data_end, header) if header else data_end  # drop encoder end padding past the header's duration
    if duration is None:
        duration = end - start
        if duration <= 0:
            raise MediaError(
                path, f"too short: start {start:.2f} s is past the end of the audio ({end:.2f} s)"
            )
    if start + duration > end + WINDOW_TOLERANCE:
        if header and data_end < header - _TRUNCATED_GAP:
            raise MediaError(
                path, f"truncated file: audio data ends at {data_end:.2f} s, header says {header:.2f} s"
            )
        raise MediaError(
            path, f"too short: window {start:.2f}-{start + duration:.2f} s asked, audio ends at {end:.2f} s"
        )
    length = int(round(duration * sr))
    out = wave[:, :length]
    if out.shape[1] < length:
        out = F.pad(out, (0, length - out.shape[1]))
    return out.contiguous()


# --------------------------------------------------------------------------------------------- writing


@contextmanager
def _output(path: Path, fmt: str) -> Iterator:
    """An output container written to a temporary name and renamed into place when complete."""
    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov", "ipod") else {}
    with atomic_path(path, durable=False) as tmp:  # media outputs: whole or absent, not fsynced
        try:
            container = av.open(str(tmp), mode="w", format=fmt, container_options=options)
            try:
                yield container
            finally:
                container.close()
        except av.FFmpegError as err:
            raise MediaError(path, f"cannot write ({_why(err)})") from None


def _pad_even(frames: torch.Tensor) -> torch.Tensor:
    """Repeat the last row / column so H and W are even (h264 and mpeg4 with yuv420p need it)."""
    if frames.shape[2] % 2:
        frames = torch.cat([frames, frames[:, :, -1:]], dim=2)
    if frames.shape[3] % 2:
        frames = torch.cat([frames, frames[:, :, :, -1:]], dim=3)
    return frames


def _check_frames(frames, path) -> torch.Tensor:
    frames = torch.as_tensor(frames)
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[0] == 0:
        raise MediaError(
            path, f"frames must be uint8 (V, 3, H, W) with V > 0, got {frames.dtype} {tuple(frames.shape)}"
        )
    return frames


def _check_audio(audio, sr, codec: str, path) -> tuple[torch.Tensor, int]:
    """Check float audio (C, L); downmix C > 2 to stereo, clip to [-1, 1], resample for the codec."""
    audio = torch.as_tensor(audio, dtype=torch.float32)
    if audio.ndim == 1:
        audio = audio[None]
    if audio.ndim != 2 or audio.shape[0] == 0 or audio.shape[1] == 0:
        raise MediaError(path, f"audio must be float (C, L) with C >= 1 and L >= 1, got {tuple(audio.shape)}")
    if audio.shape[0] > 2:
        log.info("%s: %d audio channels downmixed to stereo", path, audio.shape[0])
        audio = downmix(audio)
    if not sr or sr <= 0:
        raise MediaError(path, f"audio needs a sample rate, got sr={sr}")
    rates = av.Codec(codec, "w").audio_rates
    if rates and sr not in rates:
        target = min((r for r in rates if r >= sr), default=max(rates))
        log.debug("%s: %s does not take %d Hz; resampling to %d Hz", path, codec, sr, target)
        audio, sr = resample(audio, sr, target), target
    return audio.clamp(-1.0, 1.0).contiguous(), int(sr)


def downmix(audio: torch.Tensor) -> torch.Tensor:
    """Stereo from more channels, in FFmpeg's channel order.

    5.1 ``(FL, FR, FC, LFE, BL, BR)`` and 7.1 (plus SL, SR) follow ITU-R BS.775: centre and surrounds at
    -3 dB into each side, LFE dropped; other counts alternate left/right. The sum is scaled so that it
    cannot clip more than the loudest input channel.

    Shapes:
        ``(C, L) -> (2, L)`` for C > 2; C <= 2 is returned as is.
    """
    channels = audio.shape[0]
    if channels <= 2:
        return audio
    weights = torch.zeros(2, channels)
    if channels in (6, 8):
        g = 0.5**0.5
        weights[0, [0, 2, 4]] = torch.tensor([1.0, g, g])
        weights[1, [1, 2, 5]] = torch.tensor([1.0, g, g])
        if channels == 8:
            weights[0, 6], weights[1, 7] = g, g
    else:
        weights[0, 0::2], weights[1, 1::2] = 1.0, 1.0
    weights /= weights.sum(1, keepdim=True)
    return weights @ audio  # (2, L)


def _add_audio(container, codec: str, sr: int, channels: int):
    stream = container.add_stream(codec, rate=sr)
    stream.layout = "mono" if channels == 1 else "stereo"
    if codec == "aac":
        stream.bit_rate = 64000 * channels
        stream.options = {"aac_coder": "fast"}
    return stream


def _encode_audio(container, stream, audio: np.ndarray | None, sr: int, first: int, last: int) -> None:
    """Encode samples [first, last) of float (C, L) audio; audio None flushes the encoder."""
    if audio is None:
        container.mux(stream.encode(None))
        return
    chunk = np.ascontiguousarray(audio[:, first:last])
    if not chunk.shape[1]:
        return
    frame = av.AudioFrame.from_ndarray(
        chunk, format="fltp", layout="mono" if chunk.shape[0] == 1 else "stereo"
    )
    frame.sample_rate, frame.pts, frame.time_base = sr, first, Fraction(1, sr)
    container.mux(stream.encode(frame))


def video_format(path: str | os.PathLike) -> tuple[str, str, str]:
    """Container, video codec and audio codec for writing a video at ``path``, chosen by its suffix.

    Raises:
        MediaError: a suffix no video container is written under (``out.json``, no suffix).
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITERS:
        name = f"'{suffix}'" if suffix else "no suffix"
        raise MediaError(path, f"cannot write a video with {name}: name it {', '.join(_WRITERS)}")
    return _WRITERS[suffix]


def write_video(
    path: str | os.PathLike,
    frames: torch.Tensor,
    fps: float,
    audio: torch.Tensor | None = None,
    sr: int | None = None,
    *,
    times: Sequence[float] | None = None,
    crf: int = 20,
    preset: str = "veryfast",
    rotation: int = 0,
) -> None:
    """Encode a video (h264 + AAC in mp4; the suffix picks other containers), written atomically.

    ``.mp4``/``.m4v``/``.mov``/``.mkv``: h264 (yuv420p, ``crf``) + AAC; ``.webm``: VP9 + Opus;
    ``.avi``: MPEG-4 part 2 + PCM. h264 and MPEG-4 with yuv420p need even sizes, so an odd H or W is padded
    by repeating the last row/column: the file is then one pixel taller/wider than ``frames``. Audio at a
    rate the codec does not take (e.g. 11000 Hz for AAC, non-48 kHz-family rates for Opus) is resampled to
    the next supported rate.

    Args:
        path: output file; its folder is created.
        frames: uint8 ``(V, 3, H, W)`` RGB.
        fps: frame rate (for variable rates give ``times``; fps is then only nominal).
        audio: float ``(C, L)`` in [-1, 1]; C > 2 (5.1, 7.1) is downmixed to stereo (:func:`downmix`); None
            writes a video-only file.
        sr: audio sample rate.
        times: per-frame timestamps in seconds for a variable frame rate (millisecond precision); a time not
            after the one before is moved 1 ms past it (with a warning).
        crf: h264 constant rate factor (lower is better; 20 is visually lossless for our use).
        preset: x264 speed preset ("ultrafast" encodes about 2x faster, files about 3x larger).
        rotation: display rotation metadata in degrees counter-clockwise (a multiple of 90; players and
            :func:`read_frames` turn the frames by it).

    Raises:
        MediaError: bad input tensors or an encoder failure.
    """
    path = Path(path)
    fmt, vcodec, acodec = video_format(path)
    frames = _check_frames(frames, path)
    if vcodec in _EVEN_CODECS:
        frames = _pad_even(frames)
    if audio is not None:
        audio, sr = _check_audio(audio, sr, acodec, path)
    with _output(path, fmt) as container:
        vstream, pts, seconds = _add_video(container, vcodec, fps, times, frames, (crf, preset), path)
        last = 1 if times is None else max(1, round(1000 / fps))  # the last frame shows for one frame at fps
        shown = np.diff(pts, append=pts[-1] + last)  # each frame's display time, in pts units
        if rotation % 360:
            vstream.set_display_rotation(rotation)
        astream = _add_audio(container, acodec, sr, audio.shape[0]) if audio is not None else None
        images = frames.permute(0, 2, 3, 1).contiguous().numpy()  # (V, H, W, 3)
        wave = audio.numpy() if audio is not None else None
        total = max(float(seconds[-1]) + 1.0 / fps, 0.0 if wave is None else wave.shape[1] / sr)
        done = 0
        for second in range(int(math.ceil(total))):  # interleave audio and video in 1 s chunks
            while done < len(images) and seconds[done] < second + 1:
                frame = av.VideoFrame.from_ndarray(images[done], format="rgb24")
                frame.pts = int(pts[done])
                _mux_video(container, vstream.encode(frame), pts, shown)
                done += 1
            if astream is not None:
                _encode_audio(container, astream, wave, sr, second * sr, (second + 1) * sr)
        _mux_video(container, vstream.encode(None), pts, shown)
        if astream is not None:
            _encode_audio(container, astream, None, sr, 0, 0)


def _mux_video(container, packets: list, pts: np.ndarray, shown: np.ndarray) -> None:
    """Mux packets, each lasting as long as its frame is shown (the encoder gives the last one a single tick,
    so a variable-rate video would end as its last frame appears)."""
    for packet in packets:
        if packet.pts is not None:
            at = int(np.searchsorted(pts, packet.pts))
            if at < len(pts) and pts[at] == packet.pts:
                packet.duration = int(shown[at])
        container.mux(packet)


def _add_video(
    container, codec: str, fps: float, times, frames: torch.Tensor, quality: tuple[int, str], path
):
    """Add the video stream; returns (stream, pts per frame, seconds per frame)."""
    if fps <= 0:
        raise MediaError(path, f"fps must be > 0, got {fps}")
    if times is None:
        rate = Fraction(fps).limit_denominator(1001)
        pts = np.arange(len(frames))
        seconds = pts / float(rate)
    else:
        pts = _increasing_ms(times, len(frames), path)
        seconds = pts / 1000.0
        rate = Fraction(1000)
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = int(frames.shape[3]), int(frames.shape[2])
    stream.pix_fmt = "yuv420p"
    if codec == "libx264":  # B-frames off for a variable rate: mp4 ends a track at its last dts, not pts
        stream.options = {"crf": str(quality[0]), "preset": quality[1]} | (
            {"bf": "0"} if times is not None else {}
        )
    elif codec == "libvpx-vp9":
        stream.options = {"crf": "30", "b": "0", "deadline": "realtime", "cpu-used": "8"}
    else:
        stream.options = {"qscale": "3"}
        stream.codec_context.qscale = 3
    return stream, pts, seconds


def _increasing_ms(times, count: int, path) -> np.ndarray:
    """Millisecond pts from per-frame times, made to start at >= 0 and to increase.

    A time at or before the one before it (a file whose B-frames carry decode-order times, duplicates) goes
    1 ms after it, with one warning: the work that made the frames is not lost to its timestamps.
    """
    seconds = np.asarray(times, dtype=np.float64).reshape(-1)
    if len(seconds) != count or not np.isfinite(seconds).all():
        raise MediaError(path, f"times must give one finite time per frame ({count}), got {len(seconds)}")
    pts = np.round(seconds * 1000).astype(np.int64)
    pts -= min(int(pts[0]), 0)
    step = np.arange(len(pts))
    fixed = np.maximum.accumulate(pts - step) + step  # smallest increasing sequence >= pts
    if (fixed != pts).any():
        log.warning(
            "%s: %d frame times were not increasing; each written 1 ms after the frame before",
            path, int((fixed != pts).sum()),
        )  # fmt: skip
    return fixed


def write_audio(path: str | os.PathLike, audio: torch.Tensor, sr: int) -> None:
    """Write audio atomically: ``.wav`` (pcm_s16le, default), ``.flac``, ``.m4a``/``.mp4`` (AAC), ``.mp3``.

    Args:
        path: output file; its folder is created.
        audio: float ``(C, L)`` (or ``(L,)``) in [-1, 1]; values outside are clipped. C > 2 is downmixed
            to stereo (:func:`downmix`).
        sr: sample rate (resampled only when the codec cannot take it, e.g. AAC at 11000 Hz).

    Raises:
        MediaError: bad input or an encoder failure.
    """
    path = Path(path)
    fmt, codec = _AUDIO_WRITERS.get(path.suffix.lower(), _AUDIO_WRITERS[".wav"])
    audio, sr = _check_audio(audio, sr, codec, path)
    wave = audio.numpy()
    with _output(path, fmt) as container:
        stream = _add_audio(container, codec, sr, wave.shape[0])
        for first in range(0, wave.shape[1], sr):
            _encode_audio(container, stream, wave, sr, first, first + sr)
        _encode_audio(container, stream, None, sr, 0, 0)
