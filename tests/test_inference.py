"""Inference rewrites keep the model's outputs: folded BatchNorm, merged last conv, reused frame features."""

import pytest
import torch

from pixelsound.clip import TensorClip
from pixelsound.inference import FrameFeatures, fold_batchnorm, source_logits
from pixelsound.model import SoundOfPixels
from pixelsound.separate import separate_waveform
from pixelsound.windows import frame_starts, frame_times
from tiny import tiny_config


def _trained_looking(cfg) -> SoundOfPixels:
    """A tiny model whose BatchNorms have non-trivial statistics and affine parameters."""
    torch.manual_seed(0)
    model = SoundOfPixels(cfg)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_folded_model_gives_the_same_masks():
    cfg = tiny_config(frame_layers=3)
    model = _trained_looking(cfg)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.frame_net.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.audio_net.modules()) == 1  # the input one
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.frame_net.modules())  # original untouched
    mix = torch.randn(3, cfg.audio.length) * 0.1
    frames = torch.randint(0, 256, (3, 2, 2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        ref, out = model(mix, frames), folded(mix, frames)
        again = fold_batchnorm(folded)(mix, frames)  # folding a folded model changes nothing
    assert torch.allclose(out.logits, ref.logits, atol=1e-4, rtol=1e-4)
    assert torch.equal(again.logits, out.logits)


def test_merged_last_conv_equals_unet_then_synthesizer():
    cfg = tiny_config(unet_depth=3)
    model = _trained_looking(cfg)
    mix = torch.randn(2, cfg.audio.length + 321) * 0.1  # not a multiple of the U-Net grid: padded, cropped
    visual = torch.rand(2, 3, cfg.model.k)  # (B, N, K)
    with torch.no_grad():
        _, mag = model.spectrogram(mix)
        ref = model.synthesize(visual, model.encode_audio(mag))
        out = source_logits(model, mag, visual)
    assert out.shape == ref.shape == (2, 3, *mag.shape[-2:])
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)


def test_frame_features_are_reused_and_equal():
    cfg = tiny_config()
    model = _trained_looking(cfg)
    frames = torch.randint(0, 256, (3, 2, 2, 3, 32, 32), dtype=torch.uint8)  # (C, N, V, 3, H, W)
    frames[1] = frames[0]  # a window that shows what the previous one showed
    calls = []
    model.frame_net.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    features = FrameFeatures(model)
    with torch.no_grad():
        out, ref = features(frames), model.encode_frames(frames)
        assert calls[0] == 2 * 2 * 2  # 8 distinct frames of 12
        again = features(frames[2:])  # kept from the previous call
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(again, ref[2:], atol=1e-6) and len(calls) == 2


@pytest.mark.parametrize("compete", [0.0, 3.0])
def test_fast_separation_matches_the_model(compete):
    cfg = tiny_config(compete=compete)
    model = _trained_looking(cfg)
    mix = torch.randn(cfg.audio.length) * 0.1
    videos = torch.randint(0, 256, (2, 8, 3, 32, 32), dtype=torch.uint8)
    clips = [TensorClip(v, 8.0) for v in videos]
    times = frame_times(torch.zeros(1), cfg.audio.length / 8000, cfg.frames.num_frames)  # (1, V)
    with torch.no_grad():
        ref = model.separate(mix[None], torch.stack([c.frames_at(times) for c in clips], 1))[0]
    out = separate_waveform(fold_batchnorm(model), mix, clips, bf16=False)
    assert torch.allclose(out, ref, atol=1e-5)


def test_a_window_just_after_the_previous_takes_its_frames():
    assert frame_starts([0, 600], 65535) == [0, 0]  # 6.0 s at the paper's window: one set of frames
    assert frame_starts([0, 600], 65535, reuse=0.0) == [0, 600]
    assert frame_starts([0, 300, 600, 620], 1000, reuse=0.1) == [0, 300, 600, 600]


def test_a_clip_a_little_longer_than_the_window_runs_the_frame_net_once():
    cfg = tiny_config()
    model = fold_batchnorm(_trained_looking(cfg))
    mix = torch.randn(cfg.audio.length + 200) * 0.1  # two windows, 200 samples apart
    videos = torch.randint(0, 256, (2, 80, 3, 32, 32), dtype=torch.uint8)
    clips = [TensorClip(v, 128.0) for v in videos]  # 128 fps: the two windows' own frames differ
    calls = []
    model.frame_net.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    shared = separate_waveform(model, mix, clips, bf16=False)
    assert calls == [2 * cfg.frames.num_frames]  # each video's frames once
    own = separate_waveform(model, mix, clips, bf16=False, reuse=0.0)
    assert calls[1] == 2 * 2 * cfg.frames.num_frames and not torch.allclose(own, shared)
