"""BSS-eval agrees with mir_eval; SDR and SI-SDR behave as their definitions say."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
import torch

from pixelsound.metrics import bss_eval, sdr, si_sdr

mir_eval_separation = pytest.importorskip("mir_eval.separation")

TOL_DB = 0.01


def _mir_eval(ref: np.ndarray, est: np.ndarray, perm: bool) -> tuple[np.ndarray, ...]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval.separation is deprecated upstream
        return mir_eval_separation.bss_eval_sources(ref, est, compute_permutation=perm)


def _notes(n: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Band-limited harmonic notes with decaying envelopes, like resampled instrument audio; (N, L)."""
    sr = 4 * 8000
    t = np.arange(4 * length) / sr
    out = []
    for i in range(n):
        f0 = 180.0 * 1.26**i
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) * 0.7**k for k in range(1, 12))
        x = x * np.exp(-4 * (t % 0.3)) + 1e-3 * rng.standard_normal(t.size)
        out.append(scipy.signal.resample_poly(x, 1, 4))
    return np.stack(out)


def _masked(ref: np.ndarray, kind: str) -> np.ndarray:
    """Estimates from ideal binary / ratio masks on the mixture STFT; (N, L)."""
    _, _, spec = scipy.signal.stft(ref, nperseg=256, noverlap=192)
    mags = np.abs(spec)
    if kind == "binary":
        mask = (mags == mags.max(0, keepdims=True)).astype(float)
    else:
        mask = mags / np.maximum(mags.sum(0, keepdims=True), 1e-12)
    _, est = scipy.signal.istft(mask * spec.sum(0), nperseg=256, noverlap=192)
    return est[:, : ref.shape[1]]


def _assert_agrees(ref: np.ndarray, est: np.ndarray, perm: bool) -> dict[str, np.ndarray]:
    want = _mir_eval(ref, est, perm)
    got = bss_eval(ref, est, compute_permutation=perm)
    np.testing.assert_array_equal(got["perm"], want[3])
    for name, value in zip(("sdr", "sir", "sar"), want[:3], strict=True):
        np.testing.assert_allclose(got[name], value, atol=TOL_DB, rtol=0, err_msg=name)
    return got


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("perm", [True, False])
def test_bss_eval_agrees_with_mir_eval_on_random_signals(n: int, perm: bool) -> None:
    rng = np.random.default_rng(n)
    ref = rng.standard_normal((n, 3000))
    leak = rng.uniform(0.05, 0.6, (n, n)) + np.eye(n)
    est = leak @ ref + 0.1 * rng.standard_normal((n, 3000))
    est[0] = np.convolve(est[0], [0.6, 0.3, 0.1])[:3000]  # some filtering distortion
    _assert_agrees(ref, est[::-1].copy(), perm)


@pytest.mark.parametrize("n", [2, 3])
def test_bss_eval_agrees_with_mir_eval_on_realistic_signals(n: int) -> None:
    rng = np.random.default_rng(10 + n)
    ref = _notes(n, 4000, rng)
    for kind in ("binary", "ratio"):
        got = _assert_agrees(ref, _masked(ref, kind), perm=False)
        assert np.all(got["sdr"] > 3), (kind, got["sdr"])
    noisy = ref[::-1] + 0.3 * ref + 0.01 * rng.standard_normal(ref.shape)
    _assert_agrees(ref, noisy, perm=n == 2)  # N=3 permutations: covered on random signals


def test_permutation_recovers_shuffled_estimates() -> None:
    rng = np.random.default_rng(3)
    ref = rng.standard_normal((3, 2000))
    est = ref + 0.2 * rng.standard_normal((3, 2000))
    order = np.array([2, 0, 1])
    shuffled = bss_eval(ref, est[order])
    straight = bss_eval(ref, est, compute_permutation=False)
    assert list(order[shuffled["perm"]]) == [0, 1, 2]
    np.testing.assert_allclose(shuffled["sdr"], straight["sdr"], atol=1e-9)
    wrong = bss_eval(ref, est[order], compute_permutation=False)
    assert np.all(wrong["sdr"] < 0) and np.all(straight["sdr"] > 10)


def test_estimate_sets_batch_like_one_at_a_time() -> None:
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((2, 1500))
    sets = ref + rng.standard_normal((3, 2, 2, 1500))  # (3, 2) estimate sets of (N, L)
    batched = bss_eval(ref, sets, compute_permutation=True)
    assert batched["sdr"].shape == (3, 2, 2)
    one = bss_eval(ref, sets[1, 0])
    for name in ("sdr", "sir", "sar", "perm"):
        np.testing.assert_allclose(batched[name][1, 0], one[name], atol=1e-9)


def test_perfect_estimate_and_mixture_bound() -> None:
    rng = np.random.default_rng(5)
    ref = _notes(2, 4000, rng)
    perfect = bss_eval(ref, ref, compute_permutation=False)
    assert np.all(perfect["sdr"] > 100)
    mixture = bss_eval(ref, np.stack([ref.sum(0)] * 2), compute_permutation=False)
    assert np.all(np.abs(mixture["sdr"]) < 6)  # two comparable sources: about 0 dB


def test_silent_inputs_follow_the_policy() -> None:
    rng = np.random.default_rng(6)
    ref = rng.standard_normal((2, 1000))
    est = ref + 0.1 * rng.standard_normal((2, 1000))
    with pytest.raises(ValueError, match="reference source"):
        bss_eval(np.stack([ref[0], np.zeros(1000)]), est)
    quiet = np.stack([est[0], np.zeros(1000)])
    with pytest.raises(ValueError, match="all zeros"):
        bss_eval(ref, quiet)
    got = bss_eval(ref, quiet, silent="nan")
    assert np.isnan(got["sdr"][1]) and np.isfinite(got["sdr"][0]) and list(got["perm"]) == [0, 1]
    with pytest.raises(ValueError, match="NaN"):
        bss_eval(ref, est * np.nan)
    with pytest.raises(ValueError, match="shape|must be"):
        bss_eval(ref, est[:, :-1])


def test_fast_sdr_equals_bss_eval_sdr() -> None:
    rng = np.random.default_rng(7)
    ref = _notes(2, 3000, rng)
    est = ref + 0.3 * ref[::-1] + 0.02 * rng.standard_normal(ref.shape)
    want = _mir_eval(ref, est, perm=False)[0]
    batch = torch.tensor(np.stack([est, ref + 0.5 * rng.standard_normal(ref.shape)]))  # (B, N, L)
    refs = torch.tensor(np.stack([ref, ref]))
    got = sdr(refs, batch, chunk=3)
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got[0].numpy(), want, atol=TOL_DB)
    np.testing.assert_allclose(got[1].numpy(), bss_eval(ref, batch[1].numpy(), False)["sdr"], atol=1e-6)
    refs[1, 0] = 0
    assert torch.isnan(sdr(refs, batch)[1, 0])


def test_si_sdr_known_values() -> None:
    gen = torch.Generator().manual_seed(8)
    ref = torch.randn(4, 8000, generator=gen)
    assert torch.all(si_sdr(ref, 0.3 * ref) > 100)
    noise = torch.randn(4, 8000, generator=gen)
    noise = (
        noise - (noise * ref).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True) * ref
    )  # orthogonal
    noise = noise * ref.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True)  # 0 dB SNR
    got = si_sdr(ref, ref + noise, zero_mean=False)
    torch.testing.assert_close(got, torch.zeros(4, dtype=torch.float64), atol=1e-4, rtol=0)
    plain = si_sdr(ref, ref + torch.randn(4, 8000, generator=gen))  # random noise, 0 dB on average
    assert torch.all(plain.abs() < 0.5)
    assert si_sdr(ref[:1], -2 * ref[:1] + 0.1 * ref[1:2]).item() == pytest.approx(
        si_sdr(ref[:1], ref[:1] - 0.05 * ref[1:2]).item(), abs=1e-6
    )
    with pytest.raises(ValueError, match="shapes"):
        si_sdr(ref, ref[:, :-1])
