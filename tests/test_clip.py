"""The one clip reader (pixelsound.clip) and the one chunking core (pixelsound.windows)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelsound import io, spec, windows
from pixelsound.clip import FileClip, TensorClip, open_clip

SR, FPS = 8000, 10.0


def numbered_frames(count: int, size: int = 32) -> torch.Tensor:
    """Frame i is grey level 20 * i, so a frame's level tells which it is. ``(count, 3, size, size)``."""
    return (
        (torch.arange(count, dtype=torch.uint8) * 20)[:, None, None, None]
        .expand(count, 3, size, size)
        .clone()
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    t = torch.arange(int(1.2 * SR)) / SR
    audio = 0.3 * torch.sin(2 * math.pi * 440 * t)[None]  # (1, L)
    frames = numbered_frames(12)
    path = tmp_path_factory.mktemp("clip") / "numbers.mp4"
    io.write_video(path, frames, FPS, audio, SR)
    return path, frames, audio


def test_file_and_tensor_clips_pick_the_same_frames(media):
    path, frames, audio = media
    file, tensor = FileClip(path), TensorClip(frames, FPS, audio, SR)
    times = torch.tensor([[0.05, 0.31], [0.99, 5.0]])  # past the end: clamped to the last frame
    got = file.frames_at(times, 16)
    assert got.shape == (2, 2, 3, 16, 16)
    levels = got[..., 8, 8].float().mean(-1)  # (2, 2)
    assert torch.allclose(levels, torch.tensor([[0.0, 60.0], [180.0, 220.0]]), atol=6)
    assert tensor.frames_at(times, 16)[..., 8, 8].float().mean(-1).tolist() == [[0, 60], [180, 220]]
    assert file.duration == pytest.approx(tensor.duration, abs=0.05) and tensor.size == (32, 32)


def test_audio_is_mono_at_the_asked_rate(media):
    path, frames, audio = media
    file, tensor = FileClip(path), TensorClip(frames, FPS, audio, SR)
    assert file.audio(4000, start=0.25, duration=0.5).shape == (2000,)
    part = tensor.audio(4000, start=0.25, duration=0.5)
    assert part.shape == (2000,)
    assert torch.allclose(part, io.resample(audio[0], SR, 4000)[1000:3000])
    wave, rate = tensor.soundtrack()
    assert rate == SR and wave.shape == audio.shape
    with pytest.raises(ValueError, match="no soundtrack"):
        TensorClip(frames, FPS).audio(SR)


def test_sampled_and_decoded_frames(media):
    path, frames, _ = media
    clip = FileClip(path)
    picked, used = clip.sampled(5.0, 8)
    assert picked.shape == (6, 3, 8, 8)
    assert torch.allclose(used, torch.arange(6, dtype=torch.float64) / 5.0, atol=1e-3)
    decoded = clip.decode()
    assert isinstance(decoded, TensorClip) and decoded.frames.shape == frames.shape
    assert decoded.t0 == pytest.approx(0.0, abs=1e-3) and open_clip(decoded) is decoded


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        TensorClip(torch.zeros(4, 3, 8, 8), FPS)
    with pytest.raises(ValueError, match="fps"):
        open_clip(numbered_frames(3))


def test_frame_times_are_window_centres():
    times = windows.frame_times(torch.tensor([0.0, 2.0]), 1.0, 4)  # (C, V)
    assert times.tolist() == [[0.125, 0.375, 0.625, 0.875], [2.125, 2.375, 2.625, 2.875]]


def test_overlap_add_of_fades_restores_the_signal():
    signal = torch.randn(2, 1000)  # (N, L)
    starts = windows.flush_starts(1000, 300, 0.25)
    weights = windows.fade_weights(300, 75)
    out = windows.OverlapAdd(1000)
    for s in starts:
        out.add(s, signal[:, s : s + 300], weights)
    assert torch.allclose(out.result(), signal, atol=1e-6)


def test_spread_starts_and_pieces():
    assert windows.spread_starts(2.0, 3.0, 4).tolist() == [0.0]
    assert np.allclose(windows.spread_starts(10.0, 2.0, 3), [0.0, 4.0, 8.0])
    assert windows.piece(torch.arange(5.0), 3, 4).tolist() == [3.0, 4.0, 0.0, 0.0]


@pytest.mark.parametrize("n_fft,hop,length", [(254, 64, 2000), (200, 64, 1500), (256, 128, 999)])
def test_istft_equals_torch_istft(n_fft, hop, length):
    gen = torch.Generator().manual_seed(1)
    frames = length // hop + 1
    x = torch.randn(3, n_fft // 2 + 1, frames, dtype=torch.complex64, generator=gen)
    window = torch.hann_window(n_fft)
    ref = torch.istft(x, n_fft, hop, window=window, center=True, length=length)
    assert torch.allclose(spec.istft(x, n_fft, hop, length), ref, atol=1e-5)


@pytest.mark.parametrize(
    "total,chunk,overlap,align", [(10000, 3000, 0.25, 64), (3001, 3000, 0.25, 64), (20000, 4000, 0.5, 1)]
)
def test_even_plan_covers_and_crossfades_sum_to_one(total, chunk, overlap, align):
    plan = windows.even_plan(total, chunk, overlap, align)
    starts = [s for s, _ in plan]
    assert starts[0] == 0 and sum(plan[-1]) == total and all(s % align == 0 for s in starts)
    assert all(n == chunk for _, n in plan[:-1]) and chunk <= plan[-1][1] < chunk + align
    step = int(chunk * (1 - overlap))
    assert len(plan) <= math.ceil((total - chunk) / step) + 1  # bounded: no more chunks than needed
    assert all(0 < b - a <= step for a, b in zip(starts, starts[1:], strict=False))
    weights = windows.crossfade_weights(plan)
    total_w = torch.zeros(total)
    for (s, n), w in zip(plan, weights, strict=True):
        assert w.shape == (n,)
        total_w[s : s + n] += w
    assert torch.allclose(total_w, torch.ones(total), atol=1e-6)
    if len(plan) > 1:  # chunk edges inside overlaps never count
        assert float(weights[1][: (chunk - starts[1]) // 4 - 1].abs().max()) == 0.0
