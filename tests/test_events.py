"""Varied clips (pixelsound.varied), impacts from trajectories (pixelsound.impacts / events)."""

from __future__ import annotations

import numpy as np
import torch

from pixelsound import events, foley, impacts, onsets, varied

SMALL = varied.VariedConfig(seconds=3.0, fps=25.0, size=96)


def bouncing_track(fps: float, g: float, e: float, seconds: float) -> tuple[np.ndarray, list[float]]:
    """Centre ``(x, y)`` per frame of a dropped ball bouncing to rest, then thrown from rest (not a contact),
    and its contact times. Image y grows downwards; the floor is y = 100."""
    t_all = np.arange(int(seconds * fps)) / fps
    contacts, pieces = [], []  # pieces: (start, y0, v0 (down +), x0)
    t, v = 0.0, 0.0
    fall = np.sqrt(2 * 60 / g)
    pieces.append((0.0, 40.0, 0.0))
    t, v = fall, g * fall * e
    contacts.append(fall)
    while v > 40:  # the last hop rises 2 px for 0.2 s
        pieces.append((t, 100.0, -v))
        t += 2 * v / g
        contacts.append(t)
        v *= e
    pieces.append((t, 100.0, 0.0))  # rest
    throw = t + 0.4
    pieces.append((throw, 100.0, -0.6 * g))  # thrown up again: its first landing is a contact
    contacts.append(throw + 1.2)
    y = np.empty_like(t_all)
    for k, tt in enumerate(t_all):
        start, y0, v0 = [p for p in pieces if p[0] <= tt][-1]
        rest = (v0 == 0.0 and y0 == 100.0) or tt >= throw + 1.2
        dt = tt - start
        y[k] = 100.0 if rest else min(100.0, y0 + v0 * dt + g * dt * dt / 2)
    x = 50 + 3 * t_all
    return np.stack([x, y], 1), [c for c in contacts if c < seconds - 0.1]


def test_contacts_from_trajectory_are_sub_frame_and_skip_throws():
    rng = np.random.default_rng(0)
    track, truth = bouncing_track(25.0, 400.0, 0.6, 4.0)
    track = track + rng.normal(0, 0.05, track.shape)
    found = impacts.find_contacts(track, 25.0, 160)
    times = np.array([c.time for c in found])
    match = onsets.f_measure(np.array(truth), times, 10.0)  # within a quarter of a frame
    assert match.f1 == 1.0, (truth, times)
    assert abs(match.mean_error_ms) < 3.0
    speeds = [c.speed for c in found]
    assert speeds[0] > speeds[1] > speeds[2]  # each rebound is slower


def test_contacts_of_a_path_drawn_at_whole_pixels_are_not_noise():
    # a sprite pasted at whole pixels moves 0 or 1 px more per frame in flight; with the ball at rest for
    # a long time, a median-based gravity and noise made every such step a contact, or none a contact
    for g in (400.0, 600.0):
        track, truth = bouncing_track(25.0, g, 0.6, 4.0)
        times = np.array([c.time for c in impacts.find_contacts(np.round(track), 25.0, 160)])
        match = onsets.f_measure(np.array(truth), times, 20.0)
        assert match.precision == 1.0 and len(match.pairs) >= 3, (g, truth, times)
        assert {0, 1} <= set(match.pairs[:, 0].tolist())  # the drop and the first rebound


def test_varied_clips_are_pure_and_consistent():
    a, b = varied.impact_clip(3, 1, SMALL), varied.impact_clip(3, 1, SMALL)
    assert torch.equal(a.frames, b.frames) and torch.equal(a.audio, b.audio)
    assert a.frames.shape == (75, 3, 96, 96) and a.audio.shape == (2, 3 * SMALL.sample_rate)
    for obj in a.sidecar["objects"]:
        assert np.all(np.diff(obj["onsets"]) > 0) and obj["material"] in varied.MATERIALS
    song = varied.instrument_clip(3, 1, SMALL)
    assert len(song.onsets) >= 3 and song.onsets.max() < SMALL.seconds
    assert not torch.equal(song.frames[10], song.frames[40])  # it moves


def test_impact_events_find_every_contact_of_a_varied_clip():
    clip = varied.impact_clip(5, 0, varied.VariedConfig(seconds=4.0, size=128))
    cues = foley.detect(clip.frames, fps=clip.sidecar["fps"])
    found = np.sort([e["time"] for o in cues["objects"] for e in o["events"]])
    match = onsets.f_measure(clip.onsets, found, 50.0)
    assert match.f1 >= 0.9, (clip.onsets, found)
    assert abs(match.mean_error_ms) < 10.0


def test_instrument_onsets_found_and_sways_ignored():
    cfg = varied.VariedConfig(seconds=4.0, size=128)
    song = varied.instrument_clip(4, 2, cfg)
    cues = foley.detect(song.frames, fps=cfg.fps)
    found = np.sort([e["time"] for o in cues["objects"] for e in o["events"]])
    assert onsets.f_measure(song.onsets, found, 50.0).f1 >= 0.85, (song.onsets, found)
    rng = np.random.default_rng(0)
    sway = varied.Moves(0, 0, 0, 0, 0.05, 0.05 * cfg.size, 6.0, 0.05, (0.4, 0.5, 0.3), (0, 1, 2), (8.0, 3.0))
    times = np.arange(int(cfg.seconds * cfg.fps)) / cfg.fps
    poses = varied._poses(sway, times, np.zeros(0), np.zeros(0), np.zeros(0), cfg.seconds)
    background = np.full((cfg.size, cfg.size, 3), 200, dtype=np.uint8)
    sprite = varied.instrument_sprite("guitar", 50 * varied.SUPERSAMPLE, rng)
    frames = varied._draw_instruments(background, [sprite], [(64.0, 64.0)], [poses], len(times))
    calm = foley.detect(frames, fps=cfg.fps)
    assert sum(len(o["events"]) for o in calm["objects"]) <= 1  # a sway and a drift are not notes


def test_material_from_look_and_its_confidence():
    assert events.material_from_look((0.1, 0.1, 0.1))[0] == "rubber"
    assert events.material_from_look((0.55, 0.38, 0.2))[0] == "wood"
    assert events.material_from_look((0.72, 0.74, 0.78))[0] == "metal"
    assert events.material_from_look((0.72, 0.95, 1.0))[0] == "glass"
    name, sure = events.material_from_look((0.95, 0.1, 0.1))
    assert name == "plastic" and sure > 0.6
    _, unsure = events.material_from_look((0.5, 0.5, 0.5))  # plain mid grey: metal or plastic?
    assert unsure < sure


def swaying_disc(start: int, frames: int = 50, fps: float = 25.0, size: int = 96) -> torch.Tensor:
    """A blue disc on grey swaying sideways (6 px, 0.5 Hz), at rest before frame ``start`` and fastest at it.
    ``-> uint8 (V, 3, H, W)``."""
    yy, xx = np.mgrid[:size, :size]
    out = np.full((frames, size, size, 3), 200, dtype=np.uint8)
    for v in range(frames):
        cx = size / 2 + 6 * np.sin(np.pi * max(v - start, 0) / fps)
        out[v][(xx - cx) ** 2 + (yy - size / 2) ** 2 < 14**2] = (40, 60, 160)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def test_movement_under_way_at_the_first_frame_is_not_an_onset():
    assert len(events.video_events(swaying_disc(0), 25.0).times) == 0  # not half a frame in
    started = events.video_events(swaying_disc(10), 25.0).times  # the same sway, starting from rest
    assert len(started) == 1 and abs(started[0] - 0.4) < 0.04, started
