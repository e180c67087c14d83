"""The main job on embedded defaults: mix two bundled clips, separate them by looking, score against truth.

``pixelsound demo`` uses the model released in ``pixelsound/assets/model`` (made by ``recipes/instruments``)
and the two sample clips in ``pixelsound/assets/samples`` (test clips the model never saw). It writes the
mixture, one wav per clip, and a spectrogram figure, and prints SDR / SIR / SAR of each estimate next to the
mixture's (what doing nothing scores).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from pixelsound import metrics, plots, spec
from pixelsound.checkpoint import load_release
from pixelsound.config import Config
from pixelsound.io import read_audio
from pixelsound.separate import Separation, separate

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
MODEL = ASSETS / "model"
SAMPLES = ASSETS / "samples"


@dataclass
class DemoResult:
    """Separation of the sample mixture and its scores (dB, one value per clip)."""

    separation: Separation
    truth: torch.Tensor  # (N, L)
    sdr: list[float]
    sir: list[float]
    sar: list[float]
    mixture_sdr: list[float]
    figure: Path
    files: list[Path]


def sample_videos() -> list[Path]:
    """The bundled sample clips, sorted by name."""
    videos = sorted(SAMPLES.glob("*.mp4"))
    if len(videos) < 2:
        raise FileNotFoundError(f"{SAMPLES}: expected two sample clips (*.mp4), found {len(videos)}")
    return videos


def spectrogram_figure(result: Separation, truth: torch.Tensor, cfg: Config) -> Image.Image:
    """Rows: mixture, then truth and estimate per clip: dB spectrograms, log frequency, one colour scale;
    each with its axes (time in s, frequency in Hz)."""
    a = cfg.audio
    matrix = spec.log_freq_matrix(a.n_fft // 2 + 1, a.log_bins, a.sample_rate)  # (F, F_lin)
    waves = torch.cat([result.mix[None], truth, result.sources])  # (1 + 2N, L)
    mags = spec.warp(spec.stft(waves, a.n_fft, a.hop).abs(), matrix)  # (1 + 2N, F, T)
    ref = float(mags.max())
    hz = spec.log_bin_positions(a.n_fft // 2 + 1, a.log_bins, a.sample_rate) * a.sample_rate / a.n_fft  # (F,)
    ticks = plots.time_ticks(waves.shape[-1] / a.sample_rate), plots.freq_ticks(hz.numpy())
    pictures = [plots.with_axes(plots.spectrogram_image(m, ref=ref, scale=2), *ticks) for m in mags]
    n = truth.shape[0]
    rows = [("mixture", [pictures[0], None])]
    rows += [(result.names[i], [pictures[1 + i], pictures[1 + n + i]]) for i in range(n)]
    return plots.grid_figure(rows, col_titles=["truth", "separated by looking"], title="pixelsound demo")


def demo(
    model: str | Path = MODEL, videos: list[Path] | None = None, out: str | Path = "pixelsound-demo"
) -> DemoResult:
    """Mix the sample clips' soundtracks, separate them with the model, score and write the results.

    Args:
        model: released model folder.
        videos: clips to mix (default: the bundled samples).
        out: folder for wavs and the figure.

    Returns:
        :class:`DemoResult`.
    """
    videos = videos or sample_videos()
    net, cfg = load_release(model)
    result = separate(videos, net)
    sr, length = result.sample_rate, result.mix.shape[-1]
    truth = torch.stack([read_audio(v, sr)[0, :length] for v in videos])  # (N, L)
    scores = metrics.bss_eval(truth, result.sources, compute_permutation=False)
    mixture = metrics.bss_eval(truth, result.mix.expand_as(truth), compute_permutation=False)
    out = Path(out)
    files = result.write(out)
    figure = plots.save_png(spectrogram_figure(result, truth, cfg), out / "spectrograms.png")
    as_list = lambda a: [float(x) for x in a]  # noqa: E731
    return DemoResult(
        result,
        truth,
        as_list(scores["sdr"]),
        as_list(scores["sir"]),
        as_list(scores["sar"]),
        as_list(mixture["sdr"]),
        figure,
        files,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=str(MODEL), help="released model folder (default: the bundled one)"
    )
    parser.add_argument("--out", default="pixelsound-demo", help="folder for the wavs and the figure")
    parser.add_argument("videos", nargs="*", help="clips to mix and separate (default: the bundled samples)")


def run(args: argparse.Namespace) -> int:
    r = demo(args.model, [Path(v) for v in args.videos] or None, args.out)
    print(
        f"mixed {len(r.separation.names)} clips "
        f"({r.separation.mix.shape[-1] / r.separation.sample_rate:.1f} s) "
        f"and separated them by looking at each clip's frames:\n"
    )
    print(f"{'clip':<28}{'SDR':>8}{'SIR':>8}{'SAR':>8}   mixture SDR")
    for i, name in enumerate(r.separation.names):
        print(f"{name:<28}{r.sdr[i]:8.2f}{r.sir[i]:8.2f}{r.sar[i]:8.2f}   {r.mixture_sdr[i]:8.2f}")
    print(f"\nmean SDR {sum(r.sdr) / len(r.sdr):.2f} dB (mixture {sum(r.mixture_sdr) / len(r.sdr):.2f} dB)")
    print(f"wrote {', '.join(str(f) for f in r.files)}\nand {r.figure}")
    return 0
