"""Mask targets on hand-made spectra, weighted losses, training progress, the oracle-mask upper bound."""

import math

import pytest
import torch

from pixelsound.losses import contrastive_loss, mask_loss, mask_target, mix_and_separate_loss
from pixelsound.model import SoundOfPixels
from pixelsound.spec import magnitude_weight
from tiny import tiny_config


def hand_made():
    # two sources, one bin each where one dominates, one shared bin, one silent bin: (B=1, N=2, F=4, T=1)
    mags = torch.tensor([[[[4.0], [0.0], [1.0], [0.0]], [[1.0], [3.0], [1.0], [0.0]]]])
    mix = mags.sum(1)  # magnitudes add here (in-phase sources)
    return mags, mix


def test_binary_target_is_source_above_half_the_mixture():
    mags, mix = hand_made()
    target = mask_target("binary", mags, mix, 0.5)
    # bin 2: each source is exactly half the mixture -> not strictly above -> 0; silent bin -> 0
    assert target[0, :, :, 0].tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]
    assert mask_target("binary", mags, mix, 0.4)[0, :, 2, 0].tolist() == [1, 1]


def test_dominant_target_is_loudest_source():
    mags, _ = hand_made()
    target = mask_target("dominant", mags, mags.sum(1))
    assert target[0, :, :, 0].tolist() == [[1, 0, 1, 1], [0, 1, 1, 1]]  # ties: both on


def test_ratio_target_clamped_to_unit_interval():
    mags, mix = hand_made()
    target = mask_target("ratio", mags, mix)
    assert torch.allclose(target[0, :, :, 0], torch.tensor([[0.8, 0.0, 0.5, 0.0], [0.2, 1.0, 0.5, 0.0]]))
    # out-of-phase sources: a source louder than the mixture is clamped to 1
    assert mask_target("ratio", torch.tensor([[[[3.0]]]]), torch.tensor([[[1.0]]])).item() == 1.0


def test_unknown_mask_kind():
    mags, mix = hand_made()
    with pytest.raises(ValueError, match="unknown mask kind 'soft'"):
        mask_target("soft", mags, mix)


def test_weights_silence_bins_that_do_not_matter():
    target = torch.tensor([1.0, 0.0])
    logits = torch.tensor([5.0, 5.0])  # right on the first bin, badly wrong on the second
    loud, silent = torch.tensor([10.0, 10.0]), torch.tensor([10.0, 1e-3])
    assert mask_loss("binary", logits, target, silent) < 0.01 * mask_loss("binary", logits, target, loud)
    ratio = mask_loss("ratio", torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([2.0]))
    assert ratio.item() == pytest.approx(2 * 0.5)


@pytest.mark.parametrize("kind", ["binary", "ratio"])
def test_loss_decreases_on_a_fixed_batch(kind):
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config(mask=kind))
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(4095) / 8000
    sources = torch.stack([torch.sin(2 * math.pi * 300 * t), torch.randn(4095, generator=gen) * 0.3])
    sources = sources[None].repeat(4, 1, 1) * torch.rand(4, 2, 1, generator=gen)  # (B, N, L)
    frames = torch.randint(0, 256, (4, 2, 2, 3, 32, 32), dtype=torch.uint8, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, stats = mix_and_separate_loss(model, sources, frames)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["loss"])
    assert set(stats) == {"loss", "mask_mean", "target_mean", "error"}
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def _harmonic(f0: float, seed: int, length: int = 4095, sr: int = 8000) -> torch.Tensor:
    t = torch.arange(length) / sr
    phases = torch.rand(5, generator=torch.Generator().manual_seed(seed)) * 6
    tone = sum(torch.sin(2 * math.pi * f0 * h * t + phases[h - 1]) / h for h in range(1, 6))
    return tone * (0.6 + 0.4 * torch.sin(2 * math.pi * 2 * t + seed))


def _sdr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(reference.pow(2).sum(-1) / (reference - estimate).pow(2).sum(-1))


@pytest.mark.parametrize("kind", ["binary", "dominant", "ratio"])
def test_oracle_masks_through_the_model_path_separate_well(kind):
    model = SoundOfPixels(tiny_config())
    sources = torch.stack([_harmonic(220, 0), _harmonic(370, 1)])[None] * 0.3  # (1, 2, L)
    mix = sources.sum(1)
    mix_spec, mix_mag = model.spectrogram(mix)
    _, mags = model.spectrogram(sources)
    estimate = model.apply_masks(mask_target(kind, mags, mix_mag), mix_spec, mix.shape[-1])  # (1, 2, L)
    assert _sdr(sources, mix[:, None].expand_as(sources)).abs().max() < 1.0  # the mixture: about 0 dB
    assert _sdr(sources, estimate).min() > 12.0


def test_contrastive_loss_is_low_for_matching_pairs_only():
    gen = torch.Generator().manual_seed(0)
    sounds = torch.randn(6, 8, generator=gen)
    matching = contrastive_loss(sounds + 0.01 * torch.randn(6, 8, generator=gen), sounds)
    shuffled = contrastive_loss(sounds.roll(1, 0), sounds)
    assert matching < 0.05 < math.log(6) < shuffled


def test_silent_regions_and_the_contrastive_term_train():
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config(contrast=0.5))
    assert model.sound_embedding is not None and SoundOfPixels(tiny_config()).sound_embedding is None
    gen = torch.Generator().manual_seed(1)
    t = torch.arange(4095) / 8000
    tones = [torch.sin(2 * math.pi * f * t) for f in (300, 700, 1500, 2500)]
    sources = torch.stack([torch.stack(tones[:2]), torch.stack(tones[2:])]) * 0.5  # (B=2, N=2, L)
    scene = torch.rand(2, 2, 3, 32, 48, generator=gen)  # (B, V, 3, H, W)
    regions = torch.zeros(2, 3, 32, 48)  # two sources and a silent strip
    for j in range(3):
        regions[:, j, :, 16 * j : 16 * j + 16] = 1
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(60):
        loss, stats = mix_and_separate_loss(model, sources, scene, regions)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(stats)
    assert {"contrast", "loss"} <= set(stats)
    assert history[-1]["contrast"] < 0.5 * history[0]["contrast"]
    with torch.no_grad():
        out = model(sources.sum(1), scene, regions)
    weight = magnitude_weight(out.mix_mag)[:, None]  # (B, 1, F, T): the bins that carry sound
    share = (out.masks * weight).sum((0, 2, 3)) / weight.sum()  # (3,) mean mask per region
    assert out.masks.shape[1] == 3 and share[2] < 0.1 < 0.3 < share[:2].min()  # the silent strip is silent
