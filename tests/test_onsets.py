"""Onset envelope, detection and one-to-one matching (checked against mir_eval)."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
import torch

from pixelsound import onsets


def clicks(times: list[float], seconds: float, sr: int = 11025, seed: int = 0) -> torch.Tensor:
    """Decaying noise bursts at the given times over a little background noise. ``-> (L,)``."""
    rng = np.random.default_rng(seed)
    wave = 0.003 * rng.standard_normal(int(seconds * sr))
    burst = rng.standard_normal(int(0.08 * sr)) * np.exp(-np.arange(int(0.08 * sr)) / (0.015 * sr))
    for t in times:
        start = int(round(t * sr))
        piece = burst[: len(wave) - start]
        wave[start : start + len(piece)] += 0.5 * piece
    return torch.from_numpy(wave).float()


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.filterwarnings("ignore:.*onsets are empty")
def test_f_measure_equals_mir_eval(seed):
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.uniform(0, 5, rng.integers(0, 25)))
    est = np.sort(
        np.concatenate([ref + rng.normal(0, 0.04, len(ref)), rng.uniform(0, 5, rng.integers(0, 8))])
    )
    est = est[rng.random(len(est)) > 0.2]
    window = float(rng.choice([0.02, 0.05, 0.1]))
    ours = onsets.f_measure(ref, est, tolerance_ms=window * 1000)
    theirs = mir_eval.onset.f_measure(ref, est, window=window)
    np.testing.assert_allclose([ours.f1, ours.precision, ours.recall], theirs, atol=1e-12)


def test_matching_is_one_to_one_and_prefers_closest():
    pairs = onsets.match_events(np.array([1.0, 1.03]), np.array([1.02]), tolerance_ms=50)
    assert pairs.tolist() == [[1, 0]]
    pairs = onsets.match_events(np.array([1.0, 1.06]), np.array([1.03, 1.1]), tolerance_ms=50)
    assert pairs.tolist() == [[0, 0], [1, 1]]  # greedy on 1.06-1.03 would lose one match
    match = onsets.f_measure([], [1.0])
    assert match.f1 == 0.0 and len(match.pairs) == 0


def test_detect_onsets_of_clicks():
    times = [0.3, 0.75, 1.2, 1.33, 2.0, 2.61]
    sr = 11025
    found = onsets.detect_onsets(clicks(times, 3.0, sr), sr)
    match = onsets.f_measure(times, found.times, tolerance_ms=20)
    assert match.f1 == 1.0
    assert abs(match.mean_error_ms) < 4
    env = onsets.onset_envelope(clicks(times, 3.0, sr)[None].repeat(2, 1), sr, t0=1.0)
    assert env.rate == pytest.approx(sr / 110) and env.times()[0] == pytest.approx(1.0 + 110 / sr)
    assert (env.values >= 0).all()


def test_silence_has_no_onsets():
    assert len(onsets.detect_onsets(torch.zeros(11025), 11025)) == 0


def test_long_lists_match_mir_eval_quickly():
    rng = np.random.default_rng(7)
    ref = np.sort(rng.uniform(0, 600, 3000))
    est = np.sort(np.concatenate([ref + rng.normal(0, 0.03, ref.size), rng.uniform(0, 600, 500)]))
    ours = onsets.f_measure(ref, est, tolerance_ms=50)
    assert ours.f1 == pytest.approx(mir_eval.onset.f_measure(ref, est, window=0.05)[0], abs=1e-12)
    assert np.unique(ours.pairs[:, 0]).size == np.unique(ours.pairs[:, 1]).size == len(ours.pairs)
