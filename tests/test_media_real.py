"""Real-world files crafted with PyAV (tests/oddmedia.py): damaged packets, AVI timestamps in decode order,
5.1 audio, audio starting after the video, through pixelsound.io and the verbs that failed on them."""

from __future__ import annotations

import json
import logging
import math
import re

import pytest
import torch
from oddmedia import corrupt_packet, frame_level, write_media

from pixelsound import cli, foley, index, io, soundtrack
from pixelsound.checkpoint import write_release
from pixelsound.model import SoundOfPixels
from tiny import tiny_config

AC3_FRAME = 1536  # samples per AC-3 packet


def _frame_ids(frames: torch.Tensor, count: int) -> list[int]:
    levels = frames[:, :, :, : frames.shape[-1] // 2 - 2].float().mean(dim=(1, 2, 3))
    table = torch.tensor([frame_level(i) for i in range(count)], dtype=torch.float32)
    return [int((table - level).abs().argmin()) for level in levels]


# ------------------------------------------------------------------------------------- damaged packets


def test_a_damaged_first_ac3_packet_is_skipped_and_reported_once(tmp_path, caplog):
    intact = write_media(tmp_path / "intact.avi", vcodec="mpeg4", acodec="ac3", seconds=2.0)
    path = write_media(tmp_path / "camera.avi", vcodec="mpeg4", acodec="ac3", seconds=2.0)
    corrupt_packet(path, "audio", 0)
    with caplog.at_level(logging.WARNING, logger="pixelsound.io"):
        info = io.probe(path)
        wave = io.read_audio(path, 48000, mono=False)
        again = io.read_audio(path, 8000, start=0.5, duration=1.0)
    assert info.has_audio and info.duration == pytest.approx(2.0, abs=0.05)
    assert wave.shape[0] == 2 and 0 <= wave.shape[1] - 96000 <= AC3_FRAME  # to the end of the last packet
    assert again.shape == (1, 8000)
    assert float(wave[:, : AC3_FRAME - 8].abs().max()) < 1e-3  # the lost packet is silence
    reference = io.read_audio(intact, 48000, mono=False)
    assert (wave[:, 3 * AC3_FRAME :] - reference[:, 3 * AC3_FRAME :]).abs().max() < 1e-3  # the rest in place
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0] and "undecodable audio packets" in warnings[0]
    assert io.skipped(path) == 1


def test_a_damaged_packet_mid_stream_leaves_a_gap_not_a_shift(tmp_path):
    intact = write_media(tmp_path / "intact.mkv", acodec="ac3", seconds=2.0)
    path = write_media(tmp_path / "dvd.mkv", acodec="ac3", seconds=2.0)
    corrupt_packet(path, "audio", 20)
    wave, reference = (
        io.read_audio(path, 48000, duration=2.0)[0],
        io.read_audio(intact, 48000, duration=2.0)[0],
    )
    assert wave.shape == (96000,) and io.skipped(path) == 1
    lost = slice(20 * AC3_FRAME - 256, 21 * AC3_FRAME - 256)  # the packet's samples (AC-3 delays by 256)
    assert float(wave[lost].abs().max()) < 0.02 and float(reference[lost].abs().max()) > 0.2
    later = slice(22 * AC3_FRAME, None)
    assert (wave[later] - reference[later]).abs().max() < 1e-3  # later sound keeps its time


def test_audio_with_every_packet_damaged_fails_naming_file_and_count(tmp_path):
    path = write_media(tmp_path / "dead.avi", vcodec="mpeg4", acodec="ac3", seconds=0.5)
    count = 0
    while _try_corrupt(path, count):  # every byte of every packet
        count += 1
    with pytest.raises(io.MediaError, match="audio stream yields no decodable frame") as err:
        io.probe(path)
    assert str(path) in str(err.value) and count >= 5
    assert re.search(r"\(\d+ undecodable packets skipped\)", str(err.value))
    frames, _ = io.read_frames(path)  # the video is still usable
    assert frames.shape == (6, 3, 48, 64)


def _try_corrupt(path, index: int) -> bool:
    try:
        corrupt_packet(path, "audio", index, keep=0)
    except IndexError:
        return False
    return True


# --------------------------------------------------------------------------- decode-order timestamps


def test_avi_with_b_frames_reads_frames_in_time_order(tmp_path):
    path = write_media(tmp_path / "bframes.avi", acodec="ac3", seconds=2.0, video_options={"bf": "3"})
    frames, used = io.read_frames(path)
    assert frames.shape == (24, 3, 48, 64)
    assert bool((used.diff() > 0).all()), used.tolist()
    assert used.diff().sub(1 / 12).abs().max() < 1e-6  # one frame apart, as written
    assert _frame_ids(frames, 24) == list(range(24))
    some, _ = io.read_frames(path, times=[1.5, 0.6, 1.9])  # AVI has no start time: within a frame
    assert all(abs(i - k) <= 1 for i, k in zip(_frame_ids(some, 24), [18, 7, 22], strict=True))


def test_write_video_repairs_times_that_do_not_increase(tmp_path, caplog):
    frames = torch.zeros(5, 3, 16, 16, dtype=torch.uint8)
    path = tmp_path / "v.mp4"
    with caplog.at_level(logging.WARNING, logger="pixelsound.io"):
        io.write_video(path, frames, 8, times=[0.0, 0.25, 0.125, 0.125, 0.5])
    assert "2 frame times were not increasing" in caplog.text and str(path) in caplog.text
    _, used = io.read_frames(path)
    assert torch.allclose(used, torch.tensor([0.0, 0.25, 0.251, 0.252, 0.5], dtype=torch.float64))


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.mov"])
def test_a_variable_rate_video_lasts_until_its_last_frame_has_been_shown(tmp_path, name):
    times = [0.0, 0.1, 0.15, 0.4, 0.5, 0.9, 1.3, 1.35, 1.7, 1.95]  # as foley writes a variable-rate clip
    frames = torch.zeros(10, 3, 16, 16, dtype=torch.uint8)
    io.write_video(tmp_path / name, frames, 4.0, torch.zeros(1, 2200 * 8), 8000, times=times)
    info = io.probe(tmp_path / name)
    assert info.num_frames == 10 and info.duration == pytest.approx(2.2, abs=0.01)  # 1.95 s + 1 / fps
    assert torch.allclose(io.read_frames(tmp_path / name)[1], torch.tensor(times, dtype=torch.float64))


def test_foley_on_an_avi_with_b_frames_writes_its_video(tmp_path):
    path = write_media(tmp_path / "camera.avi", acodec=None, seconds=1.5, video_options={"bf": "3"})
    out = tmp_path / "out" / "out.mp4"
    foley.foley(path, out, config=foley.FoleyConfig(sample_rate=16000))
    info = io.probe(out)
    assert info.num_frames == 18 and info.has_audio and info.duration == pytest.approx(1.5, abs=0.1)
    assert soundtrack.default_paths(out, None, None)[1].is_file()  # the cue sheet


def test_foley_keeps_stems_and_cues_when_the_video_cannot_be_written(tmp_path, monkeypatch):
    path = write_media(tmp_path / "silent.mp4", acodec=None, seconds=1.0)

    def refuse(target, *args, **kwargs):
        raise io.MediaError(target, "the encoder refuses this")

    monkeypatch.setattr(io, "write_video", refuse)
    out = tmp_path / "out" / "out.mp4"
    with pytest.raises(io.MediaError, match="the encoder refuses this"):
        foley.foley(path, out, config=foley.FoleyConfig(sample_rate=16000))
    stems, cues = soundtrack.default_paths(out, None, None)
    assert cues.is_file() and (stems / "reverb.wav").is_file()


# ------------------------------------------------------------------------------------------- 5.1 audio


def test_surround_is_downmixed_to_stereo_when_written(tmp_path):
    t = torch.arange(8000) / 8000
    audio = torch.zeros(6, 8000)
    audio[0] = 0.4 * torch.sin(2 * math.pi * 300 * t)  # front left
    audio[2] = 0.4 * torch.sin(2 * math.pi * 500 * t)  # centre
    audio[3] = 0.9  # LFE: dropped
    io.write_audio(tmp_path / "a.wav", audio, 8000)
    back = io.read_audio(tmp_path / "a.wav", 8000, mono=False)
    g = 0.5**0.5
    left, right = (audio[0] + g * audio[2]) / (1 + 2 * g), g * audio[2] / (1 + 2 * g)
    assert back.shape == (2, 8000)
    assert (back[0] - left).abs().max() < 1e-3 and (back[1] - right).abs().max() < 1e-3
    frames = torch.zeros(8, 3, 16, 16, dtype=torch.uint8)
    io.write_video(tmp_path / "v.mp4", frames, 8, audio, 8000)
    assert io.probe(tmp_path / "v.mp4").channels == 2


def test_foley_keeps_the_centre_channel_of_a_51_original(tmp_path):
    path = write_media(tmp_path / "film.mkv", acodec="ac3", channels=6, seconds=1.0)
    data = io.read_audio(path, 16000, mono=False)  # (6, L): the crafted tone is in every channel
    assert data.shape[0] == 6
    wave = soundtrack.original_sound({"sample_rate": 16000, "video": path.name}, 16000, tmp_path, None)
    assert wave.shape == (2, 16000)
    g = 0.5**0.5
    left = (data[0] + g * data[2] + g * data[4]) / (1 + 2 * g)
    assert (wave[0, : data.shape[1]] - left[:16000]).abs().max() < 1e-4  # the centre and surrounds are in


def test_pixels_on_a_51_clip_writes_the_overlay_and_page(tmp_path):
    path = write_media(tmp_path / "concert.mp4", seconds=1.5, size=(32, 32), channels=6, fps=10)
    release = write_release(tmp_path / "model", SoundOfPixels(tiny_config()).eval(), tiny_config())
    out = tmp_path / "out"
    code = cli.main(["pixels", str(path), "--model", str(release), "--out", str(out), "--page-seconds", "1"])
    assert code == 0
    facts = json.loads((out / "pixels.json").read_text())
    assert facts["files"]["overlay"] == "overlay.mp4" and (out / "index.html").is_file()
    overlay = io.probe(out / "overlay.mp4")
    assert overlay.channels == 2 and overlay.duration == pytest.approx(1.5, abs=0.15)


def test_pixels_keeps_its_outputs_when_the_overlay_cannot_be_written(tmp_path, monkeypatch, caplog):
    path = write_media(tmp_path / "clip.mp4", seconds=1.0, size=(32, 32), fps=10)
    release = write_release(tmp_path / "model", SoundOfPixels(tiny_config()).eval(), tiny_config())

    def refuse(target, *args, **kwargs):
        raise io.MediaError(target, "the encoder refuses this")

    monkeypatch.setattr(io, "write_video", refuse)
    out = tmp_path / "out"
    code = cli.main(["pixels", str(path), "--model", str(release), "--out", str(out), "--page-seconds", "1"])
    assert code == 0 and (out / "index.html").is_file() and (out / "pixels.json").is_file()
    assert json.loads((out / "pixels.json").read_text())["files"]["overlay"] is None
    assert f"{path}: overlay.mp4 not written (the encoder refuses this)" in caplog.text


@pytest.mark.parametrize("name", ["clip.webm", "clip.mkv"])
def test_a_constant_rate_in_millisecond_stamps_is_its_nominal_rate(tmp_path, name):
    path = write_media(tmp_path / name, vcodec="libvpx-vp9", acodec="libopus", fps=12.0, seconds=2.0)
    info = io.probe(path)
    assert info.fps == 12.0 and info.num_frames == 24
    assert int(info.duration * info.fps + 1e-6) == 24  # what score and pixels count frames by


# ----------------------------------------------------------------------------------- late audio streams


@pytest.mark.parametrize("name", ["late.mp4", "late.mkv"])
def test_audio_starting_late_keeps_its_place_and_the_full_duration(tmp_path, name):
    path = write_media(tmp_path / name, seconds=3.0, audio_offset=1.0, sr=16000)
    info = io.probe(path)
    assert info.duration == pytest.approx(3.0, abs=0.03)
    wave = io.read_audio(path, 8000)[0]
    assert 24000 <= wave.shape[0] <= 24000 + 512  # the last second is not lost (AAC pads its last frame)
    assert float(wave[:7900].abs().max()) < 0.01  # leading silence
    assert float(wave[8200:9000].abs().max()) > 0.2 and float(wave[-4000:].abs().max()) > 0.2
    tail = io.read_audio(path, 8000, start=2.5, duration=0.5)
    assert tail.shape == (1, 4000) and float(tail.abs().max()) > 0.2
    record = index.index_file(path)
    assert record["duration"] == pytest.approx(3.0, abs=0.03)
