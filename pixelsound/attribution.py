"""The model's evidence for scoring: which release scores, and what it sees in a clip.

:func:`scoring_model` resolves a release path, a SoundOfPixels, ``"default"`` or ``"none"`` into a
:class:`LoadedModel` (or None: motion and onsets only); :func:`model_view` runs it over a few windows of a
clip and returns a :class:`ModelView`: per-pixel visual features ``(K, h, w)``, their activity ``(h, w)``
(for the sounding map) and each soundtrack's attribution, the share of its spectrogram energy the
separator's mask gives to this clip. :mod:`pixelsound.score` combines them with motion and onsets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pixelsound import checkpoint, io, windows
from pixelsound.clip import Clip
from pixelsound.frames import pool_clip

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model ready for scoring: the net, its name, and its release's category prototypes (or None)."""

    net: object
    name: str
    prototypes: dict[str, Tensor] | None = None


def scoring_model(model=None) -> LoadedModel | None:
    """A :class:`LoadedModel` from a release path, a SoundOfPixels, None or ``"default"`` (the bundled
    release; when it is absent this warns and returns None: motion and onsets only), or None for
    ``"none"`` (:data:`pixelsound.checkpoint.NO_MODEL`). Loading is :func:`pixelsound.checkpoint.load_model`;
    a path that does not hold a release raises ``CheckpointError`` naming it.
    """
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, str) and model == checkpoint.NO_MODEL:
        return None
    if isinstance(model, str) and model == "default":
        model = None
    if model is None and not (checkpoint.BUNDLED_MODEL / checkpoint.CONFIG_FILE).is_file():
        log.warning("no bundled model at %s: scoring with motion and onsets only", checkpoint.BUNDLED_MODEL)
        return None
    net = checkpoint.load_model(model)
    name = "given model" if isinstance(model, torch.nn.Module) else str(model or checkpoint.BUNDLED_MODEL)
    return LoadedModel(net, name, checkpoint.release_prototypes(model))


@dataclass
class ModelView:
    """What the model says about a clip.

    Attributes:
        features: per-pixel visual features averaged over windows, ``(K, h, w)``.
        activity: ``sum_k |alpha_k| v_k`` min-max normalised, ``(h, w)`` in [0, 1].
        attributions: per soundtrack, ``sum(mask * |X|) / sum(|X|)`` over the windows.
    """

    features: Tensor
    activity: np.ndarray
    attributions: list[float]


@torch.inference_mode()
def model_view(
    net, clip: Clip, duration: float, waves: list[Tensor], sample_rate: int, count: int = 4
) -> ModelView:
    """Per-pixel visual activity and each soundtrack's attributed energy share.

    The clip is cut into at most ``count`` model windows (:func:`pixelsound.windows.spread_starts`); in
    each, the frame net sees ``cfg.frames.num_frames`` frames and the audio net every soundtrack's window (as
    one batch).

    Args:
        net: a SoundOfPixels in eval mode.
        clip: the clip whose frames the frame net sees (:mod:`pixelsound.clip`).
        duration: seconds of clip.
        waves: soundtracks ``(L_i,)`` at ``sample_rate``.
        sample_rate: rate of ``waves``.
        count: most windows analysed.

    Returns:
        :class:`ModelView`.
    """
    cfg = net.cfg
    sr, length, v = cfg.audio.sample_rate, cfg.audio.length, cfg.frames.num_frames
    window_s = length / sr
    waves = [io.resample(w.float(), sample_rate, sr) for w in waves]
    features, kept, total = 0.0, torch.zeros(len(waves)), torch.zeros(len(waves))
    starts = windows.spread_starts(duration, window_s, count)  # (J,) seconds
    for start in starts:
        at = torch.tensor([start], dtype=torch.float64)
        times = windows.frame_times(at, min(window_s, duration), v)[0]  # (V,)
        pixels = net.pixel_features(clip.frames_at(times, cfg.frames.size)[None])  # (1, K, h, w)
        features = features + pixels[0] / len(starts)
        if waves:
            pieces = torch.stack([windows.piece(w, int(round(start * sr)), length) for w in waves])  # (B, L)
            _, mag = net.spectrogram(pieces)  # (B, F, T)
            visual = pool_clip(pixels, cfg.model.pool_top)[:, None].expand(len(waves), 1, -1)  # (B, 1, K)
            mask = torch.sigmoid(net.synthesize(visual, net.encode_audio(mag)))[:, 0]  # (B, F, T)
            kept += (mask * mag).sum((1, 2))
            total += mag.sum((1, 2))
    activity = torch.einsum("k,kyx->yx", net.scale.abs(), features).numpy()  # (h, w)
    span = activity.max() - activity.min()
    activity = (activity - activity.min()) / span if span > 1e-12 else np.zeros_like(activity)
    shares = torch.where(total > 1e-9, kept / total.clamp_min(1e-9), torch.zeros_like(total))
    return ModelView(features, activity, [float(x) for x in shares])
