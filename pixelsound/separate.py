"""Separate the sounds of videos with a trained model: ``pixelsound separate VIDEO [VIDEO ...] --model M``.

Given N videos, their soundtracks are mixed (or a mixture file is given with ``--mix``) and each video's own
sound is separated from the mixture by looking at its frames. Clips longer than the model's training window
are cut into overlapping windows, separated a few windows at a time and overlap-added with linear
cross-fades, so memory stays bounded however long the clip is.

Python API, mirroring the verb::

    from pixelsound.separate import separate
    result = separate(["a.mp4", "b.mp4"], "models/instruments")
    result.write("out/")                     # out/mix.wav, out/0_a.wav, out/1_b.wav
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from pixelsound import spec, windows
from pixelsound.checkpoint import load_model
from pixelsound.clip import Clip, FileClip
from pixelsound.errors import UsageError
from pixelsound.inference import FrameFeatures, fold_batchnorm, source_logits
from pixelsound.int8 import quantize_convs
from pixelsound.io import MediaError, probe, read_audio, resample, write_audio
from pixelsound.model import SoundOfPixels
from pixelsound.precision import add_bf16_argument, use_bf16

log = logging.getLogger(__name__)


@dataclass
class Separation:
    """Separated sources of one mixture.

    Attributes:
        sources: one waveform per video, ``(N, L)``.
        mix: the mixture that was separated, ``(L,)``.
        sample_rate: Hz.
        names: a name per source (the video's file stem).
    """

    sources: Tensor
    mix: Tensor
    sample_rate: int
    names: list[str]

    def write(self, out_dir: str | Path, rate: int | None = None, channels: int = 1) -> list[Path]:
        """Write ``mix.wav`` and ``{i}_{name}.wav`` per source (scaled together if anything would clip).

        Args:
            out_dir: the folder (created).
            rate: the files' sample rate (default: the model's); resampled, so nothing above the model's
                Nyquist frequency comes back.
            channels: 1 or 2; the separated sound is mono, copied to each channel to match a stereo input.
        """
        out = Path(out_dir)
        peak = max(float(self.mix.abs().max()), float(self.sources.abs().max()), 1e-9)
        gain = min(1.0, 0.99 / peak)
        if gain < 1.0:
            log.info("scaling all outputs by %.3f so that nothing clips", gain)
        rate = rate or self.sample_rate
        paths = [out / "mix.wav"] + [out / f"{i}_{name}.wav" for i, name in enumerate(self.names)]
        for path, wave in zip(paths, [self.mix, *self.sources], strict=True):
            wave = resample((wave * gain).float(), self.sample_rate, rate)  # (L',)
            write_audio(path, wave[None].expand(channels, -1).contiguous(), rate)
        return paths


@torch.inference_mode()
def separate_waveform(
    model: SoundOfPixels,
    mix: Tensor,
    clips: Sequence[Clip],
    *,
    offset: float = 0.0,
    overlap: float = 0.25,
    batch: int = 4,
    bf16: bool | str = "auto",
    reuse: float = 0.1,
) -> Tensor:
    """Separate a mixture of any length, window by window.

    Args:
        model: a SoundOfPixels (put in eval mode by the caller).
        mix: mixture ``(L,)`` at ``model.cfg.audio.sample_rate``.
        clips: the N sources' videos (:mod:`pixelsound.clip`); a window's frames are the ones on screen at
            :func:`pixelsound.windows.frame_times`, resized to the model's frame size.
        offset: time in the clips of the mixture's sample 0 (seconds).
        overlap: fraction of the window shared by consecutive windows.
        batch: windows separated at once.
        bf16: bfloat16 autocast for the nets (STFTs stay float32): "auto" where the device computes bf16
            natively (:func:`pixelsound.precision.use_bf16`), or True/False.
        reuse: a window starting less than this fraction of a window after the previous one takes its frames
            (:func:`pixelsound.windows.frame_starts`: a clip a little longer than the window runs the frame
            net once); 0 gives every window its own frames.

    Returns:
        ``(N, L)`` waveforms.
    """
    cfg, length = model.cfg, mix.shape[-1]
    sr, bf16 = cfg.audio.sample_rate, use_bf16(bf16, mix.device)
    span = min(cfg.audio.length, length)
    starts = windows.flush_starts(length, span, overlap)
    seen = windows.frame_starts(starts, span, reuse)  # where each window's frames are taken
    weights = windows.fade_weights(span, round(span * overlap)) if len(starts) > 1 else torch.ones(span)
    weights = weights.to(mix.device)  # (span,)
    out, visual = windows.OverlapAdd(length, mix.device), FrameFeatures(model)
    for first in range(0, len(starts), batch):
        chunk = starts[first : first + batch]
        pieces = torch.stack([mix[s : s + span] for s in chunk])  # (J, span)
        at = torch.tensor(seen[first : first + batch], dtype=torch.float64) / sr + offset  # (J,) seconds
        times = windows.frame_times(at, span / sr, cfg.frames.num_frames)  # (J, V)
        frames = torch.stack([c.frames_at(times, cfg.frames.size) for c in clips], 1)  # (J, N, V, 3, H, W)
        with torch.autocast(mix.device.type, dtype=torch.bfloat16, enabled=bf16):
            waves = _separate_pieces(model, pieces, visual(frames.to(mix.device)))  # (J, N, span)
        for s, wave in zip(chunk, waves, strict=True):
            out.add(s, wave, weights)
    return out.result()


def _separate_pieces(model: SoundOfPixels, pieces: Tensor, visual: Tensor) -> Tensor:
    """``model.separate``, the U-Net's last conv merged into the synthesizer (:mod:`pixelsound.inference`).

    Shapes:
        pieces ``(J, L)``, visual ``(J, N, K)`` -> ``(J, N, L)`` float32
    """
    mix_spec, mix_mag = model.spectrogram(pieces)  # (J, F_lin, T), (J, F, T)
    masks = torch.sigmoid(source_logits(model, mix_mag, visual))  # (J, N, F, T)
    masks = spec.compete(masks, model.cfg.model.compete)  # the sources share each bin
    return model.apply_masks(masks, mix_spec, pieces.shape[-1]).float()


def _load(model: str | Path | SoundOfPixels | None, device: str, int8: bool = False) -> SoundOfPixels:
    """The model ready for inference on ``device``: a copy in eval mode with its BatchNorms folded (a loaded
    model, a release, or None: the bundled model, :func:`pixelsound.checkpoint.load_model`), its convs in
    int8 with ``int8`` (CPU only, :mod:`pixelsound.int8`)."""
    if int8 and torch.device(device).type != "cpu":
        raise UsageError(f"--int8 runs on the CPU only, not on {device}")
    if isinstance(model, SoundOfPixels):
        net = fold_batchnorm(model).to(device)
    else:
        net = fold_batchnorm(load_model(model, device))
    return quantize_convs(net) if int8 else net


def read_mixture(
    videos: Sequence[str | Path], sr: int, start: float = 0.0, duration: float | None = None
) -> Tensor:
    """Sum of the videos' mono soundtracks, cut to the shortest. ``-> (L,)``."""
    check_start(videos, start)
    tracks = [read_audio(p, sr, start=start, duration=duration)[0] for p in videos]
    length = min(t.shape[-1] for t in tracks)
    return torch.stack([t[:length] for t in tracks]).sum(0)


def check_start(paths: Sequence[str | Path], start: float) -> None:
    """Refuse a ``start`` at or past the end of any input (one clear line, before any decoding)."""
    if start < 0:
        raise MediaError(paths[0], f"start must be >= 0 s, got {start:g}")
    for path in paths:
        length = probe(path, scan=False).duration
        if start >= length:
            raise MediaError(path, f"start {start:g} s is past its end ({length:.2f} s long)")


def separate(
    videos: Sequence[str | Path],
    model: str | Path | SoundOfPixels | None = None,
    *,
    mix: str | Path | Tensor | None = None,
    start: float = 0.0,
    duration: float | None = None,
    device: str = "cpu",
    overlap: float = 0.25,
    bf16: bool | str = "auto",
    int8: bool = False,
) -> Separation:
    """Separate each video's sound from the mixture of their soundtracks (or from a given mixture).

    Args:
        videos: N video files; each one's frames tell the model which sound to pick.
        model: a release folder/file, a loaded model, or None for the bundled model
            (:func:`pixelsound.checkpoint.load_model`).
        mix: a mixture audio file or waveform ``(L,)`` at the model's rate; default: the videos' audio summed.
        start: seconds into the videos (and into a mixture file) to begin.
        duration: seconds to separate (default: as long as the shortest input).
        device: where to run.
        overlap: fraction of each window shared with the next.
        bf16: bfloat16 autocast for the nets: "auto" (where native), True or False.
        int8: int8 convolutions (CPU; faster, a little less accurate: :mod:`pixelsound.int8`).

    Returns:
        :class:`Separation` with ``(N, L)`` sources.
    """
    net = _load(model, device, int8)
    cfg = net.cfg
    sr = cfg.audio.sample_rate
    if mix is None:
        wave = read_mixture(videos, sr, start, duration)
    elif isinstance(mix, Tensor):
        wave = mix.reshape(-1).float()
    else:
        check_start([mix, *videos], start)
        wave = read_audio(mix, sr, start=start, duration=duration)[0]
    clips = [FileClip(v, scan=False) for v in videos]
    sources = separate_waveform(net, wave.to(device), clips, offset=start, overlap=overlap, bf16=bf16).cpu()
    return Separation(sources, wave.cpu(), sr, [Path(v).stem for v in videos])


def default_out(videos: Sequence[str | Path]) -> Path:
    """Where ``pixelsound separate`` writes without ``--out``: ``separated/<stem>+<stem>/`` (as demucs)."""
    return Path("separated") / "+".join(Path(v).stem for v in videos)


def _rate_or_channels(text: str) -> int | str:
    if text == "input":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number or 'input', got {text!r}")
    return value


def output_format(args: argparse.Namespace) -> tuple[int | None, int]:
    """``--rate`` and ``--channels`` as numbers ('input': the first video's own, 1 or 2 channels)."""
    info = probe(args.videos[0], scan=False) if "input" in (args.rate, args.channels) else None
    rate = info.sample_rate if args.rate == "input" and info else args.rate
    channels = min(info.channels, 2) if args.channels == "input" and info else args.channels
    if args.rate == "input" and not rate:
        raise UsageError(f"--rate input: {args.videos[0]} has no soundtrack to take the rate from")
    if channels not in (1, 2):
        raise UsageError(f"--channels must be 1, 2 or input, got {args.channels}")
    return rate, channels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", help="video files whose sounds are mixed and separated")
    parser.add_argument("--model", help="released model folder (default: the bundled model)")
    parser.add_argument("--out", help="folder for mix.wav and one wav per video (default: separated/A+B/)")
    parser.add_argument("--mix", help="separate this mixture audio file instead of the videos' summed audio")
    parser.add_argument("--start", type=float, default=0.0, help="seconds into the inputs to begin")
    parser.add_argument("--duration", type=float, help="seconds to separate (default: all)")
    parser.add_argument(
        "--rate",
        type=_rate_or_channels,
        help="sample rate of the files: HZ or 'input' (default: the model's)",
    )
    parser.add_argument(
        "--channels", type=_rate_or_channels, default=1, help="1, 2 or 'input' (the mono result, copied)"
    )
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--overlap", type=float, default=0.25, help="window overlap fraction (0-0.9)")
    add_bf16_argument(parser)
    parser.add_argument(
        "--int8", action="store_true", help="int8 convolutions on the CPU: faster, a little less accurate"
    )


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.overlap <= 0.9:
        raise UsageError(f"--overlap must be in [0, 0.9], got {args.overlap}")
    rate, channels = output_format(args)
    result = separate(
        args.videos,
        args.model,
        mix=args.mix,
        start=args.start,
        duration=args.duration,
        device=args.device,
        overlap=args.overlap,
        bf16=args.bf16,
        int8=args.int8,
    )
    for path in result.write(args.out or default_out(args.videos), rate=rate, channels=channels):
        log.info("wrote %s", path)
    return 0
