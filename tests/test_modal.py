"""Modal impact synthesis: modes where they should be, decay at the material's rate, size, speed, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelsound import modal

SR = 22050


def spectrum(wave: torch.Tensor, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    mag = np.abs(np.fft.rfft(wave.double().numpy() * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1 / sr), mag


def peak_near(freqs: np.ndarray, mag: np.ndarray, f: float, rel: float = 0.05) -> float:
    band = (freqs > f * (1 - rel)) & (freqs < f * (1 + rel))
    return float(freqs[band][np.argmax(mag[band])])


@pytest.mark.parametrize("name", ["wood", "metal", "glass", "plastic"])
def test_spectrum_peaks_at_the_modes(name):
    wave = modal.impact(name, 1.0, 0.8, sample_rate=SR, duration=1.0, seed=3)
    m = modal.modes(name, 1.0, 0.8, sample_rate=SR, seed=3)
    freqs, mag = spectrum(wave)
    strongest = torch.argsort(m.amps / m.decays, descending=True)[:3]  # energy ~ amp^2 / decay
    for k in strongest.tolist():
        f = float(m.freqs[k])
        assert peak_near(freqs, mag, f) == pytest.approx(f, rel=0.01, abs=2.0)
    # the spectrum's strongest component is one of the modes
    top = freqs[np.argmax(mag)]
    assert min(abs(top - f) for f in m.freqs.tolist()) < 3.0


def test_mode_pattern_follows_the_material_ratios_and_size_sets_pitch():
    m = modal.modes("wood", 1.0, 0.5, sample_rate=SR, seed=0)
    ratios = (m.freqs / m.freqs[0]).tolist()
    np.testing.assert_allclose(ratios, modal.MATERIALS["wood"].ratios[: len(ratios)], rtol=0.05)
    small = modal.impact("wood", 1.0, 0.7, sample_rate=SR, duration=0.5)
    big = modal.impact("wood", 2.0, 0.7, sample_rate=SR, duration=0.5)
    f_small = peak_near(*spectrum(small), modal.MATERIALS["wood"].f0, 0.1)
    f_big = peak_near(*spectrum(big), modal.MATERIALS["wood"].f0 / 2, 0.1)
    assert f_big == pytest.approx(f_small / 2, rel=0.02)


def measured_decay(wave: torch.Tensor, f: float, seconds: float) -> float:
    """Decay rate (1/s) of the component at f: slope of its log magnitude in short frames."""
    hop, win = SR // 100, SR // 20
    t = np.arange(len(wave)) / SR
    carrier = np.exp(-2j * np.pi * f * t)  # heterodyne to DC, then low-pass by frame averaging
    base = wave.double().numpy() * carrier
    starts = np.arange(0, int(seconds * SR) - win, hop)
    env = np.array([abs(base[s : s + win].mean()) for s in starts])
    times = (starts + win / 2) / SR
    keep = env > env.max() * 1e-2
    slope = np.polyfit(times[keep], np.log(env[keep]), 1)[0]
    return -slope


@pytest.mark.parametrize("name,seconds", [("wood", 0.12), ("metal", 1.2), ("glass", 0.5), ("plastic", 0.07)])
def test_fundamental_decays_at_the_materials_rate(name, seconds):
    mat = modal.MATERIALS[name]
    wave = modal.impact(name, 1.0, 0.3, sample_rate=SR, duration=seconds + 0.1, seed=1)
    assert measured_decay(wave, mat.f0, seconds) == pytest.approx(mat.decay, rel=0.15)


def test_materials_ring_in_the_expected_order():
    t60 = {name: m.t60 for name, m in modal.MATERIALS.items()}
    assert t60["metal"] > t60["glass"] > t60["wood"] > t60["plastic"] > t60["rubber"]
    assert len(modal.impact("metal", sample_rate=SR)) > len(modal.impact("wood", sample_rate=SR))


def centroid(wave: torch.Tensor) -> float:
    freqs, mag = spectrum(wave)
    return float((freqs * mag**2).sum() / (mag**2).sum())


def test_speed_sets_gain_and_brightness():
    soft = modal.impact("metal", 1.0, 0.2, sample_rate=SR, duration=0.5, seed=2)
    hard = modal.impact("metal", 1.0, 0.9, sample_rate=SR, duration=0.5, seed=2)
    assert hard.abs().max() > 3 * soft.abs().max()
    assert centroid(hard) > 1.2 * centroid(soft)
    assert float(modal.impact("glass", speed=0.0, sample_rate=SR).abs().max()) == 0.0


def test_deterministic_float32_and_hits_vary():
    a = modal.impact("glass", 0.8, 0.6, sample_rate=SR, seed=5)
    b = modal.impact("glass", 0.8, 0.6, sample_rate=SR, seed=5)
    c = modal.impact("glass", 0.8, 0.6, sample_rate=SR, seed=5, hit=1)
    assert a.dtype == torch.float32 and a.dim() == 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.abs().max() <= 0.6 * (1 + modal.MATERIALS["glass"].click) + 1e-6


def test_resonator_bank_equals_direct_sum():
    m = modal.modes("metal", 1.3, 0.7, sample_rate=SR, seed=4)
    length = SR // 2
    direct = modal.damped_sinusoids(m.freqs, m.decays, m.amps, length, SR)
    excitation = torch.zeros(len(m.freqs), length, dtype=torch.float64)
    excitation[:, 0] = m.amps
    bank = modal.resonate(excitation, m.freqs, m.decays, SR).sum(0)
    torch.testing.assert_close(bank.float(), direct, atol=1e-5, rtol=0)


def test_track_is_the_sum_of_its_hits():
    times, speeds = [0.05, 0.3], [0.9, 0.4]
    length = int(0.6 * SR)
    track = modal.impact_track(times, speeds, "wood", 1.0, length, sample_rate=SR, seed=7)
    hits = [
        (t, modal.impact("wood", 1.0, s, sample_rate=SR, duration=0.6, seed=7, hit=i))
        for i, (t, s) in enumerate(zip(times, speeds, strict=True))
    ]
    torch.testing.assert_close(track, modal.place(hits, length, SR), atol=1e-5, rtol=0)
    assert track[: int(0.05 * SR) - 1].abs().max() == 0  # silent before the first hit


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown material 'jelly'"):
        modal.impact("jelly")
    with pytest.raises(ValueError, match="size"):
        modal.impact("wood", size=0.0)
    with pytest.raises(ValueError, match="2 times but 1 speeds"):
        modal.impact_track([0.1, 0.2], [0.5], "wood", 1.0, 100)
    assert math.isclose(modal.MATERIALS["metal"].t60, math.log(1000) / modal.MATERIALS["metal"].decay)
