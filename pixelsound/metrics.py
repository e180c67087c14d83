"""Separation metrics: BSS-eval SDR / SIR / SAR (as ``mir_eval.separation.bss_eval_sources``) and SI-SDR.

BSS-eval (Vincent, Gribonval, Févotte 2006) splits an estimate into the part explained by 512-tap filters
of its own reference (``P_j``), the extra part explained by filters of all references (``P_all - P_j``,
interference) and the rest (artifacts), then takes energy ratios:

    SDR = |P_j|² / |e - P_j|²     SIR = |P_j|² / |P_all - P_j|²     SAR = |P_all|² / |e - P_all|²

``mir_eval`` builds the Gram matrix and solves the projections once per (estimate, reference) pair. Here
the spectra are taken once, the Gram matrix of the references is built once by indexing one
cross-correlation per reference pair, all projections are batched Cholesky solves with many right-hand
sides, and the energies come from Parseval on the spectra (no inverse FFTs). Estimate sets sharing the
same references are evaluated together, so a model, the mixture and the oracle masks cost one Gram matrix.
Everything runs in float64 torch, on the CPU or on a GPU. Values above ~100 dB (e.g. the SAR of an
estimate lying exactly in the references' span, such as the mixture) are rounding noise here as in
mir_eval.

Silence policy: an all-zero reference raises ``ValueError`` (as ``mir_eval``: the decomposition is
ambiguous). An all-zero estimate raises too by default; with ``silent="nan"`` its SDR / SIR / SAR are NaN
(and it is matched last when a permutation is computed), so a long evaluation can count and skip it.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fft
import torch
from torch import Tensor

FILTER_LENGTH = 512  # distortion filter taps, as bss_eval_sources


def _as_f64(x: np.ndarray | Tensor, name: str) -> Tensor:
    t = torch.as_tensor(x).detach().to(torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"bss_eval: {name} contains NaN or inf")
    return t


def _correlation_lags(a_f: Tensor, b_f: Tensor, n: int, lags: Tensor) -> Tensor:
    """Cross-correlation r[k] = sum_m a[m + k] b[m] at the given lags, from rfft spectra (zero-padded)."""
    return torch.fft.irfft(a_f * b_f.conj(), n=n)[..., lags % n]


def _solve(gram: Tensor, rhs: Tensor) -> Tensor:
    """Solve gram @ x = rhs, batched; gram (..., M, M) symmetric positive definite, rhs (..., M, E).

    Cholesky; where it fails, LU and then least squares for singular systems (mir_eval: LU, then lstsq).
    """
    chol, info = torch.linalg.cholesky_ex(gram)
    if not bool((info != 0).any()):
        return torch.cholesky_solve(rhs, chol)
    g, r = gram.reshape(-1, *gram.shape[-2:]), rhs.reshape(-1, *rhs.shape[-2:])
    x, info = torch.linalg.solve_ex(g, r)
    bad = (info != 0).nonzero().flatten()
    if bad.numel():
        driver = "gelsd" if g.device.type == "cpu" else None
        x[bad] = torch.linalg.lstsq(g[bad], r[bad], driver=driver).solution
    return x.reshape(rhs.shape)


def _energy(spec: Tensor, n: int) -> Tensor:
    """Energy of the real length-n signal whose rfft is spec (Parseval); spec (..., n//2+1) -> (...)."""
    total = 2 * torch.linalg.vector_norm(torch.view_as_real(spec).flatten(-2), dim=-1).square()
    edges = spec[..., 0].abs().square() + (spec[..., -1].abs().square() if n % 2 == 0 else 0)
    return (total - edges) / n


def _projection_energies(ref: Tensor, est: Tensor, flen: int) -> dict[str, Tensor]:
    """Energies of the BSS-eval decomposition of every estimate against every reference.

    Shapes:
        ref (..., N, L), est (..., E, L) -> each energy (..., E, N) [estimate e, reference j]
    """
    n_src, length = ref.shape[-2], ref.shape[-1]
    n = scipy.fft.next_fast_len(length + flen - 1, real=True)
    ref_f = torch.fft.rfft(ref, n=n)  # (..., N, n//2+1)
    est_f = torch.fft.rfft(est, n=n)  # (..., E, n//2+1)
    taps = torch.arange(flen, device=ref.device)
    # Gram matrix of delayed references: G[(i,a),(j,b)] = <s_i(.-a), s_j(.-b)> = r_ij[b - a]
    r = _correlation_lags(
        ref_f[..., :, None, :], ref_f[..., None, :, :], n, torch.arange(-flen + 1, flen, device=ref.device)
    )
    gram = r[..., taps[None, :] - taps[:, None] + flen - 1]  # (..., N, N, flen, flen)
    # right-hand sides: D[e,(i,a)] = <s_i(.-a), e> = r_ie[-a]
    rhs = _correlation_lags(ref_f[..., None, :, :], est_f[..., :, None, :], n, -taps)  # (..., E, N, flen)
    n_est = est.shape[-2]
    # projection on the delays of all references: one system of size N*flen, E right-hand sides
    big = gram.transpose(-3, -2).reshape(*gram.shape[:-4], n_src * flen, n_src * flen)
    coef_all = _solve(big, rhs.reshape(*rhs.shape[:-2], n_src * flen).transpose(-1, -2))  # (..., N*flen, E)
    coef_all = coef_all.transpose(-1, -2).reshape(*rhs.shape)  # (..., E, N, flen)
    p_all = (torch.fft.rfft(coef_all, n=n) * ref_f[..., None, :, :]).sum(-2)  # (..., E, n//2+1)
    # projection on the delays of each reference alone: N systems of size flen, E right-hand sides each
    own = torch.diagonal(gram, dim1=-4, dim2=-3).movedim(-1, -3)  # (..., N, flen, flen)
    coef_own = _solve(own, rhs.movedim(-3, -1))  # (..., N, flen, E)
    p_own = torch.fft.rfft(coef_own.movedim(-1, -3), n=n) * ref_f[..., None, :, :]  # (..., E, N, n//2+1)
    est_f = est_f[..., :, None, :].expand(*est_f.shape[:-2], n_est, n_src, est_f.shape[-1])
    p_all = p_all[..., :, None, :]
    return {
        "target": _energy(p_own, n),
        "distortion": _energy(est_f - p_own, n),
        "interference": _energy(p_all - p_own, n),
        "explained": _energy(p_all, n),
        "artifacts": _energy(est_f - p_all, n),
    }


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.inf, 10 * np.log10(num / den))


def _best_permutation(sir: np.ndarray) -> np.ndarray:
    """The estimate order maximising the mean SIR (first best in itertools order, as mir_eval); sir (E, N).

    Silent estimates (NaN rows) are left out of every mean alike, so they end up matched last.
    """
    n = sir.shape[-1]
    perms = list(itertools.permutations(range(n)))
    scores = []
    for perm in perms:
        values = sir[list(perm), np.arange(n)]
        scores.append(-np.inf if np.isnan(values).all() else np.nanmean(values))
    return np.asarray(perms[int(np.argmax(scores))])


def bss_eval(
    reference: np.ndarray | Tensor,
    estimate: np.ndarray | Tensor,
    compute_permutation: bool = True,
    *,
    filter_length: int = FILTER_LENGTH,
    silent: str = "raise",
) -> dict[str, np.ndarray]:
    """SDR / SIR / SAR in dB, as ``mir_eval.separation.bss_eval_sources`` computes them.

    Args:
        reference: true sources.
        estimate: estimated sources; leading dims hold several estimate sets judged against the same
            references (one Gram matrix for all of them).
        compute_permutation: match estimates to references by the best mean SIR (mir_eval's default); when
            False, estimate n is judged against reference n.
        filter_length: distortion filter taps (512 in bss_eval_sources).
        silent: "raise" (default, as mir_eval) or "nan" for an all-zero estimate (see the module docstring).

    Returns:
        ``{"sdr", "sir", "sar", "perm"}``: numpy arrays; sdr[..., j] scores estimate perm[..., j] against
        reference j.

    Shapes:
        reference (N, L), estimate (..., N, L) -> sdr, sir, sar, perm (..., N)
    """
    ref, est = _as_f64(reference, "reference"), _as_f64(estimate, "estimate")
    _check(ref, est, silent)
    lead = est.shape[:-2]
    est = est.reshape(-1, *est.shape[-2:])  # (S, N, L) estimate sets
    energies = {
        k: v.cpu().numpy() for k, v in _projection_energies(ref, est.flatten(0, 1), filter_length).items()
    }
    energies = {k: v.reshape(est.shape[0], est.shape[1], -1) for k, v in energies.items()}  # (S, E, N)
    sdr = _db(energies["target"], energies["distortion"])
    sir = _db(energies["target"], energies["interference"])
    sar = _db(energies["explained"], energies["artifacts"])
    quiet = (est == 0).all(-1).cpu().numpy()  # (S, E)
    for table in (sdr, sir, sar):
        table[quiet] = np.nan
    n = ref.shape[0]
    if compute_permutation:
        perm = np.stack([_best_permutation(s) for s in sir])  # (S, N)
    else:
        perm = np.tile(np.arange(n), (est.shape[0], 1))
    pick = (np.arange(est.shape[0])[:, None], perm, np.arange(n)[None, :])
    out = {"sdr": sdr[pick], "sir": sir[pick], "sar": sar[pick], "perm": perm}
    return {k: v.reshape(*lead, n) for k, v in out.items()}


def _check(ref: Tensor, est: Tensor, silent: str) -> None:
    if ref.ndim != 2 or est.ndim < 2 or est.shape[-2:] != ref.shape:
        raise ValueError(
            f"bss_eval: reference must be (N, L) and estimate (..., N, L); got {tuple(ref.shape)} "
            f"and {tuple(est.shape)}"
        )
    if ref.shape[0] == 0 or ref.shape[1] == 0:
        raise ValueError(f"bss_eval: empty input {tuple(ref.shape)}")
    if silent not in ("raise", "nan"):
        raise ValueError(f"bss_eval: silent must be 'raise' or 'nan', got {silent!r}")
    quiet_ref = (ref == 0).all(-1)
    if quiet_ref.any():
        raise ValueError(
            f"bss_eval: reference source(s) {quiet_ref.nonzero().flatten().tolist()} are all zeros; "
            "the decomposition is ambiguous (mir_eval refuses them too)"
        )
    if silent == "raise" and (est == 0).all(-1).any():
        raise ValueError("bss_eval: an estimated source is all zeros (pass silent='nan' to score it NaN)")


def sdr(reference: Tensor, estimate: Tensor, filter_length: int = FILTER_LENGTH, chunk: int = 32) -> Tensor:
    """BSS-eval SDR of each estimate against its own reference only, batched (for training validation).

    Equal to ``bss_eval(..., compute_permutation=False)["sdr"]``: SDR needs only the projection on the
    delays of the estimate's own reference, so every (batch, source) pair is an independent small problem.

    Args:
        reference: true sources.
        estimate: estimates, same shape.
        filter_length: distortion filter taps.
        chunk: pairs solved at once (bounds memory: each needs a filter_length² float64 matrix).

    Returns:
        SDR in dB, float64 on the input's device; NaN where the reference or the estimate is all zeros.

    Shapes:
        reference (..., L), estimate (..., L) -> (...)
    """
    if reference.shape != estimate.shape:
        raise ValueError(f"sdr: shapes differ: {tuple(reference.shape)} vs {tuple(estimate.shape)}")
    ref = reference.detach().reshape(-1, reference.shape[-1]).to(torch.float64)
    est = estimate.detach().reshape(-1, estimate.shape[-1]).to(torch.float64)
    value = torch.full(ref.shape[:1], float("nan"), dtype=torch.float64, device=ref.device)
    valid = ((ref != 0).any(-1) & (est != 0).any(-1)).nonzero().flatten()  # silent pairs stay NaN
    for start in range(0, valid.numel(), chunk):
        rows = valid[start : start + chunk]
        energies = _projection_energies(ref[rows, None], est[rows, None], filter_length)  # each (c, 1, 1)
        value[rows] = 10 * torch.log10(energies["target"] / energies["distortion"]).flatten()
    return value.reshape(reference.shape[:-1])


def si_sdr(reference: Tensor, estimate: Tensor, zero_mean: bool = True) -> Tensor:
    """Scale-invariant SDR (Le Roux et al. 2019) in dB.

    Args:
        reference: true sources.
        estimate: estimates, same shape.
        zero_mean: remove each signal's mean first (the paper's definition).

    Returns:
        SI-SDR in dB, float64 (computed in float64); NaN where the reference is all zeros.

    Shapes:
        reference (..., L), estimate (..., L) -> (...)
    """
    if reference.shape != estimate.shape:
        raise ValueError(f"si_sdr: shapes differ: {tuple(reference.shape)} vs {tuple(estimate.shape)}")
    ref, est = reference.detach().to(torch.float64), estimate.detach().to(torch.float64)
    if zero_mean:
        ref, est = ref - ref.mean(-1, keepdim=True), est - est.mean(-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True)
    target = scale * ref
    return 10 * torch.log10(target.square().sum(-1) / (est - target).square().sum(-1))
