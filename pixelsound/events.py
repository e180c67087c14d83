"""Events of one moving thing, for Foley cue sheets and sync scores: the impacts of a thing that travels (a
ball, a box) and the note onsets of a thing that moves about a place (an instrument).

* :func:`impact_events` -- every contact of a travelling thing (:mod:`pixelsound.impacts`), at sub-frame
  precision, with a strength in [0, 1] from the change of velocity;
* :func:`instrument_events` -- the onsets of a thing that bounces, swells, tilts or kicks on each note while
  it may also sway and drift: abrupt starts of motion, not smooth ones.

Both take analysis frames (uint8 ``(V, 3, h, w)``) and a region mask ``(h, w)``; times are in seconds, frame
``i`` at ``t0 + i / fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from pixelsound import impacts

IMPACT_SPEED_SCALE = 2.95  # velocity change (frame heights / s) of a hit of strength 1 (a hard drop)
MIN_STRENGTH = 0.03  # strength given to the softest contact (it is still heard)


@dataclass(frozen=True)
class Found:
    """Events of one thing: times (s) ``(E,)`` and strengths in [0, 1] ``(E,)``."""

    times: np.ndarray
    strengths: np.ndarray


def impact_events(
    frames: Tensor, maps: np.ndarray, mask: np.ndarray, fps: float, *, threshold: float, t0: float = 0.0
) -> Found:
    """Every contact of a travelling thing: its centre followed by colour (:func:`impacts.centre_track`),
    contacts where its velocity turns into a surface (:func:`impacts.find_contacts`), strength from the size
    of the velocity change.

    Args:
        frames: analysis frames uint8 ``(V, 3, h, w)``.
        maps: distance to the rest pose ``(V, h, w)`` (:func:`pixelsound.foley.displacement`).
        mask: the thing's region ``(h, w)``.
        fps: frame rate.
        threshold: distance to the rest pose at which a pixel counts as moved.
        t0: time of frame 0.
    """
    track = impacts.centre_track(frames, maps, mask, threshold)
    height = frames.shape[-2]
    found = impacts.find_contacts(track, fps, height, t0)
    times = np.array([c.time for c in found])
    change = np.array([c.change for c in found]) / (IMPACT_SPEED_SCALE * height)
    return Found(times, np.clip(change, MIN_STRENGTH, 1.0))
