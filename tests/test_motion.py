"""Motion curves and events on synthetic frames: a square that jumps at known frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixelsound import motion


def jumping_square(num_frames: int, jumps: list[int], size: int = 48, side: int = 10) -> torch.Tensor:
    """uint8 (V, 3, H, W): a white square on grey that moves 8 px right at each frame in ``jumps``."""
    frames = torch.full((num_frames, 3, size, size), 60, dtype=torch.uint8)
    x = 4
    for i in range(num_frames):
        if i in jumps:
            x += 8
        frames[i, :, 10 : 10 + side, x : x + side] = 230
    return frames


def test_diff_events_at_jump_frames():
    fps = 10.0
    jumps = [5, 12, 20, 27]
    frames = jumping_square(32, jumps)
    events = motion.motion_events(frames, fps, use_onsets=False)
    expected = np.array(jumps) / fps  # a change first seen in frame i is placed at frame i's time
    assert len(events) == len(jumps)
    np.testing.assert_allclose(events.times, expected, atol=0.5 / fps)
    assert (events.strengths > 0).all()


def test_flow_events_and_magnitude():
    fps = 12.0
    jumps = [4, 11, 19]
    frames = jumping_square(24, jumps, size=40, side=12)
    maps = motion.motion_maps(frames, method="flow")
    assert maps.shape == (24, 40, 40)
    curve = maps.reshape(24, -1).max(1)
    assert set(np.argsort(curve)[-3:]) == set(jumps)
    events = motion.motion_events(frames, fps, method="flow", use_onsets=False)
    np.testing.assert_allclose(events.times, np.array(jumps) / fps, atol=0.5 / fps)


def test_region_sees_only_its_own_motion():
    frames = jumping_square(20, [6, 14], size=48)
    frames[:, :, 30:40, 30:40] = 0
    frames[9:, :, 30:40, 30:40] = 255  # a patch that flips once, at frame 9
    inside = motion.motion_curve(frames, 10.0, region=(28, 28, 42, 42))
    top = motion.motion_curve(frames, 10.0, region=(0, 0, 48, 26))
    assert int(np.argmax(inside)) == 9 and inside[6] == pytest.approx(0.0, abs=1e-6)
    assert top[9] == pytest.approx(0.0, abs=1e-6) and top[6] > 0
    mask = np.zeros((24, 24), dtype=bool)
    mask[14:21, 14:21] = True  # same patch as a half-resolution mask
    np.testing.assert_allclose(motion.motion_curve(frames, 10.0, region=mask).argmax(), 9)
    curves = motion.region_curves(motion.motion_maps(frames), [None, (28, 28, 42, 42)])
    assert curves.shape == (2, 20)


def test_prominence_rejects_small_wiggles_and_flat_curves():
    curve = np.zeros(50)
    curve[[10, 30]] = 1.0
    curve[20] = 0.05
    events = motion.pick_events(curve, 10.0, prominence=0.1, centre=0.0, refine=False)
    np.testing.assert_allclose(events.times, [1.0, 3.0])
    assert len(motion.pick_events(np.ones(20), 10.0)) == 0
    assert motion.onset_curve(np.array([0.0, 1.0, 0.5, 2.0])).tolist() == [0.0, 1.0, 0.0, 1.5]


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="V, 3, H, W"):
        motion.motion_maps(torch.zeros(4, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="covers no pixel"):
        motion.region_mask((50, 50, 60, 60), 16, 16)
    with pytest.raises(ValueError, match="method"):
        motion.motion_maps(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), method="magic")


@pytest.mark.parametrize("method", ["diff", "flow"])
def test_chunked_maps_equal_whole(method):
    frames = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (30, 3, 20, 24), dtype=np.uint8))
    whole = motion.motion_maps(frames, method=method, rest_frames=1000)
    np.testing.assert_array_equal(motion.motion_maps(frames, method=method, rest_frames=7), whole)


def test_a_movement_under_way_when_the_clip_starts_is_not_an_onset():
    """The square jumps on every frame from the start, then rests and starts again at frame 14: one onset."""
    frames = jumping_square(20, [1, 2, 3, 4, 14, 15], size=96)
    for method in ("diff", "flow"):
        events = motion.motion_events(frames, 10.0, method=method)
        np.testing.assert_allclose(events.times, [1.4], atol=0.05, err_msg=method)
