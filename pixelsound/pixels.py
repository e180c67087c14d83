"""The sound of every pixel: ``pixelsound pixels VIDEO [--model M] --out DIR``.

The verb reads a clip (:mod:`pixelsound.clip`), runs the per-cell engine (:mod:`pixelsound.cells`: masks of
every grid cell from one ``einsum``, turned into energies and sounds) on overlapping time chunks, groups the
sounding cells into objects (:mod:`pixelsound.objects`) and writes the outputs
(:mod:`pixelsound.pixel_outputs`).

Long videos are cut into overlapping chunks (the model's training window by default,
:func:`pixelsound.windows.even_plan`) that are decoded one at a time; each chunk's outputs are weighted by
ramps that cross-fade in the middle half of every overlap (:func:`pixelsound.windows.crossfade_weights`:
the weights sum to one everywhere) and added, so memory is bounded by the chunk, not the video. The per-chunk
frame and audio features are kept (small: ``K x F`` numbers per STFT frame), so any region's sound can be
made afterwards without decoding again.

Python API, mirroring the verb::

    from pixelsound.pixels import pixels
    result = pixels("duet.mp4", "models/instruments")
    result.objects[0].audio, result.cell_audio(3, 4), result.region_audio(mask)
    result.write("out/")       # object wavs, overlay.mp4, heatmap PNGs, pixels.json, index.html
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

from pixelsound import checkpoint, io, pixel_outputs, windows
from pixelsound.cells import (
    CellKit,
    CellPass,
    Chunk,
    PixelsOptions,
    add_cell_waves,
    batch_size,
    check_regions,
    encode_chunk,
    region_masks,
)
from pixelsound.clip import Clip, FileClip, TensorClip
from pixelsound.errors import UsageError
from pixelsound.model import SoundOfPixels
from pixelsound.objects import SoundingObject, find_objects, prototypes_from_index

log = logging.getLogger(__name__)

Video = (
    TensorClip  # an in-memory video: Video(frames uint8 (V, 3, H, W), fps, audio (L,) or (C, L), sample_rate)
)


# ----------------------------------------------------------------------------------------- reading


def open_video(video: str | Path | Clip, sample_rate: int) -> tuple[Clip, int]:
    """The clip to separate and its length in samples at ``sample_rate`` (the shorter of sound and picture
    for tensors).

    Raises:
        MediaError: a file without a soundtrack or a video stream.
        ValueError: a clip without sound, or shorter than 0.2 s.
    """
    clip = video if isinstance(video, Clip) else FileClip(video)
    if isinstance(clip, FileClip) and not (clip.has_audio and clip.has_video):
        missing = "soundtrack" if not clip.has_audio else "video stream"
        raise io.MediaError(
            clip.path, f"per-pixel separation needs video with sound; this file has no {missing}"
        )
    if isinstance(clip, TensorClip):
        samples = clip.mono(sample_rate).shape[0]  # (L,) resampled once
        length = min(samples, int(min(clip.duration, samples / sample_rate) * sample_rate))
    else:
        length = int(clip.duration * sample_rate)
    if length < 2 * sample_rate // 10:
        raise ValueError(f"{clip.path or '<tensor>'}: too short for per-pixel separation ({length} samples)")
    return clip, length


def read_chunks(
    model: SoundOfPixels, clip: Clip, total: int, opts: PixelsOptions
) -> tuple[int, Iterator[Chunk]]:
    """Plan the chunks of ``total`` samples of a clip and encode them lazily, one decoded chunk at a time.

    Returns:
        ``(number of chunks, iterator of Chunk)``.
    """
    cfg = model.cfg
    sr = cfg.audio.sample_rate
    size = min(total, round(opts.chunk_seconds * sr) if opts.chunk_seconds > 0 else cfg.audio.length)
    plan = windows.even_plan(total, size, opts.overlap, align=cfg.audio.hop)
    weights = windows.crossfade_weights(plan)
    device = model.warp_matrix.device

    def encode_all() -> Iterator[Chunk]:
        for (start, length), weight in zip(plan, weights, strict=True):
            mix = clip.audio(sr, start / sr, length / sr).to(device)  # (Lc,)
            at = torch.tensor([start / sr], dtype=torch.float64)
            times = windows.frame_times(at, length / sr, cfg.frames.num_frames)[0]  # (V,)
            frames = clip.frames_at(times, opts.frame_size or cfg.frames.size)  # (V, 3, H, W)
            yield Chunk(start, weight, *encode_chunk(model, mix, frames.to(device), opts.grid), mix=mix)

    return len(plan), encode_all()


# ----------------------------------------------------------------------------------------- result


@dataclass
class PixelsResult:
    """Per-pixel separation of one video.

    Attributes:
        source: the video's path (``"<tensor>"`` for a clip in memory).
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
        clip: the clip that was separated (frames for the outputs), or None.
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
    clip: Clip | None = field(default=None, repr=False)

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
    def region_audio(self, region: Tensor, share: bool = False) -> Tensor:
        """Sound of a region (the mask of its pooled visual vector applied to the mixture).

        Args:
            region: cell weights ``(h, w)`` (bool or float >= 0), or several regions ``(R, h, w)``.
            share: the regions are the scene's sources (e.g. its objects): they share the mixture
                (:func:`pixelsound.cells.region_masks`); else each region's sound is its own.

        Returns:
            ``(L,)`` for one region, ``(R, L)`` for several.
        """
        regions = check_regions(region, self.grid)
        kit = CellKit(self.model, self.options.bands)
        out = torch.zeros(len(regions), self.length)
        for c in self.chunks:
            masks = region_masks(self.model, c.visual, c.audio, regions, share)  # (R, F, T)
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
        kit = CellKit(self.model, self.options.bands)
        out = torch.zeros(self.grid[0] * self.grid[1], stop - start)
        for c in self.chunks:
            if c.start < stop and c.start + c.length > start:
                add_cell_waves(kit, c, out, start, batch_size(self.options, c.mix_spec))
        return out.view(*self.grid, -1)

    def write(self, out_dir: str | Path, **kwargs) -> dict[str, object]:
        """Write the outputs of the verb into ``out_dir`` (:func:`pixelsound.pixel_outputs.write_outputs`)."""
        return pixel_outputs.write_outputs(self, out_dir, **kwargs)


@torch.no_grad()
def analyse(
    model: SoundOfPixels,
    chunks: Iterable[Chunk],
    length: int,
    opts: PixelsOptions,
    *,
    count: int | None = None,
    clip: Clip | None = None,
    progress: bool = True,
) -> PixelsResult:
    """Energies, the page's cell sounds and the kept chunks, from chunks covering ``length`` samples.

    Args:
        model: the model whose synthesizer makes the masks.
        chunks: chunks in time order whose weights sum to one over ``[0, length)``.
        length: samples in the whole soundtrack.
        opts: options (bands, bins, page length, cell batch).
        count: number of chunks (for the progress bar).
        clip: the clip the chunks came from (its path, fps and frame size go into the result).
        progress: tqdm bar.

    Returns:
        :class:`PixelsResult` without objects.
    """
    sr = model.cfg.audio.sample_rate
    kit, kept, acc = CellKit(model, opts.bands), [], None
    for chunk in tqdm(chunks, total=count, desc="pixels", disable=not progress):
        if acc is None:
            acc = CellPass(kit, opts, length, tuple(chunk.visual.shape[-2:]), sr)
        acc.add(chunk)
        kept.append(chunk)
    if acc is None:
        raise ValueError("analyse: no chunks")
    grid, fps, size = acc.grid, 25.0, (acc.grid[0] * 16, acc.grid[1] * 16)
    if clip is not None:
        fps, size = clip.fps, clip.size
    source = "<chunks>" if clip is None else clip.path or "<tensor>"
    return PixelsResult(
        source=source, sample_rate=sr, mixture=acc.mixture, grid=grid, chunks=kept,
        energy=acc.energy.view(*grid, *acc.energy.shape[1:]), bin_seconds=acc.bin / sr,
        visual=acc.visual_sum / acc.count, cells=None if acc.cells is None else acc.cells.view(*grid, -1),
        fps=fps, size=size, options=opts, model=model, clip=clip,
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
        video: a video file with sound, or a clip (:class:`pixelsound.clip.Clip`, e.g. an in-memory
            :class:`Video`).
        model: a release folder / checkpoint, a loaded model, or None for the bundled release.
        options: see :class:`PixelsOptions`.
        prototypes: category -> visual vector ``(K,)``; objects get the nearest category (None: no categories,
            unless the release's ``config.json`` info holds ``prototypes``).
        device: where the nets run.
        progress: show a tqdm bar over chunks.

    Returns:
        :class:`PixelsResult` with objects found.
    """
    opts = options or PixelsOptions()
    net = checkpoint.load_model(model, device)
    if prototypes is None:
        prototypes = checkpoint.release_prototypes(model)  # none for a loaded model
    clip, length = open_video(video, net.cfg.audio.sample_rate)
    count, chunks = read_chunks(net, clip, length, opts)
    result = analyse(net, chunks, length, opts, count=count, clip=clip, progress=progress)
    result.objects = find_objects(result, prototypes=prototypes)
    return result


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
    parser.add_argument("--look", type=float, default=d.look, help="weight of look in grouping cells")
    parser.add_argument("--page-seconds", type=float, default=d.page_seconds, help="cell sounds on the page")
    parser.add_argument("--page-rate", type=int, default=8000, help="sample rate of the page's sounds")
    parser.add_argument("--page-bits", type=int, choices=(4, 8), default=4, help="bits per page sample")
    parser.add_argument("--categories", help="index of labelled solo clips: name objects by category")
    parser.add_argument("--no-video", action="store_true", help="skip the overlay video")
    parser.add_argument("--device", default="cpu", help="torch device")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.overlap <= 0.5:
        raise UsageError(f"--overlap must be in [0, 0.5], got {args.overlap}")
    options = PixelsOptions(
        chunk_seconds=args.chunk_seconds, overlap=args.overlap, grid=args.grid, max_objects=args.max_objects,
        min_share=args.min_share, page_seconds=args.page_seconds, frame_size=args.frame_size,
        place=args.place, look=args.look,
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
