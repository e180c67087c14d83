"""Offsets and sync from event times (pixelsound.sync)."""

from __future__ import annotations

import numpy as np
import pytest

from pixelsound import sync
from pixelsound.onsets import Envelope


def steady(rng: np.random.Generator, beat: float = 0.5, spread: float = 0.006) -> np.ndarray:
    """A steady rhythm over 6 s played with a human's timing spread."""
    return np.arange(0.3, 6.0, beat) + rng.normal(0, spread, len(np.arange(0.3, 6.0, beat)))


@pytest.mark.parametrize("shift", [0.0, 1.25, -0.8, 0.5, 0.0137])
def test_offset_of_a_periodic_rhythm_is_the_true_one(shift):
    rng = np.random.default_rng(1)
    notes = steady(rng)
    video = notes + rng.normal(0, 0.003, len(notes))  # seen to a few ms
    audio = notes + shift
    audio = audio[(audio > 0) & (audio < 6.0)]  # a delayed copy loses what falls off the end
    found = sync.estimate_offset(video, audio)
    assert abs(found.offset_ms - 1000 * shift) < 5.0  # sub-frame
    assert 0.0 <= found.confidence <= 1.0


def test_ties_go_to_the_lag_nearest_zero_and_confidence_says_so():
    video = np.arange(0.5, 6.0, 0.5)  # perfectly periodic: every beat shift matches as well
    found = sync.estimate_offset(video, video + 0.5)
    assert abs(found.offset_ms) < 1.0 or abs(found.offset_ms - 500) < 1.0
    assert found.confidence < 0.15  # another beat matches about as well
    lone = sync.estimate_offset(np.array([1.0, 2.3, 2.9, 4.4]), np.array([1.2, 2.5, 3.1, 4.6]))
    assert abs(lone.offset_ms - 200) < 1.0 and lone.confidence > 0.5


def test_soft_f1_separates_the_true_track_from_a_delayed_one():
    rng = np.random.default_rng(2)
    notes = steady(rng)
    video = notes + rng.normal(0, 0.003, len(notes))
    assert sync.soft_f1(video, notes) > 0.9
    assert sync.soft_f1(video, notes + 0.25) < 0.05
    assert sync.soft_f1(video, notes + 0.5) < sync.soft_f1(video, notes) - 0.1  # one beat late: worse
    assert sync.soft_f1(video, np.zeros(0)) == 0.0
    counts = sync.match_strength(video, notes, np.array([0.0, 0.25]))
    assert counts.shape == (2,) and counts[0] > len(notes) - 1 and counts[1] < 0.5


def test_binned_envelope_keeps_the_total_and_the_curve_sweep_peaks_at_the_shift():
    env = Envelope(np.random.default_rng(0).random(300), rate=100.0, t0=0.0)
    edges = sync.frame_edges(31, 10.0)  # covers -0.05 .. 3.05 s, the whole envelope
    assert sync.binned_envelope(env, edges).sum() == pytest.approx(env.values.sum())
    curve = np.zeros(60)
    curve[[10, 23, 31, 47]] = 1.0
    spikes = np.zeros(700)
    spikes[[150, 280, 360, 520]] = 1.0  # the frames' times + 0.5 s, at 100 values/s
    lags, corr = sync.curve_lag_sweep(curve, 10.0, Envelope(spikes, 100.0))
    assert lags[np.argmax(corr)] == pytest.approx(0.5, abs=0.051)
    offset_ms, peak = sync.curve_offset(curve, 10.0, Envelope(spikes, 100.0))
    assert offset_ms == pytest.approx(500.0, abs=51.0) and peak > 0.5
    assert np.isnan(sync.curve_offset(np.zeros(60), 10.0, Envelope(spikes, 100.0))[0])


def plucks(times: np.ndarray, sample_rate: int = 8000, seconds: float = 6.0) -> np.ndarray:
    """A decaying tone at each time. ``-> (L,)``."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = np.zeros_like(t)
    for onset in times:
        u = t - onset
        wave += np.where(u >= 0, np.exp(-4 * np.maximum(u, 0)) * np.sin(2 * np.pi * 330 * u), 0.0)
    return wave


def zero_padded(wave: np.ndarray, shift: float, sample_rate: int = 8000) -> np.ndarray:
    """``wave`` moved ``shift`` s later (earlier when negative), silence where nothing was. ``(L,)``."""
    n = int(round(shift * sample_rate))
    out = np.zeros_like(wave)
    if n >= 0:
        out[n:] = wave[: len(wave) - n]
    else:
        out[:n] = wave[-n:]
    return out


@pytest.mark.parametrize("beats", [2, -3, 1])
def test_a_periodic_rhythm_moved_by_whole_beats_is_found_by_its_silent_edge(beats):
    notes = np.arange(0.3, 6.0, 0.4)  # perfectly steady to the end: every beat shift matches as well
    shift = 0.4 * beats + 0.013
    audio = notes + shift
    audio = audio[(audio > 0) & (audio < 6.0)]  # a delayed copy loses what falls off the end
    level = sync.loudness(zero_padded(plucks(notes), shift), 8000)
    found = sync.estimate_offset(notes, audio, level=level)
    assert abs(found.offset_ms - 1000 * shift) < 2.0
    assert found.confidence > 0.0
    blind = sync.estimate_offset(notes, audio)  # without the silence, the tied beat nearest zero
    assert abs(blind.offset_ms - 1000 * shift) > 300.0


def test_the_true_track_of_a_periodic_rhythm_stays_at_zero_with_its_loudness():
    notes = np.arange(0.3, 6.0, 0.4)
    found = sync.estimate_offset(notes, notes, level=sync.loudness(plucks(notes), 8000))
    assert abs(found.offset_ms) < 1.0 and found.confidence > 0.0


def test_unheard_counts_events_met_by_silence_inside_the_audio_only():
    level = sync.loudness(zero_padded(plucks(np.array([0.5, 1.5, 2.5])), 2.0), 8000)  # silent until 2 s
    assert level.values.shape == (600,)
    video = np.array([0.5, 1.5, 2.5])
    counts = sync.unheard(video, np.array([2.0, 0.0, -1.0, 4.0]), level)
    # lag 2: all heard; lag 0: 0.5 and 1.5 silent; lag -1: 0.5 falls before the audio, 1.5 and 2.5 are
    # silent; lag 4: 0.5 and 1.5 heard, 2.5 falls after the audio's end
    assert counts.tolist() == [0.0, 2.0, 2.0, 0.0]
    assert sync.unheard(video, np.zeros(2), sync.loudness(np.zeros(8000), 8000)).tolist() == [0.0, 0.0]


def test_a_motion_seen_a_frame_after_its_short_sound_is_heard_at_low_frame_rates():
    rate, fps = 8000, 8.0
    onsets = np.arange(0.5, 5.5, 0.5)
    wave = np.zeros(6 * rate)
    for o in onsets:  # 50 ms clicks, silence between
        wave[int(o * rate) : int((o + 0.05) * rate)] = 0.5
    level = sync.loudness(wave, rate)
    seen = onsets + 0.1  # the frame that shows each hit comes 100 ms after it
    assert sync.unheard(seen, np.array([0.0]), level, frame_s=1 / fps)[0] == 0
    assert sync.unheard(seen, np.array([0.0]), level)[0] == len(onsets)  # without the frame: all unheard
    late = np.concatenate([np.zeros(rate), wave[:-rate]])  # the same track delayed by 1 s: silent start
    # the two events seen in its silent first second are unheard
    assert sync.unheard(seen, np.array([0.0]), sync.loudness(late, rate), frame_s=1 / fps)[0] == 2
