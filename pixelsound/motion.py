"""Motion curves and motion events from video frames (pure functions, no model).

Everything here takes uint8 frames ``(V, 3, H, W)`` and the frame rate, and returns numpy arrays:

* :func:`motion_maps` -- per-pixel motion energy of every frame ``(V, H, W)``: the absolute grey-level
  difference to the previous frame (``method="diff"``), a Lucas-Kanade optical-flow magnitude in pixels per
  frame (``method="flow"``), or the difference to the rest pose (``method="displacement"``);
* :func:`motion_curve` / :func:`region_curves` -- the mean of those maps over the whole frame or inside a
  region (a boolean mask ``(H, W)`` or a box ``(x0, y0, x1, y1)`` in pixels), optionally smoothed in time;
* :func:`onset_curve` -- the half-wave rectified rise of a motion curve: sharp where movement *starts*;
* :func:`pick_events` / :func:`motion_events` -- peaks picked with a prominence threshold
  (``scipy.signal.find_peaks``), refined to sub-frame precision, as :class:`Events` (times in s, strengths).

Time convention: value ``i`` of a motion curve measures the change from frame ``i - 1`` to frame ``i``; a
change that first shows in frame ``i`` happened within half a frame of that frame's time (the nearest frame
shows it: frames are snapshots centred on their timestamps, and the instruments builder renders that way), so
the value is placed at :func:`curve_times` ``= t0 + i / fps`` and covers ``(i - 0.5, i + 0.5] / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as fn
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks
from torch import Tensor

Region = np.ndarray | Tensor | tuple[float, float, float, float] | None
GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights
FLOW_MAX_SIDE = 96  # optical flow runs on frames downscaled to at most this side (small motions, cheap)
REST_SAMPLES = 64  # frames whose median is the rest pose (per chunk) for method="displacement"


@dataclass(frozen=True)
class Events:
    """Events found on a curve.

    Attributes:
        times: event times in seconds, increasing, ``(E,)``.
        strengths: curve height at each event (the curve's units), ``(E,)``.
        prominences: how far each peak stands above its surroundings, ``(E,)``.
    """

    times: np.ndarray
    strengths: np.ndarray
    prominences: np.ndarray

    def __len__(self) -> int:
        return len(self.times)

    def to_dict(self) -> dict[str, list[float]]:
        return {
            "times": [round(float(t), 4) for t in self.times],
            "strengths": [round(float(s), 5) for s in self.strengths],
        }


def _check_frames(frames: Tensor | np.ndarray) -> Tensor:
    frames = torch.as_tensor(frames)
    if frames.dim() != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (V, 3, H, W), got {tuple(frames.shape)}")
    if frames.shape[0] < 1:
        raise ValueError("frames: need at least one frame")
    return frames


def grey(frames: Tensor | np.ndarray) -> Tensor:
    """Grey levels in [0, 1]. Shapes: uint8 ``(V, 3, H, W)`` -> float32 ``(V, H, W)``."""
    frames = _check_frames(frames)
    scale = 255.0 if frames.dtype == torch.uint8 or float(frames.max()) > 1.5 else 1.0
    frames = frames.float() / scale
    weights = torch.tensor(GREY, dtype=frames.dtype).view(1, 3, 1, 1)
    return (frames * weights).sum(1)


def _blur(images: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``(V, H, W)`` images (reflect padding)."""
    if sigma <= 0:
        return images
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = images[:, None]  # (V, 1, H, W)
    out = fn.conv2d(fn.pad(out, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    out = fn.conv2d(fn.pad(out, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return out[:, 0]


def _difference_maps(levels: Tensor) -> Tensor:
    """``|I_i - I_{i-1}|`` with frame 0 set to 0. Shapes: ``(V, H, W)`` -> ``(V, H, W)``."""
    out = torch.zeros_like(levels)
    out[1:] = (levels[1:] - levels[:-1]).abs()
    return out


def _flow_maps(levels: Tensor, window: int = 5) -> Tensor:
    """Lucas-Kanade flow magnitude between consecutive frames (pixels/frame at the given resolution).

    Shapes:
        ``(V, H, W)`` -> ``(V, H, W)``, frame 0 set to 0
    """
    out = torch.zeros_like(levels)
    if levels.shape[0] < 2:
        return out
    prev, cur = levels[:-1], levels[1:]  # (V-1, H, W)
    mean = 0.5 * (prev + cur)
    iy, ix = torch.gradient(mean, dim=(1, 2))
    it = cur - prev
    products = torch.stack([ix * ix, ix * iy, iy * iy, ix * it, iy * it], 1)  # (V-1, 5, H, W)
    sums = fn.avg_pool2d(products, window, stride=1, padding=window // 2, count_include_pad=False)
    sxx, sxy, syy, sxt, syt = sums.unbind(1)
    trace = sxx + syy
    det = sxx * syy - sxy * sxy + 1e-4 * trace + 1e-9  # Tikhonov-damped: flat areas give ~0 flow
    u = -(syy * sxt - sxy * syt) / det
    v = -(sxx * syt - sxy * sxt) / det
    out[1:] = torch.sqrt(u * u + v * v)
    return out


def _displacement_maps(levels: Tensor, rest_frames: int) -> Tensor:
    """``|I_i - rest|``, rest the per-pixel median of the frames around (chunks of ``rest_frames``).

    Shapes:
        ``(V, H, W)`` -> ``(V, H, W)``
    """
    out = torch.empty_like(levels)
    for start in range(0, levels.shape[0], rest_frames):
        chunk = levels[start : start + rest_frames]
        pick = torch.linspace(0, len(chunk) - 1, min(len(chunk), REST_SAMPLES)).round().long()
        rest = chunk[pick].median(0).values  # (H, W)
        out[start : start + rest_frames] = (chunk - rest).abs()
    return out


def motion_maps(
    frames: Tensor | np.ndarray, *, method: str = "diff", blur: float = 1.0, rest_frames: int = 240
) -> np.ndarray:
    """Per-pixel motion energy of each frame.

    Args:
        frames: video frames, uint8 ``(V, 3, H, W)``.
        method: ``"diff"``: absolute grey-level difference to the previous frame, in [0, 1] (0 for frame 0);
            ``"flow"``: Lucas-Kanade optical-flow magnitude from the previous frame, in pixels per frame of
            the input resolution (computed on frames downscaled to at most ``FLOW_MAX_SIDE``; 0 for frame 0);
            ``"displacement"``: absolute difference to the rest pose (the per-pixel median of the frames
            around), in [0, 1] -- for things that move about a place (instruments, drums, machines), its
            :func:`onset_curve` rises exactly when a movement starts, not when it returns.
        blur: Gaussian blur (pixels) applied to the grey frames first; damps noise and compression artefacts.
        rest_frames: frames computed at once; for ``"displacement"``, frames sharing one rest pose.

    Returns:
        float32 maps.

    Shapes:
        ``(V, 3, H, W)`` -> ``(V, H, W)``
    """
    if method not in ("diff", "flow", "displacement"):
        raise ValueError(f"motion method must be 'diff', 'flow' or 'displacement', got {method!r}")
    frames = _check_frames(frames)
    out = np.empty((frames.shape[0], *frames.shape[-2:]), dtype=np.float32)  # (V, H, W)
    for start in range(0, frames.shape[0], rest_frames):  # a chunk at a time: memory stays bounded
        lead = 1 if start > 0 and method != "displacement" else 0  # the frame before, for differences
        levels = _blur(grey(frames[start - lead : start + rest_frames]), blur)  # (V, H, W)
        if method == "diff":
            maps = _difference_maps(levels)
        elif method == "displacement":
            maps = _displacement_maps(levels, rest_frames)
        else:
            maps = _flow_at_scale(levels)
        out[start : start + rest_frames] = maps[lead:].numpy()
    return out


def _flow_at_scale(levels: Tensor) -> Tensor:
    """:func:`_flow_maps` on frames downscaled to ``FLOW_MAX_SIDE``, in input-resolution pixels per frame."""
    h, w = levels.shape[-2:]
    factor = min(1.0, FLOW_MAX_SIDE / max(h, w))
    small = levels
    if factor < 1.0:
        small = fn.interpolate(levels[:, None], scale_factor=factor, mode="area")[:, 0]
    flow = _flow_maps(_blur(small, 1.0)) / factor  # back to input-resolution pixels
    if factor < 1.0:
        flow = fn.interpolate(flow[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    return flow


def region_mask(region: Region, height: int, width: int) -> np.ndarray:
    """A boolean ``(H, W)`` mask from ``None`` (whole frame), a box ``(x0, y0, x1, y1)`` or a mask.

    A box is in pixels, ``x1``/``y1`` exclusive; a mask of another size is resized (nearest).
    """
    if region is None:
        return np.ones((height, width), dtype=bool)
    if isinstance(region, (tuple, list)):
        if len(region) != 4:
            raise ValueError(f"a box region is (x0, y0, x1, y1), got {region!r}")
        x0, y0, x1, y1 = (int(round(float(c))) for c in region)
        mask = np.zeros((height, width), dtype=bool)
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    else:
        mask = torch.as_tensor(np.asarray(region)).float()
        if mask.dim() != 2:
            raise ValueError(f"a mask region must be (H, W), got {tuple(mask.shape)}")
        if tuple(mask.shape) != (height, width):
            mask = fn.interpolate(mask[None, None], size=(height, width), mode="nearest")[0, 0]
        mask = mask.numpy() > 0.5
    if not mask.any():
        raise ValueError(f"region {region if isinstance(region, (tuple, list)) else 'mask'} covers no pixel")
    return mask


def smooth(curve: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along the last axis (``sigma`` in samples; 0 leaves the curve as is)."""
    curve = np.asarray(curve, dtype=np.float64)
    return gaussian_filter1d(curve, sigma, axis=-1, mode="nearest") if sigma > 0 else curve


def region_curves(maps: np.ndarray, regions: list, *, smooth_frames: float = 0.0) -> np.ndarray:
    """Mean motion energy inside each region, per frame.

    Args:
        maps: per-pixel motion from :func:`motion_maps`, ``(V, H, W)``.
        regions: masks ``(H, W)``, boxes ``(x0, y0, x1, y1)`` or ``None`` (whole frame).
        smooth_frames: Gaussian smoothing in time (frames).

    Returns:
        ``(R, V)`` float64 curves.
    """
    v, h, w = maps.shape
    masks = np.stack([region_mask(r, h, w) for r in regions]).reshape(len(regions), -1)  # (R, H*W)
    weights = (masks / masks.sum(1, keepdims=True)).astype(maps.dtype)
    curves = weights @ maps.reshape(v, -1).T  # (R, V), no copy of the maps
    return smooth(curves.astype(np.float64), smooth_frames)


def motion_curve(
    frames: Tensor | np.ndarray,
    fps: float,
    *,
    region: Region = None,
    method: str = "diff",
    smooth_s: float = 0.0,
    blur: float = 1.0,
) -> np.ndarray:
    """Motion energy per frame, over the whole frame or inside a region.

    Args:
        frames: uint8 ``(V, 3, H, W)``.
        fps: frame rate (used for ``smooth_s``).
        region: ``None`` (whole frame), a box ``(x0, y0, x1, y1)`` in pixels, or a mask ``(H, W)``.
        method: ``"diff"``, ``"flow"`` or ``"displacement"``, see :func:`motion_maps`.
        smooth_s: Gaussian smoothing in seconds (0: none).
        blur: spatial blur in pixels before measuring motion.

    Returns:
        ``(V,)`` float64; value ``i`` is the motion from frame ``i - 1`` to ``i`` (see :func:`curve_times`).
    """
    maps = motion_maps(frames, method=method, blur=blur)
    return region_curves(maps, [region], smooth_frames=smooth_s * fps)[0]


def onset_curve(curve: np.ndarray) -> np.ndarray:
    """Half-wave rectified rise ``max(0, c_i - c_{i-1})``: peaks where movement starts.

    Shapes:
        ``(..., V)`` -> ``(..., V)``
    """
    curve = np.asarray(curve, dtype=np.float64)
    rise = np.zeros_like(curve)
    rise[..., 1:] = np.maximum(0.0, np.diff(curve, axis=-1))
    return rise


def curve_times(num_frames: int, fps: float, t0: float = 0.0) -> np.ndarray:
    """Time of each motion-curve value: ``t0 + i / fps`` (see the module's time convention). ``-> (V,)``."""
    return t0 + np.arange(num_frames) / fps


def _parabolic(curve: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample offset in [-0.5, 0.5] of each peak from a parabola through it and its neighbours."""
    offsets = np.zeros(len(peaks))
    inner = (peaks > 0) & (peaks < len(curve) - 1)
    p = peaks[inner]
    left, mid, right = curve[p - 1], curve[p], curve[p + 1]
    denom = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / denom, 0.0)
    offsets[inner] = np.clip(off, -0.5, 0.5)
    return offsets


def pick_events(
    curve: np.ndarray,
    rate: float,
    *,
    prominence: float = 0.1,
    min_interval: float = 0.1,
    t0: float = 0.0,
    centre: float = 0.0,
    refine: bool = True,
) -> Events:
    """Peaks of a curve with a prominence threshold relative to the curve's range.

    Args:
        curve: ``(S,)`` values sampled at ``rate`` per second.
        rate: samples per second (video fps for motion curves).
        prominence: a peak must stand this fraction of ``max - min`` above its surroundings.
        min_interval: at least this many seconds between events (the stronger one is kept).
        t0: time of sample 0.
        centre: where sample ``i`` sits relative to ``t0 + i / rate``, in samples (0 for motion curves and
            onset envelopes, see :func:`curve_times`).
        refine: move each peak by parabolic interpolation (sub-sample precision).

    Returns:
        :class:`Events` (empty for a flat curve).
    """
    curve = np.nan_to_num(np.asarray(curve, dtype=np.float64))
    span = float(curve.max() - curve.min()) if curve.size else 0.0
    if curve.size < 3 or span <= 1e-12:
        return Events(np.zeros(0), np.zeros(0), np.zeros(0))
    padded = np.concatenate([[curve.min()], curve, [curve.min()]])  # a peak at either end still counts
    distance = max(1, int(round(min_interval * rate)))
    peaks, props = find_peaks(padded, prominence=prominence * span, distance=distance)
    peaks = peaks - 1
    offsets = _parabolic(curve, peaks) if refine else np.zeros(len(peaks))
    positions = peaks + offsets + centre
    times = t0 + np.maximum(positions, 0.0) / rate
    return Events(times, curve[peaks], props["prominences"])


def motion_events(
    frames: Tensor | np.ndarray,
    fps: float,
    *,
    region: Region = None,
    method: str = "diff",
    prominence: float = 0.1,
    min_interval: float = 0.1,
    t0: float = 0.0,
    use_onsets: bool = True,
) -> Events:
    """When things move: peaks of the (rising) motion curve inside a region.

    Args:
        frames: uint8 ``(V, 3, H, W)``.
        fps: frame rate.
        region: see :func:`motion_curve`.
        method: ``"diff"``, ``"flow"`` or ``"displacement"``.
        prominence: see :func:`pick_events`.
        min_interval: seconds between events at least.
        t0: time of frame 0 (e.g. the first timestamp returned by ``io.read_frames``).
        use_onsets: pick peaks of :func:`onset_curve` (movement starting) rather than of motion itself.

    Returns:
        :class:`Events` with times in seconds and strengths in the curve's units.
    """
    maps = motion_maps(frames, method=method)
    return region_events(
        maps,
        fps,
        region=region,
        prominence=prominence,
        min_interval=min_interval,
        t0=t0,
        use_onsets=use_onsets,
    )


def region_events(
    maps: np.ndarray,
    fps: float,
    *,
    region: Region = None,
    prominence: float = 0.1,
    min_interval: float = 0.1,
    t0: float = 0.0,
    use_onsets: bool = True,
) -> Events:
    """:func:`motion_events` from motion maps already computed (several regions of one clip share them).

    Shapes:
        maps ``(V, H, W)`` from :func:`motion_maps` -> Events ``(E,)``
    """
    curve = region_curves(maps, [region])[0]  # (V,)
    if use_onsets:
        if len(curve) > 1 and not maps[0].any():  # "diff" and "flow" measure nothing at frame 0: it holds
            curve[0] = curve[1]  # frame 1's, so a movement under way when the clip starts is not a rise
        curve = onset_curve(curve)
    return pick_events(curve, fps, prominence=prominence, min_interval=min_interval, t0=t0)
