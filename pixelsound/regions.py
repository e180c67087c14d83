"""What a moving region looks like to the model: analysis frames, the crop around a region, its visual vector.

Shared by Foley (:mod:`pixelsound.spotting` names the objects of a silent video) and the sound bank
(:mod:`pixelsound.bank` describes the sounding thing of each training clip), so both describe things alike:

* :func:`analysis_frames`: frames scaled down for motion analysis (:mod:`pixelsound.events` finds regions on
  them);
* :func:`region_features`: the model's clip vector of a square crop around each region, ``(K,)`` per region;
* :func:`moving_vector`: the vector of the region that moves most in a clip (the whole frame when nothing
  moves);
* :func:`nearest_category`: the release category prototype closest to a vector.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from pixelsound import events
from pixelsound.io import resize_frames

CROP_MARGIN = 1.2  # an object's crop for its visual vector is this much larger than its region's box
VIEWS = 4  # an object's visual vector is the mean clip vector of this many moments spread over the clip


def analysis_frames(frames: Tensor, side: int) -> Tensor:
    """Frames scaled so their longer side is at most ``side``. ``(V, 3, H, W) -> (V, 3, h, w)``."""
    h, w = frames.shape[-2:]
    scale = min(1.0, side / max(h, w))
    return (
        resize_frames(frames, (max(8, round(h * scale)), max(8, round(w * scale)))) if scale < 1 else frames
    )


@torch.inference_mode()
def region_features(model, frames: Tensor, masks: list[np.ndarray]) -> list[Tensor]:
    """Visual vector of each region: the model's clip vector of a square crop around it.

    The crop is CROP_MARGIN times the region's box (moved inside the frame where needed), resized to the
    model's frame size, so each object is seen as training showed things: one instrument filling much of
    the frame; the vector is the mean of the clip vectors of VIEWS moments spread over the clip. (Pooling
    per-pixel features over the region instead gave 6 of 15 solo and 8 of 30 duet instruments the right
    category with the first bundled model (recipe v1); crops gave 14 of 15 and 26 of 30; the margin was
    chosen on a separate data set.)

    Args:
        model: a :class:`pixelsound.model.SoundOfPixels`.
        frames: uint8 ``(V, 3, H, W)``.
        masks: region masks ``(h_a, w_a)`` on any grid with the frames' aspect (scaled to the frames).

    Returns:
        ``(K,)`` per region.
    """
    cfg = model.cfg
    v = cfg.frames.num_frames
    picks = torch.linspace(0, len(frames) - 1, VIEWS * v).round().long()  # VIEWS clips of v frames each
    h, w = frames.shape[-2:]
    out = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        scale = w / mask.shape[1]
        side = min(
            h, w, int(round(max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * scale * CROP_MARGIN))
        )
        y0 = int(np.clip((ys.min() + ys.max() + 1) / 2 * scale - side / 2, 0, h - side))
        x0 = int(np.clip((xs.min() + xs.max() + 1) / 2 * scale - side / 2, 0, w - side))
        crops = resize_frames(frames[picks, :, y0 : y0 + side, x0 : x0 + side], cfg.frames.size)
        views = crops.unflatten(0, (VIEWS, 1, v))  # (VIEWS, 1, V, 3, S, S): a few moments of the clip
        out.append(model.encode_frames(views)[:, 0].mean(0))
    return out


@torch.inference_mode()
def moving_vector(model, frames: Tensor) -> Tensor:
    """Visual vector of a clip's sounding thing: :func:`region_features` of the region that moves most
    (:func:`pixelsound.events.find_tracks` on 128-pixel analysis frames), or of the whole frame when nothing
    moves.

    Shapes:
        frames uint8 ``(V, 3, H, W)`` -> ``(K,)``
    """
    small = analysis_frames(frames, 128)
    tracks = events.find_tracks(small, events.displacement(small), max_objects=1)
    mask = tracks[0].mask if tracks else np.ones(small.shape[-2:], dtype=bool)
    return region_features(model, frames, [mask])[0]


def nearest_category(feature: Tensor, prototypes: dict[str, Tensor]) -> tuple[str, float]:
    """The category whose prototype is closest (cosine) to a visual vector ``(K,)``, and that similarity."""
    names = list(prototypes)
    stacked = torch.stack([prototypes[n].float() for n in names])  # (Y, K)
    sims = torch.nn.functional.cosine_similarity(stacked, feature.float()[None], dim=1)
    best = int(sims.argmax())
    return names[best], float(sims[best])
