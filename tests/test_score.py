"""Scoring: offsets, sync, ranking of soundtracks, the sounding map, and the CLI on real mp4 files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from pixelsound import cli, io, score
from tiny import tiny_config

FPS = 10.0
SR = 11025


def flash_times(seed: int, seconds: float = 6.0, gap: float = 0.3) -> np.ndarray:
    """Irregular event times (never closer than ``gap``)."""
    rng = np.random.default_rng(seed)
    times = [0.3]
    while times[-1] < seconds - 0.6:
        times.append(times[-1] + gap + rng.exponential(0.35))
    return np.array(times[:-1])


def flashing_clip(times: np.ndarray, seconds: float = 6.0, size: int = 48) -> torch.Tensor:
    """uint8 (V, 3, H, W): a square in the upper left flashing (decaying) at each time, nearest frame on."""
    t = np.arange(int(seconds * FPS)) / FPS
    delta = t[:, None] - times[None, :]
    level = np.where(delta >= -0.5 / FPS, np.exp(-np.clip(delta, 0, None) / 0.12), 0.0).max(1)
    frames = torch.full((len(t), 3, size, size), 30, dtype=torch.uint8)
    frames[:, :, 4:20, 6:22] = torch.from_numpy((30 + 210 * level).astype(np.uint8))[:, None, None, None]
    return frames


def clicks(times: np.ndarray, seconds: float = 6.0, lag: float = 0.0, seed: int = 0) -> torch.Tensor:
    """(L,) decaying noise bursts at ``times + lag`` over faint noise."""
    rng = np.random.default_rng(seed)
    wave = 0.002 * rng.standard_normal(int(seconds * SR))
    burst = rng.standard_normal(int(0.06 * SR)) * np.exp(-np.arange(int(0.06 * SR)) / (0.012 * SR))
    for start in np.round((times + lag) * SR).astype(int):
        if 0 <= start < len(wave):
            piece = burst[: len(wave) - start]
            wave[start : start + len(piece)] += 0.5 * piece
    return torch.from_numpy(wave).float()


@pytest.mark.parametrize("lag", [0.0, 0.37, -0.83, 1.61])
def test_offset_recovered_within_one_frame(lag):
    times = flash_times(1)
    result = score.score_frames(flashing_clip(times), FPS, [("shifted", clicks(times, lag=lag))], SR)
    assert abs(result.best.offset_ms - lag * 1000) < 1000 / FPS
    assert result.best.aligned_f1 > 0.9


def test_true_soundtrack_ranks_first():
    times = flash_times(2)
    audios = [
        ("other", clicks(flash_times(3), seed=1)),
        ("late 250 ms", clicks(times, lag=0.25)),
        ("true", clicks(times)),
    ]
    result = score.score_frames(flashing_clip(times), FPS, audios, SR)
    by_name = {c.name: c for c in result.candidates}
    assert [c.name for c in result.candidates][0] == "true"
    assert by_name["true"].sync.f1 == 1.0 and by_name["late 250 ms"].sync.f1 < 0.5
    assert by_name["true"].rhythm > by_name["other"].rhythm + 0.2
    assert by_name["true"].score > max(by_name["other"].score, by_name["late 250 ms"].score)


def test_sounding_map_and_objects_find_the_flashing_square():
    result = score.score_frames(flashing_clip(flash_times(4)), FPS, [], SR, video_size=(96, 96))
    assert result.candidates == [] and result.sounding_map.shape == (14, 14)
    assert len(result.regions) == 1
    x0, y0, x1, y1 = result.regions[0].box  # the square is at x 12..44, y 8..40 in a 96 px video
    assert x0 <= 14 and y0 <= 10 and 40 <= x1 <= 52 and 36 <= y1 <= 48
    assert len(result.regions[0].events) >= len(flash_times(4)) - 1


@pytest.fixture
def clips(tmp_path):
    """A clip with its soundtrack, the same clip silent, its soundtrack as wav, another wav, a broken file."""
    times = flash_times(5)
    frames = flashing_clip(times, size=64)
    folder = tmp_path / "clips"
    folder.mkdir()
    io.write_video(folder / "sounding.mp4", frames, FPS, clicks(times)[None], SR)
    io.write_video(folder / "silent.mp4", frames, FPS)
    (folder / "broken.mp4").write_text("not a video")
    io.write_audio(tmp_path / "true.wav", clicks(times)[None], SR)
    io.write_audio(tmp_path / "other.wav", clicks(flash_times(6), seed=3)[None], SR)
    return {"dir": folder, **{p.stem: p for p in folder.iterdir()}, "true": tmp_path / "true.wav",
            "other": tmp_path / "other.wav"}  # fmt: skip


def test_cli_json_ranks_candidates_for_a_silent_mp4(clips, capsys):
    args = ["score", str(clips["silent"]), "--audio", str(clips["other"]), str(clips["true"]), "--json"]
    assert cli.main(args + ["--model", "none"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [c["candidate"] for c in out["candidates"]] == ["true.wav", "other.wav"]
    assert abs(out["candidates"][0]["offset_ms"]) < 100 and out["candidates"][0]["sync_f1"] > 0.8
    assert len(out["objects"]) == 1 and len(out["sounding_map"]) == 14


def test_cli_text_scores_own_soundtrack(clips, capsys):
    assert cli.main(["score", str(clips["sounding"]), "--model", "none"]) == 0
    text = capsys.readouterr().out
    assert "own soundtrack" in text and "sounding objects: 1" in text


def test_cli_batch_csv_reports_a_broken_file(clips, tmp_path, capsys):
    table = tmp_path / "scores.csv"
    assert cli.main(["score", str(clips["dir"]), "--csv", str(table), "--model", "none"]) == 0
    rows = {r["video"].rsplit("/", 1)[-1]: r for r in csv.DictReader(table.open())}
    assert set(rows) == {"sounding.mp4", "silent.mp4", "broken.mp4"}
    assert rows["broken.mp4"]["error"] and "broken.mp4" in rows["broken.mp4"]["error"]
    assert rows["sounding.mp4"]["candidate"] == score.OWN and float(rows["sounding.mp4"]["sync_f1"]) > 0.8
    assert rows["silent.mp4"]["candidate"] == "" and rows["silent.mp4"]["objects"] == "1"
    assert "scored 2 of 3" in capsys.readouterr().err


def test_cli_explains_a_bad_video(clips, caplog):
    assert cli.main(["score", str(clips["broken"]), "--model", "none"]) == 1
    assert "broken.mp4: not a media file" in caplog.text


def test_tiny_release_gives_attribution_model_grid_and_categories(clips, tmp_path):
    from pixelsound.checkpoint import write_release
    from pixelsound.model import SoundOfPixels

    torch.manual_seed(0)
    prototypes = {"flute": [1.0, 0.0, 0.0, 0.0], "drum": [0.0, 0.0, 0.0, 1.0]}
    release = write_release(
        tmp_path / "tiny", SoundOfPixels(tiny_config()), tiny_config(), {"prototypes": prototypes}
    )
    result = score.score(clips["sounding"], [clips["other"]], model=release)
    assert result.model == str(release)
    assert result.sounding_map.shape == (4, 4)  # 32 px frames through two ResNet stages
    for candidate in result.candidates:
        assert 0.0 <= candidate.attribution <= 1.0
        assert candidate.correspondence == pytest.approx(0.5 * (candidate.rhythm + candidate.attribution))
    assert result.best.name == score.OWN
    assert result.regions and all(o.category in prototypes for o in result.regions)


def test_low_frame_rates_take_whole_frame_motion_onsets():
    from pixelsound import motion

    frames = torch.full((32, 3, 48, 48), 40, dtype=torch.uint8)
    for k in (4, 12, 20, 28):  # a square that jumps for one frame: a note's pulse at 8 fps
        frames[k, :, 10:30, 10:30] = 220
    options = score.ScoreOptions()
    maps = motion.motion_maps(frames, method=options.method)
    curve = motion.region_curves(maps, [None])[0]
    whole = motion.pick_events(motion.onset_curve(curve), 8.0, prominence=options.motion_prominence)
    found = score.visual_events(frames, 8.0, maps, options)
    np.testing.assert_allclose(found.times, whole.times)
    assert len(found.times) == 4


@pytest.mark.parametrize("beats", [2, -2])
def test_a_steady_rhythm_delayed_by_whole_beats_is_placed_by_the_copy_s_silence(beats):
    times = np.arange(0.35, 5.9, 0.5)  # steady: every beat shift matches as well as the true one
    lag = 0.5 * beats + 0.02
    wave, shift = clicks(times), int(round(lag * SR))
    late = torch.zeros_like(wave)  # the copy moved and zero-padded: silent where nothing was
    if shift >= 0:
        late[shift:] = wave[: len(wave) - shift]
    else:
        late[:shift] = wave[-shift:]
    result = score.score_frames(flashing_clip(times), FPS, [("moved", late)], SR)
    assert abs(result.best.offset_ms - lag * 1000) < 1000 / FPS
