"""Real-world media crafted with PyAV for the tests and benchmarks/odd_media.py (tests may import ``av``).

``write_media`` encodes a clip with any codec pair PyAV writes here (h264 with B-frames in an AVI gives the
non-monotonic timestamps real camera files have), with audio starting after the video if asked;
``corrupt_packet`` overwrites the payload of one packet in the file, as a damaged disc or camera card does.
Frames carry their index as the grey level of the left half (``frame_level``), as in ``conftest.make_clip``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".m4a": "ipod"}


def frame_level(i: int) -> int:
    """Grey level of the left half of frame i (neighbours differ by >= 37)."""
    return 20 + (i * 37) % 216


def write_media(
    path: str | Path,
    *,
    vcodec: str | None = "libx264",
    acodec: str | None = "aac",
    seconds: float = 2.0,
    fps: float = 12.0,
    size: tuple[int, int] = (48, 64),
    sr: int = 48000,
    channels: int = 2,
    audio_offset: float = 0.0,
    times: list[float] | None = None,
    silent: bool = False,
    video_options: dict[str, str] | None = None,
) -> Path:
    """Encode a clip: frames ``(H, W) = size`` for ``seconds`` (or at ``times``), a tone per channel.

    Args:
        vcodec / acodec: PyAV encoder names; None leaves that stream out.
        audio_offset: seconds of nothing before the first audio packet (the audio stream starts late).
        times: per-frame timestamps (variable frame rate; millisecond time base).
        silent: write zeros instead of the tone.
        video_options: encoder options (e.g. ``{"bf": "3"}`` for B-frames).
    """
    path = Path(path)
    container = av.open(str(path), "w", format=_FORMATS[path.suffix])
    video = _add_video(container, vcodec, fps, size, times, video_options) if vcodec else None
    audio = _add_audio(container, acodec, sr, channels) if acodec else None
    stamps = np.asarray(times if times is not None else np.arange(int(round(seconds * fps))) / fps)
    wave = _tone(seconds - audio_offset, sr, channels, silent) if audio else None
    first = int(round(audio_offset * sr))
    sent, done = 0, 0
    for second in range(int(math.ceil(max(seconds, float(stamps[-1]) + 1e-3)))):
        while video is not None and done < len(stamps) and stamps[done] < second + 1:
            container.mux(video.encode(_frame(done, stamps[done], size, _rate(fps, times))))
            done += 1
        while audio is not None and sent < wave.shape[1] and first + sent < (second + 1) * sr:
            step = audio.codec_context.frame_size or 1024
            container.mux(audio.encode(_audio_frame(wave, sent, step, first, audio)))
            sent += step
    for stream in (video, audio):
        if stream is not None:
            container.mux(stream.encode(None))
    container.close()
    return path


def _add_video(container, codec: str, fps: float, size, times, options):
    stream = container.add_stream(codec, rate=_rate(fps, times))
    stream.height, stream.width = size
    stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    fast = {"deadline": "realtime", "cpu-used": "8"} if codec == "libvpx-vp9" else {}
    stream.options = {**fast, **(options or {})}
    return stream


def _rate(fps: float, times) -> Fraction:
    """Frames' time unit: milliseconds for a variable frame rate, else one frame."""
    return Fraction(1000) if times is not None else Fraction(fps).limit_denominator(1001)


def _add_audio(container, codec: str, sr: int, channels: int):
    stream = container.add_stream(codec, rate=sr)
    stream.layout = _LAYOUTS[channels]
    if codec in ("aac", "ac3", "libmp3lame", "libopus"):
        stream.bit_rate = 64000 * min(channels, 2)
    return stream


def _tone(seconds: float, sr: int, channels: int, silent: bool) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    waves = [0.3 * np.sin(2 * np.pi * 440.0 * (1 + 0.5 * c) * t) for c in range(channels)]
    return np.zeros((channels, len(t)), np.float32) if silent else np.stack(waves).astype(np.float32)


def _frame(i: int, t: float, size, rate: Fraction) -> av.VideoFrame:
    height, width = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (200, 40, 40)
    image[:, : max(width // 2, 1)] = frame_level(i)
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts = int(round(t * rate))
    return frame


def _audio_frame(wave: np.ndarray, sent: int, step: int, first: int, stream) -> av.AudioFrame:
    chunk = wave[:, sent : sent + step]
    if chunk.shape[1] < step:
        chunk = np.pad(chunk, ((0, 0), (0, step - chunk.shape[1])))
    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(chunk), format="fltp", layout=_LAYOUTS[chunk.shape[0]]
    )
    frame.sample_rate = stream.rate
    frame.pts, frame.time_base = first + sent, Fraction(1, stream.rate)
    return frame


def corrupt_packet(path: str | Path, kind: str = "audio", index: int = 0, keep: int = 4) -> tuple[int, int]:
    """Overwrite the ``index``-th packet of the first ``kind`` stream but its first and last ``keep`` bytes
    (a frame's sync word and header survive); returns the packet's (pos, size)."""
    path = Path(path)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0] if kind == "audio" else container.streams.video[0]
        packets = [(p.pos, p.size) for p in container.demux(stream) if p.size and p.pos is not None]
    pos, size = packets[index]
    data = bytearray(path.read_bytes())
    junk = np.random.default_rng(index).integers(0, 256, size - 2 * keep, dtype=np.uint8).tobytes()
    data[pos + keep : pos + size - keep] = junk
    path.write_bytes(bytes(data))
    return pos, size
