"""Rooms, microphones and noise: deterministic, level-keeping, and doing what their names say."""

from __future__ import annotations

import numpy as np
import pytest

from pixelsound import rooms

SR = 8000


def tone(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (t < 0.3)  # a note, then silence where a room rings on
    return x.astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


@pytest.mark.parametrize("make", [rooms.synthetic_ir, rooms.simulated_ir])
def test_impulse_responses_start_at_the_direct_sound_and_repeat_for_a_seed(make):
    ir = make(np.random.default_rng(3), SR)
    assert ir.dtype == np.float32 and ir.ndim == 1
    assert np.abs(ir).max() == pytest.approx(1.0)
    assert np.argmax(np.abs(ir) > 0.1) < int(0.005 * SR)  # direct sound first
    np.testing.assert_array_equal(ir, make(np.random.default_rng(3), SR))
    assert not np.array_equal(ir, make(np.random.default_rng(4), SR))


@pytest.mark.parametrize("make", [rooms.synthetic_ir, rooms.simulated_ir])
def test_a_longer_reverberation_time_rings_longer(make):
    def late_energy(rt60: float) -> float:
        ir = make(np.random.default_rng(0), SR, (rt60, rt60)).astype(np.float64)
        return float(np.sum(ir[int(0.15 * SR) :] ** 2) / np.sum(ir**2))

    assert late_energy(1.2) > 2 * late_energy(0.2)


def test_convolving_with_a_unit_impulse_changes_nothing():
    x = tone()
    np.testing.assert_allclose(rooms.convolve(x, np.array([1.0], np.float32)), x, atol=1e-6)


def test_a_room_fills_the_silence_after_a_note_and_keeps_the_level():
    x = tone()
    wet = rooms.convolve(x, rooms.synthetic_ir(np.random.default_rng(1), SR, (0.8, 0.8)))
    assert rms(wet) == pytest.approx(rms(x), rel=1e-4)
    tail = slice(int(0.35 * SR), int(0.5 * SR))
    assert rms(wet[tail]) > 100 * rms(x[tail]) + 1e-4


def test_colour_keeps_length_level_and_silence_and_is_deterministic():
    x = tone()
    how = rooms.Colouring(room=1.0, eq=1.0, noise=1.0, snr_db=(20.0, 20.0))
    a = rooms.colour(x, np.random.default_rng(5), SR, how)
    assert a.shape == x.shape and a.dtype == np.float32
    assert rms(a) == pytest.approx(rms(x), rel=0.02)
    assert np.corrcoef(a, x)[0, 1] < 0.99  # really changed
    np.testing.assert_array_equal(a, rooms.colour(x, np.random.default_rng(5), SR, how))
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(rooms.colour(silent, np.random.default_rng(5), SR, how), silent)


def test_colour_with_nothing_drawn_returns_the_input():
    x = tone()
    none = rooms.Colouring(room=0.0, eq=0.0, noise=0.0)
    np.testing.assert_allclose(rooms.colour(x, np.random.default_rng(0), SR, none), x, atol=1e-7)


def test_noise_sets_the_signal_to_noise_ratio():
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)).astype(np.float32)
    how = rooms.Colouring(room=0.0, eq=0.0, noise=1.0, snr_db=(10.0, 10.0))
    noisy = rooms.colour(x, np.random.default_rng(2), SR, how).astype(np.float64)
    residual = noisy - x * np.dot(noisy, x) / np.dot(x, x)  # what is not the tone (the output was rescaled)
    snr = 20 * np.log10(rms(noisy - residual) / rms(residual))
    assert snr == pytest.approx(10.0, abs=1.0)


def test_microphone_colouring_changes_the_spectrum_but_not_the_level():
    x = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    y = rooms.microphone(x, np.random.default_rng(1), SR)
    assert rms(y) == pytest.approx(rms(x), rel=1e-4)
    spec_x, spec_y = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(y))
    low = slice(0, 20)  # below ~20 Hz: the low cut removes it
    assert spec_y[low].mean() < 0.5 * spec_x[low].mean()


@pytest.mark.parametrize("sample_rate", [8000, 11025, 22050])
def test_colouring_stays_finite_and_in_range_for_many_draws(sample_rate):
    x = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1
    how = rooms.Colouring(room=0.2, eq=1.0, noise=0.5)
    for seed in range(300):  # an unstable filter for some draws once made NaN training windows
        y = rooms.colour(x, np.random.default_rng(seed), sample_rate, how)
        assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
