"""Offsets and sync between visual events and audio onsets (pure functions on event times).

Visual events (impacts, note onsets: :mod:`pixelsound.events`) and audio onsets (:mod:`pixelsound.onsets`)
are both known to a few ms, so sync is judged on the events themselves rather than on curves binned per
frame:

* :func:`match_strength` -- how well two event lists agree at a lag: every pair that is each other's nearest
  (one to one) adds ``exp(-d^2 / 2 sigma^2)`` for its time difference ``d``: a soft count of matches;
* :func:`lag_sweep` -- that soft count over every lag of a sweep (1 ms steps);
* :func:`estimate_offset` -- the lag of the sweep with the most matches, less one for every visual event
  that the audio meets with silence at that lag (:func:`unheard`: with a periodic rhythm every beat shift
  matches about as well, but only the true lag leaves no event where the soundtrack is silent, e.g. before
  a delayed soundtrack starts); where several lags still match about as well, the one nearest zero among
  them; then refined to sub-frame precision by the mean time difference of its matched pairs; with a
  confidence (how far the chosen lag stands above the best lag of another beat);
* :func:`soft_f1` -- the soft count at one lag over the mean number of events: a sync score in [0, 1] that
  drops as soon as the audio is shifted by more than a few ``sigma``.

When there are too few events to match, the offset comes from the curves instead: :func:`curve_lag_sweep`
correlates the motion curve (one value per frame) with the audio's onset envelope summed over each frame's
interval (:func:`binned_envelope`) at every lag, and :func:`curve_offset` takes the best lag, refined by a
parabola through the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixelsound.onsets import Envelope

SIGMA_S = 0.012  # width of the match kernel: events and onsets are both known to a few ms
STEP_S = 0.001  # lag sweep resolution
TIE = 0.03  # lags whose soft count is within this share of the best count the sweep as well
MIN_SEPARATION_S = 0.06  # two lags closer than this are one peak of the sweep
SILENCE_DB = -50.0  # audio this far below its loudest hop is silence
HEARD_S = (0.04, 0.08)  # a sounding event leaves no silence from 40 to 80 ms after it (attack, timing error)


@dataclass(frozen=True)
class Offset:
    """An offset estimate.

    Attributes:
        offset_ms: audio delay relative to the video events in ms (positive: the audio comes late); NaN when
            either list is empty.
        confidence: in [0, 1]: 1 - (soft count of the best lag of another beat) / (soft count of the chosen
            lag); 0 when another lag matches as well.
        matches: soft count of matches at the chosen lag.
    """

    offset_ms: float
    confidence: float
    matches: float


def sigma_for(fps: float) -> float:
    """Match kernel width (s) for visual events from video at ``fps``: their sub-frame times are good to
    about a third of a frame, audio onsets to a few ms."""
    return max(SIGMA_S, 0.3 / fps + 0.004)


def _nearest(sorted_times: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index of the nearest value of ``sorted_times (n,)`` to each query ``(..., m)``."""
    right = np.clip(np.searchsorted(sorted_times, query), 1, len(sorted_times) - 1)
    left = right - 1
    return np.where(np.abs(query - sorted_times[left]) <= np.abs(sorted_times[right] - query), left, right)


def match_strength(
    video: np.ndarray, audio: np.ndarray, lags: np.ndarray | float = 0.0, sigma: float = SIGMA_S
) -> np.ndarray:
    """Soft one-to-one match count of video events and audio onsets moved back by each lag.

    A pair counts when each is the other's nearest (mutual nearest neighbours: one to one), weighted by
    ``exp(-d^2 / (2 sigma^2))`` of its time difference.

    Args:
        video: event times (s) ``(n,)``.
        audio: onset times (s) ``(m,)``.
        lags: audio delays to try (s) ``(n_lags,)`` or a float.
        sigma: kernel width (s).

    Returns:
        ``(n_lags,)`` soft counts (a float array of one value for a float lag).
    """
    video = np.sort(np.asarray(video, dtype=np.float64).ravel())
    audio = np.sort(np.asarray(audio, dtype=np.float64).ravel())
    lags = np.atleast_1d(np.asarray(lags, dtype=np.float64))
    if len(video) < 1 or len(audio) < 1:
        return np.zeros(len(lags))
    if len(video) == 1 or len(audio) == 1:  # one event: its nearest is the only candidate
        video, audio = np.concatenate([video, [1e9]]), np.concatenate([audio, [-1e9]])
    moved = audio[None, :] - lags[:, None]  # (n_lags, m): audio onsets moved back
    to_audio = _nearest(video, moved)  # (n_lags, m): nearest video event of each onset
    d = video[to_audio] - moved  # (n_lags, m)
    back = _nearest(audio, video[to_audio] + lags[:, None])  # (n_lags, m): nearest onset of that event
    mutual = back == np.arange(moved.shape[1])[None, :]
    return np.where(mutual, np.exp(-0.5 * (d / sigma) ** 2), 0.0).sum(1)


def lag_sweep(
    video: np.ndarray, audio: np.ndarray, *, max_lag_s: float = 2.0, sigma: float = SIGMA_S
) -> tuple[np.ndarray, np.ndarray]:
    """Soft match count at every lag from ``-max_lag_s`` to ``+max_lag_s`` in STEP_S steps.

    Returns:
        ``(lags (n_lags,), counts (n_lags,))``.
    """
    steps = int(round(max_lag_s / STEP_S))
    lags = np.arange(-steps, steps + 1) * STEP_S
    return lags, match_strength(video, audio, lags, sigma)


def _peaks(counts: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of a sweep, at least MIN_SEPARATION_S apart (the higher kept)."""
    inner = np.flatnonzero((counts[1:-1] >= counts[:-2]) & (counts[1:-1] > counts[2:])) + 1
    keep: list[int] = []
    for i in inner[np.argsort(-counts[inner], kind="stable")]:
        if all(abs(i - j) * STEP_S >= MIN_SEPARATION_S for j in keep):
            keep.append(int(i))
    return np.array(sorted(keep), dtype=int)


def loudness(wave: np.ndarray, sample_rate: int, hop_s: float = 0.01) -> Envelope:
    """RMS of a waveform per hop (channels averaged), for :func:`unheard`.

    Shapes:
        ``(L,)`` or ``(C, L)`` -> values ``(L // hop,)``; value ``i`` covers samples ``[i hop, (i + 1) hop)``.
    """
    mono = np.asarray(wave, dtype=np.float64)
    mono = mono.mean(0) if mono.ndim == 2 else mono.ravel()
    hop = max(1, int(round(hop_s * sample_rate)))
    count = len(mono) // hop
    rms = np.sqrt((mono[: count * hop].reshape(count, hop) ** 2).mean(1))  # (count,)
    return Envelope(rms, sample_rate / hop, 0.5 / (sample_rate / hop))


def unheard(video: np.ndarray, lags: np.ndarray, level: Envelope, frame_s: float = 0.0) -> np.ndarray:
    """How many visual events the audio, delayed by each lag, meets with silence.

    An event at ``t`` is unheard at lag ``tau`` when ``t + tau`` lies inside the audio and every hop of
    ``level`` from ``HEARD_S[0] - frame_s`` to ``HEARD_S[1]`` after it is SILENCE_DB below the loudest hop
    (a sound made then would still ring; a motion seen in a frame may follow its sound by up to a frame);
    an event whose audio time falls outside the soundtrack is not judged.

    Args:
        video: event times (s) ``(n,)``.
        lags: audio delays (s) ``(R,)``.
        level: the audio's loudness (:func:`loudness`).
        frame_s: the video's frame period (s): how much earlier than its event a sound may have started.

    Returns:
        ``(R,)`` counts.
    """
    values = np.asarray(level.values, dtype=np.float64)
    if not len(values) or values.max() <= 0:
        return np.zeros(len(lags))
    loud = np.concatenate([[0], np.cumsum(values > values.max() * 10 ** (SILENCE_DB / 20))])  # (T + 1,)
    t = np.asarray(video, dtype=np.float64).ravel()[None, :] + np.asarray(lags)[:, None]  # (R, n)
    start = level.t0 - 0.5 / level.rate
    first = np.clip(np.floor((t + HEARD_S[0] - frame_s - start) * level.rate), 0, len(values)).astype(int)
    last = np.clip(np.ceil((t + HEARD_S[1] - start) * level.rate), 0, len(values)).astype(int)
    silent = (loud[last] == loud[first]) & (last > first)  # (R, n); past the audio's end the window is empty
    return ((t >= start) & silent).sum(1).astype(np.float64)


def estimate_offset(
    video: np.ndarray,
    audio: np.ndarray,
    *,
    max_lag_s: float = 2.0,
    sigma: float = SIGMA_S,
    level: Envelope | None = None,
    judged_from: float = -np.inf,
    frame_s: float = 0.0,
) -> Offset:
    """Audio delay from the whole sweep (see the module docstring).

    Args:
        video: visual event times (s) ``(n,)``.
        audio: audio onset times (s) ``(m,)``.
        max_lag_s: largest delay searched, either way.
        sigma: kernel width (s).
        level: the audio's loudness (:func:`loudness`); None: silence is not used.
        judged_from: visual events before this time (s) are not judged by silence (those of a clip's first
            frames are the least sure).
        frame_s: the video's frame period (s), see :func:`unheard`.

    Returns:
        :class:`Offset`.
    """
    lags, counts = lag_sweep(video, audio, max_lag_s=max_lag_s, sigma=sigma)
    peaks = _peaks(counts)
    if not len(peaks) or counts[peaks].max() <= 0:
        return Offset(float("nan"), 0.0, 0.0)
    evidence = counts[peaks]  # (P,): matches, less the events met by silence
    if level is not None:
        video = np.asarray(video, dtype=np.float64)
        evidence = evidence - unheard(video[video >= judged_from], lags[peaks], level, frame_s)
    best = evidence.max()
    tied = evidence >= best - TIE * abs(best)
    pick = int(np.flatnonzero(tied)[np.argmin(np.abs(lags[peaks[tied]]))])
    others = np.delete(evidence, pick)
    scale = max(counts[peaks[pick]], 1e-9)
    confidence = (evidence[pick] - float(others.max())) / scale if len(others) else 1.0
    offset = refine(video, audio, float(lags[peaks[pick]]), sigma)
    return Offset(offset * 1000.0, float(np.clip(confidence, 0.0, 1.0)), float(counts[peaks[pick]]))


def refine(video: np.ndarray, audio: np.ndarray, lag: float, sigma: float = SIGMA_S) -> float:
    """A lag refined below the sweep step: moved by the kernel-weighted mean time difference of the pairs
    near ``lag`` (one mean-shift step)."""
    video = np.sort(np.asarray(video, dtype=np.float64))
    audio = np.sort(np.asarray(audio, dtype=np.float64))
    if len(video) < 2 or len(audio) < 1:
        return lag
    moved = audio - lag
    d = video[_nearest(video, moved)] - moved  # (m,)
    w = np.exp(-0.5 * (d / sigma) ** 2)
    return lag - float((w * d).sum() / w.sum()) if w.sum() > 1e-9 else lag


def soft_f1(video: np.ndarray, audio: np.ndarray, lag: float = 0.0, sigma: float = SIGMA_S) -> float:
    """Soft match count at ``lag`` over the mean number of events, in [0, 1] (0 when either is empty)."""
    n, m = len(np.ravel(video)), len(np.ravel(audio))
    if not n or not m:
        return 0.0
    return float(2 * match_strength(video, audio, lag, sigma)[0] / (n + m))


# ------------------------------------------------------------------------------ offsets from curves


def binned_envelope(env: Envelope, edges: np.ndarray) -> np.ndarray:
    """Onset strength summed over time intervals (each envelope value spread over its own hop).

    Args:
        env: onset envelope.
        edges: interval edges in seconds, increasing along the last axis, ``(..., V + 1)``.

    Returns:
        ``(..., V)`` sums; intervals outside the audio get 0.
    """
    half = 0.5 / env.rate
    knots = np.concatenate([[env.t0 - half], env.times() + half])  # (T + 1,)
    cumulative = np.concatenate([[0.0], np.cumsum(env.values)])  # (T + 1,)
    return np.diff(np.interp(edges, knots, cumulative), axis=-1)


def frame_edges(num_frames: int, fps: float, t0: float = 0.0) -> np.ndarray:
    """Edges of the intervals of motion-curve values: value i spans ``t0 + (i -+ 0.5) / fps``. ``(V+1,)``."""
    return t0 + (np.arange(num_frames + 1) - 0.5) / fps


def _masked_correlation(curve: np.ndarray, rows: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``curve (V,)`` with each row of ``rows (n_lags, V)`` over its ``valid`` entries.

    Each correlation is weighted by ``sqrt(valid share)`` (the Fisher z of a correlation grows with the square
    root of its sample count), so that a short overlap at an extreme lag does not beat a full one by chance.
    Rows with fewer than 4 valid entries, or flat ones, get 0. Returns ``(n_lags,)``.
    """
    w = valid.astype(np.float64)  # (n_lags, V)
    count = np.maximum(w.sum(1, keepdims=True), 1.0)
    a = curve[None, :] - (w * curve[None, :]).sum(1, keepdims=True) / count  # (n_lags, V)
    b = rows - (w * rows).sum(1, keepdims=True) / count
    num = (w * a * b).sum(1)
    denom = np.sqrt((w * a * a).sum(1) * (w * b * b).sum(1))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.where(denom > 1e-12, num / denom, 0.0)
    share = np.sqrt(w.sum(1) / max(1, w.shape[1]))
    return np.where(count[:, 0] >= 4, corr * share, 0.0)


def curve_lag_sweep(
    motion_curve: np.ndarray,
    fps: float,
    env: Envelope,
    *,
    max_lag_s: float = 2.0,
    t0: float = 0.0,
    power: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of the motion curve with the audio onset envelope delayed by each lag.

    For lag ``tau`` the envelope is summed over each frame's interval shifted by ``tau`` and correlated with
    the motion curve over the frames whose shifted interval lies inside the audio (frame 0, which has no
    motion value, is left out), weighted by the square root of the share of frames inside. Lags step by one
    envelope hop. Both curves are raised to ``power`` first (0.5: a few loud events do not dominate; measured
    on generated clips, it put 100 % of offsets within a frame against 97 % without).

    Args:
        motion_curve: ``(V,)`` from :func:`pixelsound.motion.motion_curve` (or its
            :func:`~pixelsound.motion.onset_curve`).
        fps: the curve's frame rate.
        env: the audio's onset envelope (same clock: time 0 is the video's time 0).
        max_lag_s: lags from ``-max_lag_s`` to ``+max_lag_s``.
        t0: time of frame 0.
        power: compression exponent applied to both curves.

    Returns:
        ``(lags, corr)``: lags in seconds ``(n_lags,)`` and weighted Pearson correlations ``(n_lags,)``.
    """
    steps = int(round(max_lag_s * env.rate))
    lags = np.arange(-steps, steps + 1) / env.rate  # (n_lags,)
    edges = frame_edges(len(motion_curve), fps, t0)[None, :] + lags[:, None]  # (n_lags, V + 1)
    binned = binned_envelope(
        Envelope(np.maximum(env.values, 0.0) ** power, env.rate, env.t0), edges
    )  # (n_lags, V)
    start, end = env.t0 - 0.5 / env.rate, env.t0 + (len(env.values) - 0.5) / env.rate
    valid = (edges[:, :-1] >= start - 1e-9) & (edges[:, 1:] <= end + 1e-9)  # (n_lags, V)
    curve = np.maximum(np.asarray(motion_curve, dtype=np.float64), 0.0) ** power
    return lags, _masked_correlation(curve[1:], binned[:, 1:], valid[:, 1:])


def curve_offset(
    motion_curve: np.ndarray, fps: float, env: Envelope, *, max_lag_s: float = 2.0, t0: float = 0.0
) -> tuple[float, float]:
    """Audio delay relative to the motion, by a lag sweep with parabolic refinement of the peak.

    Returns:
        ``(offset_ms, peak_correlation)``; offset positive when the audio comes late, NaN (and correlation 0)
        when either curve is flat.
    """
    lags, corr = curve_lag_sweep(motion_curve, fps, env, max_lag_s=max_lag_s, t0=t0)
    if not np.any(corr != 0):
        return float("nan"), 0.0
    k = int(np.argmax(corr))
    shift = 0.0
    if 0 < k < len(corr) - 1:
        left, mid, right = corr[k - 1 : k + 2]
        denom = left - 2 * mid + right
        shift = float(np.clip(0.5 * (left - right) / denom, -0.5, 0.5)) if abs(denom) > 1e-12 else 0.0
    step = lags[1] - lags[0] if len(lags) > 1 else 0.0
    return float((lags[k] + shift * step) * 1000.0), float(corr[k])
