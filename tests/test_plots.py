"""Axes on spectrogram pictures: round ticks where the values are, and labelled margins."""

import numpy as np
import torch

from pixelsound import demo, plots, spec
from pixelsound.separate import Separation
from tiny import tiny_config


def test_ticks_sit_where_their_values_are():
    assert plots.time_ticks(8.0) == [(0.0, "0"), (0.25, "2"), (0.5, "4"), (0.75, "6"), (1.0, "8")]
    assert [label for _, label in plots.time_ticks(2.05)] == ["0", "0.5", "1", "1.5", "2"]
    hz = np.linspace(0, 4000, 101)  # rows centred every 40 Hz
    ticks = dict((label, frac) for frac, label in plots.freq_ticks(hz, min_gap=0.0))
    assert ticks["1k"] == (25 + 0.5) / 101 and ticks["2k"] == (50 + 0.5) / 101 and "5k" not in ticks
    assert [label for _, label in plots.freq_ticks(hz, min_gap=0.2)] == ["2k", "1k", "100"]  # not crowded


def test_demo_figure_has_time_and_frequency_axes():
    cfg = tiny_config()
    a = cfg.audio
    mix = torch.randn(a.sample_rate)
    truth = torch.stack([mix, mix]) / 2
    figure = demo.spectrogram_figure(Separation(truth, mix, a.sample_rate, ["x", "y"]), truth, cfg)
    mags = spec.stft(mix[None], a.n_fft, a.hop)  # (1, F_lin, T)
    bare = plots.spectrogram_image(mags[0, : a.log_bins].abs(), scale=2)
    picture = plots.with_axes(bare, plots.time_ticks(1.0), [(0.5, "1k")])
    assert picture.width > bare.width + 20 and picture.height > bare.height + 20
    pixels = np.asarray(picture)
    assert (pixels[-12:, :, :] < 128).any() and (
        pixels[:, :10, :] < 128
    ).any()  # "time (s)", "frequency (Hz)"
    assert figure.height >= 3 * picture.height and figure.width >= 2 * picture.width
