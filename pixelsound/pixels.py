"""The sound of every pixel: ``pixelsound pixels VIDEO [--model M] --out DIR``.

Given per-pixel visual features ``(K, h, w)`` instead of one clip vector, the model's synthesizer
(:func:`pixelsound.model.synthesize`) gives a mask for every grid cell in one ``einsum``: ``(h, w, F, T)``.
This module runs the frame net and the audio net once per time chunk, synthesizes the masks of all cells at
once, and turns masks into waveforms (unwarp, multiply the mixture's STFT, invert) for one cell, a region, or
every cell.

Definitions used throughout:

* the visual vector of a region with cell weights ``r`` in [0, 1] is pooled from ``r_c v_c`` as training
  pools a clip, or a source's part of a scene (:mod:`pixelsound.views`): their maximum, ``v_R = max_c r_c
  v_c``, or with the model's ``pool_top`` the mean of that share of the largest
  (:func:`pixelsound.frames.pool_regions`); its mask is the synthesizer's mask for ``v_R``; one cell's sound
  is the region made of that cell alone;
* the energy of a cell's sound at STFT frame t is ``sum_f |unwarp(M_c) X|^2`` (X the mixture STFT), summed
  into time bins of ``bin_seconds`` and into ``bands`` log-spaced frequency bands.

Long videos are cut into overlapping chunks (the model's training window by default) that are decoded one at
a time; each chunk's outputs are weighted by ramps that cross-fade in the middle half of every overlap (the
weights sum to one everywhere) and added, so memory is bounded by the chunk, not the video. The per-chunk
frame and audio features are kept (small: ``K x F`` numbers per STFT frame), so any region's sound can be made
afterwards without decoding again.

Python API, mirroring the verb::

    from pixelsound.pixels import pixels
    result = pixels("duet.mp4", "models/instruments")
    result.objects[0].audio, result.cell_audio(3, 4), result.region_audio(mask)
    result.write("out/")       # object wavs, overlay.mp4, heatmap PNGs, pixels.json, index.html
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from pixelsound import checkpoint, spec
from pixelsound.errors import UsageError
from pixelsound.frames import pool_regions
from pixelsound.model import SoundOfPixels

if TYPE_CHECKING:
    from pixelsound.objects import SoundingObject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PixelsOptions:
    """How per-pixel separation runs (the CLI's options).

    Attributes:
        chunk_seconds: length of a time chunk (0: the model's training window ``cfg.audio.length``).
        overlap: share of a chunk overlapping the next one (at most 0.5).
        grid: ``(h, w)`` grid the per-pixel features are resized to (bilinear); None keeps the frame net's.
        frame_size: frames are resized to this side before the frame net (0: the model's training size). A
            larger size gives a finer native grid (the frame net is convolutional); objects then look larger
            than in training, which suits scenes with several small objects (e.g. duets at 2x).
        cell_batch: cells turned into waveforms at once (0: as many as fit in about 256 MB of intermediate
            spectra); bounds memory, while the masks of all cells still come from one einsum.
        bin_seconds: time resolution of the energies behind heatmaps.
        bands: log-spaced frequency bands of the per-cell energies (the cells' sound descriptors).
        page_seconds: seconds of every cell's sound kept for the listening page (0: none).
        max_objects: most sounding objects looked for.
        min_share: an object must carry at least this share of the sounding cells' energy.
        place: weight of a cell's place against its sound when cells are grouped into objects
            (:func:`pixelsound.objects.group_cells`; 0: by sound alone).
    """

    chunk_seconds: float = 0.0
    overlap: float = 0.25
    grid: tuple[int, int] | None = None
    frame_size: int = 0
    cell_batch: int = 0
    bin_seconds: float = 0.1
    bands: int = 16
    page_seconds: float = 30.0
    max_objects: int = 4
    min_share: float = 0.05
    place: float = 2.0


@dataclass
class Video:
    """An in-memory video for :func:`pixels`: frames, their rate, and the soundtrack.

    Attributes:
        frames: uint8 ``(V, 3, H, W)``; frame i is on screen from ``i / fps``.
        fps: frame rate.
        audio: the mixture ``(L,)`` or ``(C, L)`` (channels averaged).
        sample_rate: Hz (resampled to the model's rate when it differs).
    """

    frames: Tensor
    fps: float
    audio: Tensor
    sample_rate: int


@dataclass
class Chunk:
    """What the nets said about one time chunk; enough to make any region's sound in it.

    Attributes:
        start: first sample of the chunk in the whole soundtrack.
        weight: overlap-add weight of each sample, ``(Lc,)``.
        visual: per-pixel features on the grid, ``(K, h, w)``.
        audio: audio components, ``(K, F, T)``.
        mix_spec: the chunk's mixture STFT, complex ``(F_lin, T)``.
        mix: the chunk's mixture, ``(Lc,)``.
    """

    start: int
    weight: Tensor
    visual: Tensor
    audio: Tensor
    mix_spec: Tensor
    mix: Tensor

    @property
    def length(self) -> int:
        return int(self.weight.shape[0])


# ----------------------------------------------------------------------------------------- pure helpers


def chunk_plan(total: int, chunk: int, overlap: float, align: int = 1) -> list[tuple[int, int]]:
    """``(start, length)`` of chunks covering ``total`` samples, evenly spaced.

    Starts are multiples of ``align`` (the STFT hop, so every chunk's frames fall on the whole video's frame
    grid); each chunk is ``chunk`` long except the last, which runs to the end (up to ``align - 1`` longer).
    Consecutive chunks share at least ``overlap * chunk`` samples; one chunk when ``total <= chunk``.
    """
    if not 0 <= overlap <= 0.5:
        raise ValueError(f"overlap must be in [0, 0.5], got {overlap}")
    if total <= chunk:
        return [(0, total)]
    step = max(1, int(chunk * (1 - overlap)))
    count = math.ceil((total - chunk) / step) + 1
    starts = sorted({int(i * (total - chunk) / (count - 1)) // align * align for i in range(count)})
    return [(s, chunk) for s in starts[:-1]] + [(starts[-1], total - starts[-1])]


def _ramp(n: int, overlap: int) -> Tensor:
    """Rise from 0 to 1 over the middle half of the first ``overlap`` of ``n`` samples. ``(n,)``."""
    t = torch.arange(n, dtype=torch.float64)
    if overlap <= 0:
        return torch.ones(n, dtype=torch.float64)
    lo, width = overlap / 4, overlap / 2
    return ((t + 0.5 - lo) / width).clamp(0, 1)


def overlap_weights(plan: list[tuple[int, int]]) -> list[Tensor]:
    """Cross-fade weights for the chunks of a :func:`chunk_plan`: 0 in the outer quarters of each overlap,
    1 outside overlaps, linear in between, so every sample's weights sum to one and chunk edges never count.

    Returns:
        One float32 ``(length,)`` weight per chunk.
    """
    weights = []
    for i, (start, length) in enumerate(plan):
        left = sum(plan[i - 1]) - start if i > 0 else 0
        right = start + length - plan[i + 1][0] if i + 1 < len(plan) else 0
        weights.append(torch.minimum(_ramp(length, left), _ramp(length, right).flip(0)))
    total = torch.zeros(sum(plan[-1]), dtype=torch.float64)
    for (start, length), w in zip(plan, weights, strict=True):
        total[start : start + length] += w
    total = total.clamp_min(1e-12)
    return [(w / total[s : s + n]).float() for (s, n), w in zip(plan, weights, strict=True)]


def istft(spec_: Tensor, n_fft: int, hop: int, length: int) -> Tensor:
    """Inverse STFT equal to :func:`pixelsound.spec.istft` (Hann window, centred), faster for many rows.

    The overlap-add is a sum of ``ceil(n_fft / hop)`` shifted slices instead of a ``fold``.

    Shapes:
        spec_ complex ``(N, F_lin, T)`` -> ``(N, length)`` (fastest with memory laid out ``(N, T, F_lin)``)
    """
    n, _, frames_t = spec_.shape
    window, envelope = _window_envelope(n_fft, hop, frames_t, str(spec_.device))
    frames = torch.fft.irfft(spec_.transpose(1, 2), n=n_fft).mul_(window)  # (N, T, n_fft)
    parts = -(-n_fft // hop)
    out = frames.new_zeros(n, frames_t + parts - 1, hop)
    for j in range(parts):
        piece = frames[:, :, j * hop : (j + 1) * hop]  # the last piece may be shorter than hop
        out[:, j : j + frames_t, : piece.shape[-1]] += piece
    begin = n_fft // 2
    wave = out.view(n, -1)[:, begin : begin + length] / envelope[begin : begin + length]
    return F.pad(wave, (0, length - wave.shape[1]))


@functools.lru_cache(maxsize=8)
def _window_envelope(n_fft: int, hop: int, frames_t: int, device: str) -> tuple[Tensor, Tensor]:
    """Hann window and its overlap-added square (what the inverse STFT divides by), cached.

    Shapes:
        -> ``(n_fft,)``, ``((T + parts - 1) * hop,)``
    """
    window = torch.hann_window(n_fft, device=device)
    parts = -(-n_fft // hop)
    sq = F.pad(window**2, (0, parts * hop - n_fft)).view(parts, hop)
    env = window.new_zeros(frames_t + parts - 1, hop)
    for j in range(parts):
        env[j : j + frames_t] += sq[j]
    return window, env.flatten().clamp_min(1e-11)


def band_matrix(model: SoundOfPixels, bands: int) -> Tensor:
    """Linear STFT bins summed into ``bands`` bands equally spaced on the model's log-frequency axis.

    Shapes:
        -> ``(F_lin, bands)``
    """
    a = model.cfg.audio
    n_lin = a.n_fft // 2 + 1
    pos = spec.log_bin_positions(n_lin, a.log_bins, a.sample_rate).numpy()  # (F,) linear index of log bins
    u = np.interp(
        np.arange(n_lin), pos, np.linspace(0, 1, len(pos))
    )  # place of each linear bin on the log axis
    which = np.minimum((u * bands).astype(np.int64), bands - 1)
    matrix = torch.zeros(n_lin, bands)
    matrix[torch.arange(n_lin), torch.from_numpy(which)] = 1.0
    return matrix


class _Kit:
    """Per-model constants for masks -> waveforms: the unwarp and band matrices, STFT sizes."""

    def __init__(self, model: SoundOfPixels, bands: int):
        a = model.cfg.audio
        self.model, self.n_fft, self.hop = model, a.n_fft, a.hop
        self.unwarp_t = model.unwarp_matrix.float().T.contiguous()  # (F, F_lin): one GEMM per batch
        self.bands = band_matrix(model, bands).to(model.unwarp_matrix.device)  # (F_lin, bands)

    def linear(self, masks: Tensor) -> Tensor:
        """Masks on the linear frequency grid, frames first. ``(N, F, T)`` -> ``(N, T, F_lin)``."""
        return torch.matmul(masks.transpose(1, 2), self.unwarp_t)

    def waves(self, linear: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Apply linear masks to the mixture STFT and invert.

        Shapes:
            linear ``(N, T, F_lin)``, mix_spec ``(F_lin, T)`` -> ``(N, length)``
        """
        spectra = linear * mix_spec.T  # (N, T, F_lin) complex, contiguous
        return istft(spectra.transpose(1, 2), self.n_fft, self.hop, length)

    def band_energy(self, linear: Tensor, mix_spec: Tensor) -> Tensor:
        """Energy ``|M X|^2`` per band and STFT frame.

        Shapes:
            linear ``(N, T, F_lin)``, mix_spec ``(F_lin, T)`` -> ``(N, bands, T)``
        """
        power = mix_spec.abs().square().T  # (T, F_lin)
        return (linear.square() * power).matmul(self.bands).transpose(1, 2)


def batch_size(opts: PixelsOptions, mix_spec: Tensor, budget: int = 256 * 2**20) -> int:
    """Cells per batch: ``opts.cell_batch``, or (when 0) as many as keep a batch under ``budget`` bytes."""
    if opts.cell_batch > 0:
        return opts.cell_batch
    per_cell = mix_spec.numel() * 8 * 3  # complex spectra + real frames + linear masks, roughly
    return max(1, budget // per_cell)


def cell_masks(model: SoundOfPixels, visual: Tensor, audio: Tensor) -> Tensor:
    """Masks of every grid cell from one einsum (the model's synthesizer in its per-pixel form).

    Args:
        model: the separation model.
        visual: per-pixel features ``(K, h, w)``.
        audio: audio components ``(K, F, T)``.

    Returns:
        Masks in [0, 1], ``(h, w, F, T)``.
    """
    return torch.sigmoid(model.synthesize(visual[None], audio[None])[0])


def region_vectors(visual: Tensor, regions: Tensor, top: float = 0.0) -> Tensor:
    """Visual vector of each weighted region: ``v_R = max_c r_c v_c``, or the mean of the ``top`` share of
    the largest (the model's ``pool_top``; see the module docstring).

    Shapes:
        visual ``(K, h, w)`` in [0, 1], regions ``(R, h, w)`` in [0, 1] -> ``(R, K)``
    """
    return pool_regions(visual[None], regions[None], top)[0]


def region_masks(model: SoundOfPixels, visual: Tensor, audio: Tensor, regions: Tensor) -> Tensor:
    """Masks of weighted regions, from their pooled visual vectors (one einsum for all regions).

    Shapes:
        visual ``(K, h, w)``, audio ``(K, F, T)``, regions ``(R, h, w)`` -> ``(R, F, T)``
    """
    vectors = region_vectors(visual, regions, model.cfg.model.pool_top)  # (R, K)
    return torch.sigmoid(model.synthesize(vectors[None], audio[None]))[0]


def _regions(region: Tensor, grid: tuple[int, int]) -> Tensor:
    """A region ``(h, w)`` or several ``(R, h, w)`` as float ``(R, h, w)``, checked against the grid."""
    region = torch.as_tensor(region)
    if region.dim() == 2:
        region = region[None]
    if region.dim() != 3 or tuple(region.shape[-2:]) != tuple(grid):
        raise ValueError(f"region must be (h, w) or (R, h, w) on the {grid} grid, got {tuple(region.shape)}")
    if (region < 0).any() or (region > 1).any() or (region.flatten(1).sum(1) <= 0).any():
        raise ValueError("region weights must be in [0, 1] and each region must hold at least one cell")
    return region.float()


# ----------------------------------------------------------------------------------------- sources


class _FileSource:
    """Chunks of a video file, decoded on demand (frames for the nets, the soundtrack at the model's rate)."""

    def __init__(self, path: str | Path, sample_rate: int):
        from pixelsound import io

        self.path, self.sample_rate = str(path), sample_rate
        info = io.probe(path)
        if not info.has_audio or not info.has_video:
            missing = "soundtrack" if not info.has_audio else "video stream"
            raise io.MediaError(
                path, f"per-pixel separation needs video with sound; this file has no {missing}"
            )
        self.fps, self.size, self.duration = info.fps, (info.height, info.width), info.duration
        self.native_rate = info.sample_rate
        self.length = int(info.duration * sample_rate)

    def audio(self, start: int, length: int) -> Tensor:
        """Mono mixture samples ``[start, start + length)``. ``-> (length,)``."""
        from pixelsound import io

        sr = self.sample_rate
        return io.read_audio(self.path, sr, start=start / sr, duration=length / sr)[0]

    def frames(self, times: Tensor, size: int | tuple[int, int]) -> Tensor:
        """Frames on screen at ``times`` (seconds), resized. ``(V,)`` -> uint8 ``(V, 3, H, W)``."""
        from pixelsound import io

        return io.read_frames(self.path, times=times.clamp(0, max(self.duration - 1e-3, 0)), size=size)[0]

    def soundtrack(self) -> tuple[Tensor, int]:
        """The original audio, all channels, at its own rate: ``((C, L), sr)``."""
        from pixelsound import io

        return io.read_audio(self.path, self.native_rate, mono=False), self.native_rate


class _TensorSource:
    """The same interface over an in-memory :class:`Video`."""

    def __init__(self, video: Video, sample_rate: int):
        import torchaudio.functional as AF

        frames = torch.as_tensor(video.frames)
        if frames.dim() != 4 or frames.shape[1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"Video.frames must be uint8 (V, 3, H, W), got {frames.dtype} {tuple(frames.shape)}"
            )
        audio = torch.as_tensor(video.audio, dtype=torch.float32)
        self.original = audio if audio.dim() == 2 else audio[None]  # (C, L)
        mono = self.original.mean(0)
        if video.sample_rate != sample_rate:
            mono = AF.resample(mono, video.sample_rate, sample_rate)
        self.path, self.sample_rate, self.native_rate = "<tensor>", sample_rate, video.sample_rate
        self.video, self.fps, self.mono = frames, float(video.fps), mono
        self.size = (int(frames.shape[2]), int(frames.shape[3]))
        self.duration = min(len(frames) / self.fps, mono.shape[0] / sample_rate)
        self.length = min(mono.shape[0], int(self.duration * sample_rate))

    def audio(self, start: int, length: int) -> Tensor:
        return self.mono[start : start + length]

    def frames(self, times: Tensor, size: int | tuple[int, int]) -> Tensor:
        from pixelsound.io import resize_frames

        index = (times * self.fps).floor().long().clamp(0, len(self.video) - 1)
        return resize_frames(self.video[index], size)

    def soundtrack(self) -> tuple[Tensor, int]:
        return self.original, self.native_rate


def _open(video: str | Path | Video, sample_rate: int) -> _FileSource | _TensorSource:
    source = (
        _TensorSource(video, sample_rate) if isinstance(video, Video) else _FileSource(video, sample_rate)
    )
    if source.length < 2 * sample_rate // 10:
        raise ValueError(f"{source.path}: too short for per-pixel separation ({source.length} samples)")
    return source


# ----------------------------------------------------------------------------------------- result


@dataclass
class PixelsResult:
    """Per-pixel separation of one video.

    Attributes:
        source: the video's path (``"<tensor>"`` for a :class:`Video`).
        sample_rate: Hz of every waveform here.
        mixture: the soundtrack that was separated, ``(L,)``.
        grid: ``(h, w)`` cells.
        chunks: per-chunk features (any region's sound is made from them).
        energy: energy of each cell's sound per band and time bin, ``(h, w, bands, n_bins)``.
        bin_seconds: seconds per time bin of ``energy``.
        visual: per-pixel features averaged over chunks, ``(K, h, w)``.
        cells: every cell's sound over the first ``options.page_seconds``, ``(h, w, L_page)`` (or None).
        fps: the video's frame rate.
        size: the video's frame size ``(H, W)``.
        options: the options used.
        model: the model used.
        objects: sounding objects (see :mod:`pixelsound.objects`).
    """

    source: str
    sample_rate: int
    mixture: Tensor
    grid: tuple[int, int]
    chunks: list[Chunk] = field(repr=False)
    energy: Tensor = field(repr=False)
    bin_seconds: float
    visual: Tensor = field(repr=False)
    cells: Tensor | None = field(repr=False)
    fps: float
    size: tuple[int, int]
    options: PixelsOptions
    model: SoundOfPixels = field(repr=False)
    objects: list[SoundingObject] = field(default_factory=list)
    _source: object = field(default=None, repr=False)

    @property
    def length(self) -> int:
        return int(self.mixture.shape[0])

    @property
    def duration(self) -> float:
        return self.length / self.sample_rate

    def heat(self) -> Tensor:
        """Energy of each cell's sound over time, ``(n_bins, h, w)``."""
        return self.energy.sum(2).permute(2, 0, 1)

    def heatmap(self) -> Tensor:
        """Where the sound is: each cell's RMS over the loudest cell's (amplitude), ``(h, w)`` in [0, 1]."""
        rms = self.energy.sum((2, 3)).sqrt()
        return rms / rms.max().clamp_min(1e-10)

    @torch.no_grad()
    def region_audio(self, region: Tensor) -> Tensor:
        """Sound of a region (the mask of its pooled visual vector applied to the mixture).

        Args:
            region: cell weights ``(h, w)`` (bool or float >= 0), or several regions ``(R, h, w)``.

        Returns:
            ``(L,)`` for one region, ``(R, L)`` for several.
        """
        regions = _regions(region, self.grid)
        kit = _Kit(self.model, self.options.bands)
        out = torch.zeros(len(regions), self.length)
        for c in self.chunks:
            masks = region_masks(self.model, c.visual, c.audio, regions)  # (R, F, T)
            waves = kit.waves(kit.linear(masks), c.mix_spec, c.length).cpu()  # (R, Lc)
            out[:, c.start : c.start + c.length] += waves * c.weight
        return out[0] if torch.as_tensor(region).dim() == 2 else out

    def cell_audio(self, row: int, col: int) -> Tensor:
        """Sound of one grid cell. ``-> (L,)``."""
        h, w = self.grid
        if not (0 <= row < h and 0 <= col < w):
            raise IndexError(f"cell ({row}, {col}) outside the {h} x {w} grid")
        region = torch.zeros(h, w)
        region[row, col] = 1.0
        return self.region_audio(region)

    @torch.no_grad()
    def all_cells(self, start: int = 0, stop: int | None = None) -> Tensor:
        """Every cell's sound over samples ``[start, stop)`` (memory: h * w * (stop - start) floats).

        Returns:
            ``(h, w, stop - start)``.
        """
        stop = self.length if stop is None else min(stop, self.length)
        kit = _Kit(self.model, self.options.bands)
        out = torch.zeros(self.grid[0] * self.grid[1], stop - start)
        for c in self.chunks:
            if c.start < stop and c.start + c.length > start:
                _add_cell_waves(kit, c, out, start, batch_size(self.options, c.mix_spec))
        return out.view(*self.grid, -1)

    def write(self, out_dir: str | Path, **kwargs) -> dict[str, object]:
        """Write the outputs of the ``pixels`` verb into ``out_dir`` (see :func:`write_outputs`)."""
        return write_outputs(self, out_dir, **kwargs)


def _add_cell_waves(kit: _Kit, c: Chunk, out: Tensor, offset: int, batch: int) -> None:
    """Add every cell's weighted sound in chunk ``c`` to ``out (h*w, n)``, beginning at sample ``offset``."""
    masks = cell_masks(kit.model, c.visual, c.audio).flatten(0, 1)  # (h*w, F, T)
    lo, hi = max(c.start, offset), min(c.start + c.length, offset + out.shape[1])
    for first in range(0, masks.shape[0], batch):
        waves = kit.waves(kit.linear(masks[first : first + batch]), c.mix_spec, c.length).cpu() * c.weight
        out[first : first + batch, lo - offset : hi - offset] += waves[:, lo - c.start : hi - c.start]


# ----------------------------------------------------------------------------------------- the pass


def encode_chunk(model: SoundOfPixels, mix: Tensor, frames: Tensor, grid: tuple[int, int] | None) -> tuple:
    """Run the nets once on one chunk.

    Args:
        model: the separation model.
        mix: the chunk's mixture ``(Lc,)``.
        frames: uint8 frames spread over the chunk ``(V, 3, H, W)``.
        grid: resize the per-pixel features to ``(h, w)`` (None: as the frame net gives them).

    Returns:
        ``(visual (K, h, w), audio (K, F, T), mix_spec complex (F_lin, T))``.
    """
    mix_spec, mix_mag = model.spectrogram(mix[None])  # (1, F_lin, T), (1, F, T)
    audio = model.encode_audio(mix_mag)[0]  # (K, F, T)
    visual = model.pixel_features(frames[None])[0]  # (K, h, w)
    if grid is not None and tuple(visual.shape[-2:]) != tuple(grid):
        visual = F.interpolate(visual[None], size=tuple(grid), mode="bilinear", align_corners=False)[0]
    return visual, audio, mix_spec[0]


class _Pass:
    """Accumulates energies, every cell's sound for the page and the mean features, chunk by chunk."""

    def __init__(self, kit: _Kit, opts: PixelsOptions, length: int, grid: tuple[int, int], sr: int):
        self.kit, self.opts, self.grid = kit, opts, grid
        self.bin = max(1, round(opts.bin_seconds * sr))
        n_cells, n_bins = grid[0] * grid[1], math.ceil(length / self.bin)
        self.energy = torch.zeros(n_cells, opts.bands, n_bins)
        page = min(length, round(opts.page_seconds * sr))
        self.cells = torch.zeros(n_cells, page) if page > 0 else None
        self.mixture = torch.zeros(length)
        self.visual_sum, self.count = None, 0

    def add(self, c: Chunk) -> None:
        kit, batch = self.kit, batch_size(self.opts, c.mix_spec)
        masks = cell_masks(kit.model, c.visual, c.audio).flatten(0, 1)  # (h*w, F, T): one einsum
        t = torch.arange(masks.shape[-1])
        frame_weight = c.weight[(t * kit.hop).clamp(max=c.length - 1)].to(masks.device)  # (T,)
        bins = ((c.start + t * kit.hop) // self.bin).clamp(max=self.energy.shape[-1] - 1)
        page = self.cells is not None and c.start < self.cells.shape[1]
        for first in range(0, masks.shape[0], batch):
            linear = kit.linear(masks[first : first + batch])  # (n, T, F_lin)
            energy = (kit.band_energy(linear, c.mix_spec) * frame_weight).cpu()  # (n, bands, T)
            self.energy[first : first + batch].index_add_(2, bins, energy)
            if page:
                waves = kit.waves(linear, c.mix_spec, c.length).cpu()  # (n, Lc)
                stop = min(c.length, self.cells.shape[1] - c.start)
                cells = self.cells[first : first + batch, c.start : c.start + stop]
                cells.addcmul_(waves[:, :stop], c.weight[:stop])
        self.mixture[c.start : c.start + c.length] += c.mix.cpu() * c.weight
        visual = c.visual.cpu()
        self.visual_sum = visual.clone() if self.visual_sum is None else self.visual_sum + visual
        self.count += 1


def _frame_times(start: int, length: int, sr: int, count: int) -> Tensor:
    """Centres of ``count`` equal parts of a chunk, in seconds (as the training windows). ``(count,)``."""
    return (start + (torch.arange(count, dtype=torch.float64) + 0.5) * length / count) / sr


def read_chunks(
    model: SoundOfPixels, source: _FileSource | _TensorSource, opts: PixelsOptions
) -> tuple[int, Iterator[Chunk]]:
    """Plan the chunks of a source and encode them lazily, one decoded chunk at a time.

    Returns:
        ``(number of chunks, iterator of Chunk)``.
    """
    cfg, sr = model.cfg, source.sample_rate
    size = min(source.length, round(opts.chunk_seconds * sr) if opts.chunk_seconds > 0 else cfg.audio.length)
    plan = chunk_plan(source.length, size, opts.overlap, align=cfg.audio.hop)
    weights = overlap_weights(plan)
    device = model.warp_matrix.device

    def encode_all() -> Iterator[Chunk]:
        for (start, length), weight in zip(plan, weights, strict=True):
            mix = source.audio(start, length).to(device)
            times = _frame_times(start, length, sr, cfg.frames.num_frames)
            frames = source.frames(times, opts.frame_size or cfg.frames.size)
            yield Chunk(start, weight, *encode_chunk(model, mix, frames.to(device), opts.grid), mix=mix)

    return len(plan), encode_all()


@torch.no_grad()
def analyse(
    model: SoundOfPixels,
    chunks: Iterable[Chunk],
    length: int,
    opts: PixelsOptions,
    *,
    count: int | None = None,
    meta: dict | None = None,
    progress: bool = True,
) -> PixelsResult:
    """Energies, the page's cell sounds and the kept chunks, from chunks covering ``length`` samples.

    Args:
        model: the model whose synthesizer makes the masks.
        chunks: chunks in time order whose weights sum to one over ``[0, length)``.
        length: samples in the whole soundtrack.
        opts: options (bands, bins, page length, cell batch).
        count: number of chunks (for the progress bar).
        meta: ``source``, ``fps``, ``size`` and ``source_object`` for the result.
        progress: tqdm bar.

    Returns:
        :class:`PixelsResult` without objects.
    """
    sr, meta = model.cfg.audio.sample_rate, meta or {}
    kit, kept, acc = _Kit(model, opts.bands), [], None
    for chunk in tqdm(chunks, total=count, desc="pixels", disable=not progress):
        if acc is None:
            acc = _Pass(kit, opts, length, tuple(chunk.visual.shape[-2:]), sr)
        acc.add(chunk)
        kept.append(chunk)
    if acc is None:
        raise ValueError("analyse: no chunks")
    grid = acc.grid
    return PixelsResult(
        source=meta.get("source", "<chunks>"), sample_rate=sr, mixture=acc.mixture, grid=grid, chunks=kept,
        energy=acc.energy.view(*grid, *acc.energy.shape[1:]), bin_seconds=acc.bin / sr,
        visual=acc.visual_sum / acc.count, cells=None if acc.cells is None else acc.cells.view(*grid, -1),
        fps=meta.get("fps", 25.0), size=meta.get("size", (grid[0] * 16, grid[1] * 16)), options=opts,
        model=model, _source=meta.get("source_object"),
    )  # fmt: skip


def pixels(
    video: str | Path | Video,
    model: str | Path | SoundOfPixels | None = None,
    *,
    options: PixelsOptions | None = None,
    prototypes: dict[str, Tensor] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> PixelsResult:
    """The sound of every pixel of a video, its sounding objects and where they are.

    Args:
        video: a video file with sound, or an in-memory :class:`Video`.
        model: a release folder / checkpoint, a loaded model, or None for the bundled release.
        options: see :class:`PixelsOptions`.
        prototypes: category -> visual vector ``(K,)``; objects get the nearest category (None: no categories,
            unless the release's ``config.json`` info holds ``prototypes``).
        device: where the nets run.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`PixelsResult` with objects found.
    """
    from pixelsound.objects import find_objects

    opts = options or PixelsOptions()
    net = checkpoint.load_model(model, device)
    if prototypes is None:
        prototypes = checkpoint.release_prototypes(model)  # none for a loaded model
    source = _open(video, net.cfg.audio.sample_rate)
    count, chunks = read_chunks(net, source, opts)
    meta = {"source": source.path, "fps": source.fps, "size": source.size, "source_object": source}
    result = analyse(net, chunks, source.length, opts, count=count, meta=meta, progress=progress)
    result.objects = find_objects(result, prototypes=prototypes)
    return result


# ----------------------------------------------------------------------------------------- outputs


def display_size(size: tuple[int, int], max_side: int = 320) -> tuple[int, int]:
    """Even ``(H, W)`` no larger than ``max_side`` with the video's aspect ratio."""
    h, w = size
    scale = min(1.0, max_side / max(h, w))
    return max(2, round(h * scale / 2) * 2), max(2, round(w * scale / 2) * 2)


def smoothed_heat(result: PixelsResult, seconds: float = 0.5) -> Tensor:
    """Amplitude (square root of energy) of each cell over time, averaged over ``seconds``.

    Shapes:
        -> ``(n_bins, h, w)``
    """
    heat = result.heat().clamp_min(0).sqrt()  # (n_bins, h, w)
    span = max(1, round(seconds / result.bin_seconds)) | 1
    flat = heat.flatten(1).T[:, None]  # (h*w, 1, n_bins)
    smooth = F.avg_pool1d(flat, span, stride=1, padding=span // 2, count_include_pad=False)
    return smooth[:, 0].T.reshape(heat.shape)


def _frames_for(result: PixelsResult, times: Tensor, size: tuple[int, int]) -> Tensor:
    """Display frames at ``times`` (grey when the result has no source). ``-> uint8 (n, 3, H, W)``."""
    if result._source is None:
        return torch.full((len(times), 3, *size), 128, dtype=torch.uint8)
    return result._source.frames(times, size)


def write_overlay_video(
    result: PixelsResult, path: Path, *, max_fps: float = 25.0, max_frames: int = 3000, alpha: float = 0.55
) -> Path | None:
    """The video with each cell's loudness over it (magma), with the original soundtrack.

    Frames are decoded in batches and drawn into one preallocated buffer; the frame rate is lowered for long
    videos so that at most ``max_frames`` frames are written.
    """
    from pixelsound import io, plots

    if result._source is None:
        return None
    fps = min(result.fps, max_fps, max_frames / max(result.duration, 1e-3))
    count = max(1, int(result.duration * fps))
    size = display_size(result.size)
    heat = smoothed_heat(result)  # (n_bins, h, w)
    top = float(heat.max())
    out = torch.empty(count, 3, *size, dtype=torch.uint8)
    times = torch.arange(count, dtype=torch.float64) / fps
    for first in range(0, count, 64):
        frames = _frames_for(result, times[first : first + 64], size)
        for j, frame in enumerate(frames):
            k = min(int(times[first + j] / result.bin_seconds), heat.shape[0] - 1)
            blended = plots.overlay_heatmap(frame, heat[k], alpha=alpha, vmin=0.0, vmax=max(top, 1e-12))
            out[first + j] = torch.from_numpy(blended).permute(2, 0, 1)
    audio, sr = result._source.soundtrack()
    io.write_video(path, out, fps, audio, sr)
    return path


def _overlay_or_warning(result: PixelsResult, path: Path) -> Path | None:
    """``overlay.mp4``, or None with a warning naming the input and the reason: an output format the encoder
    refuses does not lose the work already done (the wavs, heatmaps and page are still written)."""
    from pixelsound.io import MediaError

    try:
        return write_overlay_video(result, path)
    except MediaError as err:
        log.warning("%s: %s not written (%s); the other outputs are", result.source, path.name, err.reason)
        return None


def write_heatmaps(result: PixelsResult, folder: Path) -> dict[str, str]:
    """``overall.png`` and ``object_<i>.png``: heatmaps over the middle frame of the video."""
    from pixelsound import plots

    size = display_size(result.size, 448)
    frame = _frames_for(result, torch.tensor([result.duration / 2], dtype=torch.float64), size)[0]
    maps = {"overall": result.heatmap()} | {f"object_{o.index + 1}": o.heatmap for o in result.objects}
    written = {}
    for name, heat in maps.items():
        image = plots.overlay_heatmap(frame, heat, alpha=0.6, vmin=0.0, vmax=1.0)
        written[name] = str(plots.save_png(image, folder / f"{name}.png"))
    return written


def write_object_audio(result: PixelsResult, folder: Path) -> list[str]:
    """``object_<i>.wav`` per object, scaled together if anything would clip; returns the file names."""
    from pixelsound.io import write_audio

    if not result.objects:
        return []
    peak = max(float(o.audio.abs().max()) for o in result.objects)
    gain = min(1.0, 0.99 / max(peak, 1e-9))
    names = []
    for o in result.objects:
        names.append(f"object_{o.index + 1}.wav")
        write_audio(folder / names[-1], (o.audio * gain)[None], result.sample_rate)
    return names


def summary(result: PixelsResult) -> dict[str, object]:
    """JSON-able facts: source, grid, chunks, the overall heatmap and the objects."""
    objects = []
    for o in result.objects:
        row, col = o.centroid
        objects.append({
            "index": o.index + 1, "category": o.category, "category_score": o.category_score,
            "energy_share": round(o.energy_share, 4), "cells": int(o.region.sum()),
            "centroid": [round(row / result.grid[0], 4), round(col / result.grid[1], 4)],
            "region": o.region.int().tolist(), "heatmap": o.heatmap.round(decimals=4).tolist(),
        })  # fmt: skip
    return {
        "source": result.source, "duration": round(result.duration, 4), "sample_rate": result.sample_rate,
        "grid": list(result.grid), "chunks": len(result.chunks), "bin_seconds": result.bin_seconds,
        "heatmap": result.heatmap().round(decimals=4).tolist(), "objects": objects,
        "options": {k: v for k, v in result.options.__dict__.items()},
    }  # fmt: skip


def write_outputs(
    result: PixelsResult,
    out_dir: str | Path,
    *,
    video: bool = True,
    page: bool = True,
    page_rate: int = 8000,
    page_bits: int = 4,
) -> dict[str, object]:
    """Object wavs, heatmap PNGs, ``overlay.mp4``, ``index.html`` and ``pixels.json`` in ``out_dir``.

    Returns:
        The summary written to ``pixels.json`` (with a ``files`` table).
    """
    from pixelsound import page as listening

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wavs = write_object_audio(result, out)
    files: dict[str, object] = {"objects": wavs, "heatmaps": write_heatmaps(result, out / "heatmaps")}
    overlay = _overlay_or_warning(result, out / "overlay.mp4") if video else None
    files["overlay"] = overlay.name if overlay else None
    if page and result.cells is not None:
        codec = listening.Codec(bits=page_bits)
        poster = files["heatmaps"]["overall"]
        info = listening.write_page(
            result, out / "index.html", video=overlay, poster=poster, wavs=wavs, rate=page_rate, codec=codec
        )
        files["page"] = {"file": "index.html", "bytes": info["bytes"], "video_inlined": info["video_inlined"]}
    facts = summary(result) | {"files": files}
    (out / "pixels.json").write_text(json.dumps(facts, indent=1) + "\n")
    return facts


# ----------------------------------------------------------------------------------------- the verb


def _grid(text: str) -> tuple[int, int]:
    parts = text.lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"grid must be N or HxW, got {text!r}") from None
    if len(values) not in (1, 2) or min(values) < 1:
        raise argparse.ArgumentTypeError(f"grid must be N or HxW with positive sizes, got {text!r}")
    return (values[0], values[-1])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = PixelsOptions()
    parser.add_argument("video", help="a video file with sound")
    parser.add_argument("--model", help="released model folder (default: the bundled model)")
    parser.add_argument(
        "--out", required=True, help="folder for the wavs, overlay.mp4, PNGs, JSON, index.html"
    )
    parser.add_argument("--grid", type=_grid, help="resize per-pixel features to N or HxW cells")
    parser.add_argument(
        "--frame-size", type=int, default=d.frame_size, help="frame side for the frame net (0: the model's)"
    )
    parser.add_argument("--chunk-seconds", type=float, default=d.chunk_seconds, help="0: the model's window")
    parser.add_argument("--overlap", type=float, default=d.overlap, help="chunk overlap fraction (0-0.5)")
    parser.add_argument("--max-objects", type=int, default=d.max_objects, help="most sounding objects")
    parser.add_argument(
        "--min-share", type=float, default=d.min_share, help="least energy share of an object"
    )
    parser.add_argument("--place", type=float, default=d.place, help="weight of place in grouping cells")
    parser.add_argument("--page-seconds", type=float, default=d.page_seconds, help="cell sounds on the page")
    parser.add_argument("--page-rate", type=int, default=8000, help="sample rate of the page's sounds")
    parser.add_argument("--page-bits", type=int, choices=(4, 8), default=4, help="bits per page sample")
    parser.add_argument("--categories", help="index of labelled solo clips: name objects by category")
    parser.add_argument("--no-video", action="store_true", help="skip the overlay video")
    parser.add_argument("--device", default="cpu", help="torch device")


def run(args: argparse.Namespace) -> int:
    from pixelsound.objects import prototypes_from_index

    if not 0 <= args.overlap <= 0.5:
        raise UsageError(f"--overlap must be in [0, 0.5], got {args.overlap}")
    options = PixelsOptions(
        chunk_seconds=args.chunk_seconds, overlap=args.overlap, grid=args.grid, max_objects=args.max_objects,
        min_share=args.min_share, page_seconds=args.page_seconds, frame_size=args.frame_size,
        place=args.place,
    )  # fmt: skip
    net = checkpoint.load_model(args.model, args.device)
    if args.categories:
        protos = prototypes_from_index(args.categories, net)
    else:
        protos = checkpoint.release_prototypes(args.model)
    result = pixels(args.video, net, options=options, prototypes=protos, device=args.device)
    facts = result.write(
        args.out, video=not args.no_video, page_rate=args.page_rate, page_bits=args.page_bits
    )
    for o in facts["objects"]:
        log.info("object %d: %s, %.0f%% of the sound, %d cells", o["index"], o["category"] or "?",
                 100 * o["energy_share"], o["cells"])  # fmt: skip
    log.info("wrote %s (open index.html to listen)", args.out)
    return 0
