"""Loudness (BS.1770-4 known values), peaks and limiting, pan law, room reverb and the whole mixdown."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pixelsound import loudness, mixdown, modal


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: small tensors gain nothing from threads
    yield
    torch.set_num_threads(before)


def sine(db: float, seconds: float, sr: int, f: float = 997.0) -> torch.Tensor:
    t = torch.arange(int(seconds * sr), dtype=torch.float64) / sr
    return (10 ** (db / 20) * torch.sin(2 * math.pi * f * t)).float()


def test_k_weighting_matches_the_published_48k_coefficients():
    (b1, a1), (b2, a2) = loudness.k_weighting(48000)
    np.testing.assert_allclose(b1, [1.53512485958697, -2.69169618940638, 1.19839281085285], atol=1e-8)
    np.testing.assert_allclose(a1, [1.0, -1.69065929318241, 0.73248077421585], atol=1e-8)
    np.testing.assert_allclose(b2, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(a2, [1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize("sr", [48000, 44100])
def test_sine_reads_its_known_loudness(sr):
    # both channels: 20 log10(A) LUFS (EBU Tech 3341 cases 1-2); one channel: 3.01 dB less
    for db in (-23.0, -33.0):
        s = sine(db, 3.0, sr)
        assert loudness.integrated_loudness(torch.stack([s, s]), sr) == pytest.approx(db, abs=0.05)
        assert loudness.integrated_loudness(torch.stack([s, 0 * s]), sr) == pytest.approx(db - 3.01, abs=0.05)
    assert loudness.integrated_loudness(sine(-23.0, 3.0, sr), sr) == pytest.approx(-26.01, abs=0.05)


def test_gates():
    sr = 48000
    # EBU 3341 case 3 (shortened): -36 / -23 / -36 dBFS -> the quiet parts fall under the relative gate
    x = torch.cat([sine(-36, 2, sr), sine(-23, 20, sr), sine(-36, 2, sr)])
    assert loudness.integrated_loudness(torch.stack([x, x]), sr) == pytest.approx(-23.0, abs=0.1)
    # quiet parts only 8 LU down are kept: the mean power of all three parts
    y = torch.cat([sine(-31, 2, sr), sine(-23, 20, sr), sine(-31, 2, sr)])
    power = (20 * 10 ** (-2.3) + 4 * 10 ** (-3.1)) / 24
    assert loudness.integrated_loudness(torch.stack([y, y]), sr) == pytest.approx(
        10 * math.log10(power), abs=0.1
    )
    # absolute gate: silence and -80 dBFS read -inf
    assert loudness.integrated_loudness(torch.zeros(2, sr), sr) == -math.inf
    s = sine(-80, 1, sr)
    assert loudness.integrated_loudness(torch.stack([s, s]), sr) == -math.inf


def test_true_peak_sees_between_samples():
    sr = 48000
    t = torch.arange(sr, dtype=torch.float64) / sr
    x = (0.5 * torch.sin(2 * math.pi * sr / 4 * t + math.pi / 4)).float()  # samples land at +-0.354
    assert loudness.sample_peak(x) == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.01)
    assert loudness.true_peak(x[None]) == pytest.approx(20 * math.log10(0.5), abs=0.1)


def impacts(sr: int, seconds: float = 3.0) -> torch.Tensor:
    times = [0.2, 0.7, 1.1, 1.9, 2.5]
    return modal.impact_track(
        times, [0.9, 0.4, 1.0, 0.6, 0.8], "metal", 0.7, int(seconds * sr), sample_rate=sr
    )


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_normalize_reaches_target_under_the_peak_ceiling(target):
    sr = 44100
    x = 0.05 * torch.stack([impacts(sr), 0.5 * impacts(sr)])
    out = loudness.normalize(x, sr, target=target, peak_db=-1.0)
    assert out.audio.shape == x.shape and out.audio.dtype == torch.float32
    assert loudness.integrated_loudness(out.audio, sr) == pytest.approx(target, abs=0.5)
    assert out.loudness == pytest.approx(target, abs=0.5)
    assert loudness.sample_peak(out.audio) <= -1.0 + 1e-6
    assert out.true_peak <= -0.9
    assert loudness.normalize(torch.zeros(2, sr), sr).gain_db == 0.0


def test_limiter_only_touches_the_peaks():
    sr = 44100
    x = sine(-6, 1.0, sr, f=220.0)[None].repeat(2, 1)
    x[:, sr // 2] = 0.99  # one spike
    y = loudness.limit_peaks(x, sr, -3.0, oversample_factor=1)
    assert loudness.sample_peak(y) <= -3.0 + 1e-6
    far = slice(0, sr // 2 - int(0.02 * sr))
    torch.testing.assert_close(y[:, far], x[:, far])


def test_pan_law_is_constant_power_and_sides_are_right():
    pans = torch.linspace(-1, 1, 21)
    g = mixdown.pan_gains(pans)
    torch.testing.assert_close(g.pow(2).sum(1), torch.ones(21, dtype=torch.float64))
    assert g[0].tolist() == pytest.approx([1.0, 0.0], abs=1e-12)
    assert g[10, 0] == pytest.approx(g[10, 1])
    assert (g[:10, 0] > g[:10, 1]).all() and (g[11:, 1] > g[11:, 0]).all()
    assert mixdown.pan_from_x(0.1) < 0 < mixdown.pan_from_x(0.9)
    track = impacts(22050, 1.0)[None]
    stereo = mixdown.spatialize(track, torch.tensor([-0.7]), torch.tensor([0.0]))[0]
    assert stereo[0].pow(2).sum() > 4 * stereo[1].pow(2).sum()
    torch.testing.assert_close(stereo.pow(2).sum(), track.pow(2).sum(), rtol=1e-5, atol=0)


def t30(ir: torch.Tensor, sr: int) -> float:
    """Reverberation time from the Schroeder decay curve between -5 and -35 dB."""
    energy = ir.double().pow(2).sum(0).flip(0).cumsum(0).flip(0)
    edc = 10 * torch.log10(energy / energy[0])
    return 2 * float(((edc > -35).sum() - (edc > -5).sum()) / sr)


def test_reverb_tail_grows_with_room_size():
    sr = 22050
    times = {name: t30(mixdown.room_impulse(name, sr), sr) for name in ("dry", "room", "hall")}
    assert times["dry"] < times["room"] < times["hall"]
    for name, measured in times.items():
        assert measured == pytest.approx(mixdown.ROOMS[name].rt60, rel=0.3)
    # rendered: energy in the tail after a single short knock grows with the room
    track = modal.impact_track([0.1], [1.0], "wood", 1.0, int(2.0 * sr), sample_rate=sr)[None]
    tails = []
    for name in ("dry", "room", "hall"):
        mix = mixdown.mixdown(track, torch.zeros(1), torch.zeros(1), name, sr, target_lufs=-20)
        tails.append(float(mix.audio[:, int(0.6 * sr) :].pow(2).sum() / mix.audio.pow(2).sum()))
    assert tails[0] < tails[1] < tails[2]
    ir = mixdown.room_impulse("room", sr, seed=1)
    assert ir.shape[0] == 2 and torch.equal(ir, mixdown.room_impulse("room", sr, seed=1))
    assert float(torch.corrcoef(ir)[0, 1]) < 0.5  # a wide (decorrelated) tail


def test_mixdown_levels_stems_and_sides():
    sr = 22050
    left = impacts(sr, 2.0)
    right = modal.impact_track([0.4, 1.3], [0.8, 0.8], "wood", 1.0, 2 * sr, sample_rate=sr)
    mix = mixdown.mixdown(
        torch.stack([left, right]), torch.tensor([-0.8, 0.8]), torch.tensor([0.0, -6.0]), "room", sr
    )
    assert mix.audio.shape == (2, 2 * sr) and mix.stems.shape == (2, 2, 2 * sr)
    assert mix.loudness == pytest.approx(-16.0, abs=0.5) and loudness.sample_peak(mix.audio) <= -1.0 + 1e-6
    assert mix.stems[0, 0].pow(2).sum() > 4 * mix.stems[0, 1].pow(2).sum()
    assert mix.stems[1, 1].pow(2).sum() > 4 * mix.stems[1, 0].pow(2).sum()
    quiet = mixdown.mixdown(
        torch.stack([left, right]), torch.zeros(2), torch.zeros(2), "hall", sr, target_lufs=-40
    )
    torch.testing.assert_close(quiet.stems.sum(0) + quiet.reverb, quiet.audio, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="unknown room preset 'cave'"):
        mixdown.mixdown(left[None], torch.zeros(1), torch.zeros(1), "cave", sr)
    assert float(mixdown.distance_gain(0.1)) == pytest.approx(10 * math.log10(2))


def test_loudness_is_pyloudnorms_bs1770_meter():
    import pyloudnorm

    sr = 22050
    x = 0.2 * torch.randn(2, 3 * sr, generator=torch.Generator().manual_seed(0))
    reference = pyloudnorm.Meter(sr, filter_class="DeMan").integrated_loudness(x.double().numpy().T)
    assert isinstance(loudness.meter(sr), pyloudnorm.Meter)
    assert loudness.integrated_loudness(x, sr) == pytest.approx(reference, abs=1e-9)
    # shorter than a 400 ms block (pyloudnorm refuses): one block of the whole signal
    s = sine(-23.0, 0.25, 48000)
    assert loudness.integrated_loudness(torch.stack([s, s]), 48000) == pytest.approx(-23.0, abs=0.1)
