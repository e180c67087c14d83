"""The per-cell engine of ``pixelsound pixels``: masks of every grid cell (or region) and their sounds.

Given per-pixel visual features ``(K, h, w)`` instead of one clip vector, the model's synthesizer
(:func:`pixelsound.model.synthesize`) gives a mask for every grid cell in one ``einsum``: ``(h, w, F, T)``.
:func:`encode_chunk` runs the frame net and the audio net once on a time chunk; :class:`CellPass` synthesizes
the masks of all cells of each chunk at once and turns them into energies and waveforms (unwarp, multiply the
mixture's STFT, invert: :meth:`pixelsound.model.SoundOfPixels.linear_masks` and ``masked_waves``), a batch of
cells at a time so memory stays bounded.

Definitions used throughout:

* the visual vector of a region with cell weights ``r`` in [0, 1] is pooled from ``r_c v_c`` as training
  pools a clip, or a source's part of a scene (:mod:`pixelsound.views`): their maximum, ``v_R = max_c r_c
  v_c``, or with the model's ``pool_top`` the mean of that share of the largest
  (:func:`pixelsound.frames.pool_regions`); its mask is the synthesizer's mask for ``v_R``; one cell's sound
  is the region made of that cell alone;
* the energy of a cell's sound at STFT frame t is ``sum_f |unwarp(M_c) X|^2`` (X the mixture STFT), summed
  into time bins of ``bin_seconds`` and into ``bands`` log-spaced frequency bands.

Shapes: K components, F log-frequency bins, F_lin linear bins, T STFT frames, (h, w) the grid, R regions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pixelsound import spec
from pixelsound.frames import pool_regions
from pixelsound.model import SoundOfPixels


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
        look: weight of a cell's look (its visual vector) against its sound when cells are grouped (0: not
            used).
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
    look: float = 0.5


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


class CellKit:
    """Per-model constants for masks -> waveforms and band energies: the model (which unwarps masks and
    applies them, :meth:`~pixelsound.model.SoundOfPixels.linear_masks`, ``masked_waves``) and the bands."""

    def __init__(self, model: SoundOfPixels, bands: int):
        self.model, self.hop = model, model.cfg.audio.hop
        self.bands = band_matrix(model, bands).to(model.unwarp_matrix.device)  # (F_lin, bands)

    def linear(self, masks: Tensor) -> Tensor:
        """Masks on the linear frequency grid (laid out frames first). ``(N, F, T)`` -> ``(N, F_lin, T)``."""
        return self.model.linear_masks(masks)

    def waves(self, linear: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Apply linear masks to the mixture STFT and invert.

        Shapes:
            linear ``(N, F_lin, T)``, mix_spec ``(F_lin, T)`` -> ``(N, length)``
        """
        return self.model.masked_waves(linear, mix_spec, length)

    def band_energy(self, linear: Tensor, mix_spec: Tensor) -> Tensor:
        """Energy ``|M X|^2`` per band and STFT frame.

        Shapes:
            linear ``(N, F_lin, T)``, mix_spec ``(F_lin, T)`` -> ``(N, bands, T)``
        """
        power = mix_spec.abs().square()  # (F_lin, T)
        return (linear.square() * power).transpose(1, 2).matmul(self.bands).transpose(1, 2)


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


def region_masks(
    model: SoundOfPixels, visual: Tensor, audio: Tensor, regions: Tensor, share: bool = False
) -> Tensor:
    """Masks of weighted regions, from their pooled visual vectors (one einsum for all regions).

    Args:
        share: the regions are the scene's sources (its objects), so their masks share each bin as
            ``cfg.model.compete`` says (:func:`pixelsound.spec.compete`); else each region on its own.

    Shapes:
        visual ``(K, h, w)``, audio ``(K, F, T)``, regions ``(R, h, w)`` -> ``(R, F, T)``
    """
    vectors = region_vectors(visual, regions, model.cfg.model.pool_top)  # (R, K)
    masks = torch.sigmoid(model.synthesize(vectors[None], audio[None]))[0]
    return spec.compete(masks, model.cfg.model.compete) if share else masks


def check_regions(region: Tensor, grid: tuple[int, int]) -> Tensor:
    """A region ``(h, w)`` or several ``(R, h, w)`` as float ``(R, h, w)``, checked against the grid."""
    region = torch.as_tensor(region)
    if region.dim() == 2:
        region = region[None]
    if region.dim() != 3 or tuple(region.shape[-2:]) != tuple(grid):
        raise ValueError(f"region must be (h, w) or (R, h, w) on the {grid} grid, got {tuple(region.shape)}")
    if (region < 0).any() or (region > 1).any() or (region.flatten(1).sum(1) <= 0).any():
        raise ValueError("region weights must be in [0, 1] and each region must hold at least one cell")
    return region.float()


def add_cell_waves(kit: CellKit, c: Chunk, out: Tensor, offset: int, batch: int) -> None:
    """Add every cell's weighted sound in chunk ``c`` to ``out (h*w, n)``, beginning at sample ``offset``."""
    masks = cell_masks(kit.model, c.visual, c.audio).flatten(0, 1)  # (h*w, F, T)
    lo, hi = max(c.start, offset), min(c.start + c.length, offset + out.shape[1])
    for first in range(0, masks.shape[0], batch):
        waves = kit.waves(kit.linear(masks[first : first + batch]), c.mix_spec, c.length).cpu() * c.weight
        out[first : first + batch, lo - offset : hi - offset] += waves[:, lo - c.start : hi - c.start]


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


class CellPass:
    """Accumulates energies, every cell's sound for the page and the mean features, chunk by chunk."""

    def __init__(self, kit: CellKit, opts: PixelsOptions, length: int, grid: tuple[int, int], sr: int):
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
            linear = kit.linear(masks[first : first + batch])  # (n, F_lin, T)
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
