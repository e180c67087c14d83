"""pixelsound.timbre: a speed change moves the pitch by its ratio; the envelope keeps level and silence."""

from __future__ import annotations

import numpy as np
import pytest

from pixelsound import timbre

SR = 8000


def tone(freq: float = 440.0, seconds: float = 1.0) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(SR * seconds)) / SR)).astype(np.float32)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spectrum)])


@pytest.mark.parametrize("speed", [2 ** (-2 / 12), 1.0, 2 ** (2 / 12)])
def test_play_at_moves_the_pitch_by_the_speed(speed):
    L = 4000
    source = tone(seconds=1.0)
    assert len(source) >= timbre.source_samples(L, speed)
    out = timbre.play_at(source, speed, L)
    assert out.shape == (L,) and out.dtype == np.float32
    assert peak_hz(out) == pytest.approx(440.0 * speed, abs=3.0)
    assert np.abs(out[-100:]).max() > 0.1  # the whole window is sound: enough source was read


def test_play_at_past_the_end_is_silence():
    out = timbre.play_at(tone(seconds=0.25), 1.0, 4000)
    assert np.abs(out[: 2000 - 10]).max() > 0.1 and np.abs(out[2010:]).max() == 0


def test_draw_speed_stays_within_the_semitones():
    rng = np.random.default_rng(0)
    speeds = np.array([timbre.draw_speed(rng) for _ in range(500)])
    assert speeds.min() >= 2 ** (-2 / 12) and speeds.max() <= 2 ** (2 / 12)
    assert speeds.min() < 0.92 and speeds.max() > 1.08  # the range is used


def test_envelope_changes_the_balance_keeps_rms_and_silence():
    rng = np.random.default_rng(3)
    x = tone(200.0) + tone(3000.0)
    how = timbre.Timbre(envelope_db=12.0)
    y = timbre.envelope(x, rng, SR, how)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(x**2)), rel=1e-3)

    def ratio(z):  # level of the high tone over the low one
        s = np.abs(np.fft.rfft(z))
        f = np.fft.rfftfreq(len(z), 1 / SR)
        return s[np.argmin(np.abs(f - 3000))] / s[np.argmin(np.abs(f - 200))]

    assert abs(20 * np.log10(ratio(y) / ratio(x))) > 1.0  # the timbre moved
    np.testing.assert_array_equal(timbre.envelope(x, np.random.default_rng(3), SR, how), y)  # deterministic
    silent = np.zeros(SR, np.float32)
    np.testing.assert_array_equal(timbre.envelope(silent, rng, SR, how), silent)
