"""The listening page (``index.html``): the video with its sounding heatmap; click anywhere to hear that spot.

The page is one HTML file that works from the file system (``file://``): every grid cell's sound is inlined,
compressed, and decoded in the browser into a WebAudio buffer; the overlay video is inlined as a data URI when
it is small and referenced next to the page otherwise (media elements may load neighbouring files from
``file://``; scripts may not fetch them, hence the inlined sounds).

**Codec** (block-companded PCM, about 4.1 bits a sample at 4 bits): each cell's sound, resampled to
``rate`` (8 kHz by default), is cut into blocks of ``block`` samples. A block stores one byte for its peak
``S = 2 ** ((code - 128) / 8)`` (rounded up, so ``|x| <= S``) and one ``bits``-bit code per sample: the sample
over ``S``, mu-law companded, uniformly quantized. Decoding is two table look-ups and a product, done with
the same float64 tables in Python and in the page, so both decode to the same float32 samples bit for bit.

The page exposes its state for tests and scripts as ``window.pixelsound``: ``lastPlayed`` (``kind``, ``row``,
``col``, ``index``, ``offset``, ``samples``, ``rms``, ``checksum``), ``play(kind, index, offset)``,
``decode(kind, index)`` and ``outputRms()`` (what the audio graph is playing right now).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pixelsound import io

log = logging.getLogger(__name__)

SCALE_STEPS = 8  # scale codes per octave
MU = {4: 15.0, 8: 255.0}
INLINE_VIDEO_BYTES = 8 * 2**20  # larger overlay videos are referenced, not inlined


@dataclass(frozen=True)
class Codec:
    """Block-companded PCM parameters (see the module docstring)."""

    bits: int = 4
    block: int = 64

    def __post_init__(self) -> None:
        if self.bits not in MU or self.block % 2:
            raise ValueError(f"codec: bits must be 4 or 8 and block even, got {self.bits}, {self.block}")

    @property
    def mu(self) -> float:
        return MU[self.bits]

    def scale_table(self) -> np.ndarray:
        """Peak value of each scale code. ``(256,)`` float64."""
        return 2.0 ** ((np.arange(256) - 128) / SCALE_STEPS)

    def level_table(self) -> np.ndarray:
        """Sample value (over the block peak) of each code. ``(2 ** bits,)`` float64 in [-1, 1]."""
        q = 2**self.bits - 1
        c = np.arange(q + 1) / q * 2 - 1
        return np.sign(c) * ((1 + self.mu) ** np.abs(c) - 1) / self.mu

    def bytes_per(self, samples: int) -> int:
        """Encoded size of ``samples`` samples."""
        blocks = -(-samples // self.block)
        return blocks * (1 + self.block * self.bits // 8)

    def encode(self, x: np.ndarray, rows_at_once: int = 16) -> bytes:
        """Encode rows of samples; each row takes :meth:`bytes_per` bytes (scales first, then codes).

        Rows are encoded ``rows_at_once`` at a time, so memory stays a few times one batch of rows.

        Shapes:
            x ``(N, n)`` float -> ``N * bytes_per(n)`` bytes
        """
        x = np.asarray(x, dtype=np.float32)
        return b"".join(
            self._encode_rows(x[i : i + rows_at_once]) for i in range(0, x.shape[0], rows_at_once)
        )

    def _encode_rows(self, x: np.ndarray) -> bytes:
        rows, n = x.shape
        blocks = -(-n // self.block)
        x = np.pad(x, ((0, 0), (0, blocks * self.block - n))).reshape(rows, blocks, self.block)
        peak = np.abs(x).max(-1).astype(np.float64)  # (N, blocks)
        code = np.ceil(SCALE_STEPS * np.log2(np.maximum(peak, 1e-30)) + 128 - 1e-9)
        code = np.clip(code, 0, 255).astype(np.uint8)
        y = np.clip(x / self.scale_table()[code][..., None].astype(np.float32), -1, 1)
        c = np.sign(y) * (np.log1p(self.mu * np.abs(y)) / np.float32(np.log1p(self.mu)))
        q = np.rint((c + 1) * np.float32((2**self.bits - 1) / 2)).astype(np.uint8).reshape(rows, -1)
        if self.bits == 4:
            q = q[:, 0::2] | (q[:, 1::2] << 4)
        return np.concatenate([code, q], axis=1).tobytes()

    def decode(self, data: bytes, rows: int, n: int) -> np.ndarray:
        """Inverse of :meth:`encode` (lossy). ``-> float32 (rows, n)``."""
        raw = np.frombuffer(data, dtype=np.uint8).reshape(rows, -1)
        blocks = -(-n // self.block)
        code, packed = raw[:, :blocks], raw[:, blocks:]
        if self.bits == 4:
            q = np.stack([packed & 15, packed >> 4], -1).reshape(rows, -1)
        else:
            q = packed
        levels = self.level_table()[q].reshape(rows, blocks, self.block)
        x = levels * self.scale_table()[code][..., None]
        return x.reshape(rows, -1)[:, :n].astype(np.float32)


def checksum(x: np.ndarray) -> float:
    """The page's checksum of a played buffer: ``sum_i x_i * (i % 7 + 1)`` in float64."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    return float((x * (np.arange(len(x)) % 7 + 1)).sum())


def page_rate(sample_rate: int, wanted: int = 8000) -> int:
    """Sample rate of the page's sounds: ``wanted``, or the model's rate when lower."""
    return min(sample_rate, wanted)


def encode_sounds(sounds: Tensor, sample_rate: int, rate: int, codec: Codec) -> tuple[str, int]:
    """Resample sounds to ``rate`` and encode them.

    Shapes:
        sounds ``(N, L)`` -> (base64 text, samples per sound at ``rate``)
    """
    parts, samples = [], 0
    for first in range(0, sounds.shape[0], 16):  # 16 sounds at a time bounds the memory
        x = sounds[first : first + 16].float()
        if rate != sample_rate:
            x = io.resample(x, sample_rate, rate)
        parts.append(codec.encode(x.numpy()))
        samples = int(x.shape[-1])
    return base64.b64encode(b"".join(parts)).decode("ascii"), samples


def _template() -> str:
    return (Path(__file__).parent / "assets" / "page" / "index.html").read_text()


def page_data(result, *, codec: Codec, rate: int, wavs: list[str] | None = None) -> dict:
    """Everything the page's script reads: grid, codec tables, every cell's and object's sound, facts.

    Args:
        result: a :class:`pixelsound.pixels.PixelsResult` with ``cells`` (page_seconds > 0).
        codec: how sounds are compressed.
        rate: sample rate of the page's sounds.
        wavs: a file name per object (links next to the page), or None.
    """
    if result.cells is None:
        raise ValueError("the listening page needs every cell's sound: run pixels with page_seconds > 0")
    h, w, page_len = result.cells.shape
    sr = result.sample_rate
    cells, samples = encode_sounds(result.cells.reshape(h * w, page_len), sr, rate, codec)
    sounds = [o.audio[:page_len] for o in result.objects if o.audio is not None]
    objects_text = encode_sounds(torch.stack(sounds), sr, rate, codec)[0] if sounds else ""
    objects = []
    for i, o in enumerate(result.objects):
        label = f"Object {i + 1}" + (f" · {o.category}" if o.category else "")
        cells_of = o.region.flatten().nonzero().flatten().tolist()
        wav = wavs[i] if wavs else None
        objects.append(
            {"label": label, "category": o.category, "share": o.energy_share, "cells": cells_of, "wav": wav}
        )
    seconds = page_len / sr
    facts = [
        ["video", html.escape(Path(result.source).name)], ["length", f"{result.duration:.1f} s"],
        ["grid", f"{h} × {w} cells"],
        ["cell sounds", f"first {seconds:.1f} s at {rate} Hz, {codec.bits}-bit"],
        ["model rate", f"{sr} Hz"],
    ]  # fmt: skip
    return {
        "grid": [h, w], "rate": rate, "bits": codec.bits, "block": codec.block, "samples": samples,
        "seconds": seconds, "duration": result.duration, "scales": codec.scale_table().tolist(),
        "levels": codec.level_table().tolist(), "cells": cells, "objectSounds": objects_text,
        "objects": objects, "facts": facts,
    }  # fmt: skip


def build_page(
    result,
    video_src: str,
    *,
    codec: Codec | None = None,
    rate: int = 8000,
    wavs: list[str] | None = None,
    title: str | None = None,
    width: int = 640,
    poster: str = "",
) -> str:
    """The listening page as HTML text.

    Args:
        result: per-pixel separation with every cell's sound (``result.cells``).
        video_src: the overlay video's address: a relative file name or a ``data:`` URI.
        codec: sound compression (default 4-bit blocks of 64).
        rate: sample rate of the page's sounds (at most the model's).
        wavs: per object, a file name to link.
        title: page title (default: the video's name).
        width: displayed video width in CSS pixels.
        poster: picture shown before the video plays (an address or a ``data:`` URI); also what a page without
            a video shows.
    """
    codec = codec or Codec()
    data = page_data(result, codec=codec, rate=page_rate(result.sample_rate, rate), wavs=wavs)
    seconds, duration = data["seconds"], data["duration"]
    note = "" if seconds >= duration - 1e-3 else f"Cell sounds cover the first {seconds:.0f} s of the video."
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    page = _template()
    for key, value in (
        ("TITLE", html.escape(title or f"The sound of every pixel: {Path(result.source).name}")),
        ("WIDTH", str(int(width))),
        ("ASPECT", f"{result.size[1]} / {result.size[0]}"),
        ("POSTER", html.escape(poster, quote=True)),
        ("NOTE", html.escape(note)),
        ("VIDEO_SRC", f'src="{html.escape(video_src, quote=True)}"' if video_src else ""),
    ):
        page = page.replace("{{" + key + "}}", value)
    return page.replace("{{DATA}}", text)


def write_page(
    result,
    path: str | Path,
    *,
    video: str | Path | None,
    poster: str | Path | None = None,
    inline_limit: int = INLINE_VIDEO_BYTES,
    **kwargs,
) -> dict[str, object]:
    """Write ``index.html``; the overlay video is inlined when smaller than ``inline_limit`` bytes.

    Args:
        result: per-pixel separation with every cell's sound.
        path: the page file.
        video: the overlay video (best in the same folder as the page), or None.
        poster: a PNG shown before the video plays (inlined), e.g. the overall heatmap.
        inline_limit: bigger videos are referenced by their name relative to the page.
        **kwargs: passed to :func:`build_page`.

    Returns:
        ``{"path", "bytes", "video_inlined"}``.
    """
    path = Path(path)
    src, inlined = "", False
    if video is not None:
        video = Path(video)
        if video.stat().st_size <= inline_limit:
            src, inlined = (
                "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode("ascii"),
                True,
            )
        else:
            src = Path(os.path.relpath(video.resolve(), path.parent.resolve())).as_posix()
    if poster is not None:
        kwargs["poster"] = "data:image/png;base64," + base64.b64encode(Path(poster).read_bytes()).decode(
            "ascii"
        )
    h, w = result.size
    kwargs.setdefault("width", round(min(640, 540 * w / max(h, 1))))
    text = build_page(result, src, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    size = path.stat().st_size
    log.info("listening page %s: %.1f MB (video %s)", path, size / 2**20, "inlined" if inlined else "linked")
    return {"path": str(path), "bytes": size, "video_inlined": inlined}
