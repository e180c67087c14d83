"""pixelsound.io: round trips, containers, variable frame rates, odd sizes, and every bad-input case."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest
import torch

from pixelsound import io


def _levels(frames: torch.Tensor) -> list[int]:
    """Mean grey level of the left half of each frame (the frame id written by make_clip)."""
    half = frames.shape[-1] // 2
    return frames[:, :, :, : half - 2].float().mean(dim=(1, 2, 3)).round().int().tolist()


def _frame_ids(frames: torch.Tensor, media, count: int) -> list[int]:
    """Which make_clip frame each decoded frame is (nearest grey level)."""
    table = torch.tensor([media.frame_level(i) for i in range(count)])
    return [int((table - level).abs().argmin()) for level in _levels(frames)]


# ------------------------------------------------------------------------------------------------ writing


def test_write_video_is_fast_and_probes_back(tmp_path, media):
    frames = media.clip_frames(64, 224, 224)
    audio = media.tone(8.0, 11025)
    io.write_video(tmp_path / "warm.mp4", frames[:8], 8, audio[:, :11025], 11025)  # codec warm-up
    times = []
    for k in range(3):
        begin = time.perf_counter()
        io.write_video(tmp_path / f"clip{k}.mp4", frames, 8, audio, 11025)
        times.append(time.perf_counter() - begin)
    print(f"write_video 8 s 224x224 8 fps + AAC: best {min(times):.3f} s")
    assert min(times) < 1.0  # ~0.15 s on an idle core; generous for a shared machine
    info = io.probe(tmp_path / "clip0.mp4")
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.num_frames, info.fps) == (224, 224, 64, 8.0)
    assert info.duration == pytest.approx(8.0, abs=0.05)
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_write_rejects_bad_tensors(tmp_path):
    with pytest.raises(io.MediaError, match="uint8"):
        io.write_video(tmp_path / "x.mp4", torch.zeros(4, 3, 8, 8), 8)
    with pytest.raises(io.MediaError, match="C >= 1 and L >= 1"):
        io.write_video(
            tmp_path / "x.mp4", torch.zeros(4, 3, 8, 8, dtype=torch.uint8), 8, torch.zeros(2, 0), 8000
        )
    assert not (tmp_path / "x.mp4").exists()


def test_wav_round_trip_is_exact(tmp_path, media):
    audio = media.tone(0.5, 16000, channels=2)
    io.write_audio(tmp_path / "a.wav", audio, 16000)
    back = io.read_audio(tmp_path / "a.wav", 16000, mono=False)
    assert back.shape == audio.shape and back.dtype == torch.float32
    assert (back - audio).abs().max() < 1e-4


# ---------------------------------------------------------------------------------------------- round trips


def test_frames_round_trip(tmp_path, make_clip, media):
    path = make_clip(tmp_path, "c.mp4", seconds=1.0, fps=8, size=(32, 32))
    frames, used = io.read_frames(path)
    assert frames.dtype == torch.uint8 and frames.shape == (8, 3, 32, 32)
    assert used.dtype == torch.float64 and torch.allclose(used, torch.arange(8, dtype=torch.float64) / 8.0)
    reference = media.clip_frames(8, 32, 32)
    assert (frames.float() - reference.float()).abs().mean() < 3.0
    assert _frame_ids(frames, media, 8) == list(range(8))


def test_frames_by_time_any_order_and_resized(tmp_path, make_clip, media):
    path = make_clip(tmp_path, "c.mp4", seconds=3.0, fps=8, size=(48, 64))
    times = [2.5, 0.01, 1.37, 2.5, 2.99]  # unsorted, repeated, far enough to seek
    frames, used = io.read_frames(path, times=times, size=(24, 20))
    assert frames.shape == (5, 3, 24, 20)
    expected = [int(t * 8 + 1e-9) for t in times]  # the frame on screen at t
    assert _frame_ids(frames, media, 24) == expected
    assert used.tolist() == [k / 8 for k in expected]
    square, _ = io.read_frames(path, fps=4, start=1.0, duration=1.0, size=16)
    assert square.shape == (4, 3, 16, 16)


@pytest.mark.parametrize(
    "file_sr, channels, sr, start, duration, mono",
    [
        (11025, 1, 11025, 0.0, 1.0, True),
        (11025, 1, 16000, 0.3, 0.5, True),
        (48000, 2, 48000, 0.25, 0.6, False),
        (48000, 2, 11025, 1.1, 0.7, False),
        (44100, 2, 22050, 1.7, 0.3, True),
    ],
)
def test_audio_round_trip_exact_length(
    tmp_path, make_clip, media, file_sr, channels, sr, start, duration, mono
):
    path = make_clip(tmp_path, "c.mp4", seconds=2.0, sr=file_sr, channels=channels)
    audio = io.read_audio(path, sr, start=start, duration=duration, mono=mono)
    length = round(duration * sr)
    assert audio.dtype == torch.float32
    assert audio.shape == (1 if mono else channels, length)
    for c in range(audio.shape[0]):
        reference = media.tone_at(start, length, sr, channel=c)
        if mono and channels == 2:
            reference = (reference + media.tone_at(start, length, sr, channel=1)) / 2
        assert media.snr_db(reference, audio[c]) > 20  # a one-sample shift would give ~12 dB


@pytest.mark.parametrize("name", ["a.mp3", "a.m4a", "a.flac", "a.wav"])
def test_encoder_delay_is_compensated(tmp_path, name):
    clicks = torch.zeros(1, 22050)
    clicks[0, [5000, 15000]] = 0.9
    io.write_audio(tmp_path / name, clicks, 11025)  # mp3 and AAC add encoder delay (priming) and padding
    audio = io.read_audio(tmp_path / name, 11025)
    assert audio.shape == (1, 22050)
    assert sorted(audio[0].abs().topk(2).indices.tolist()) == [5000, 15000]
    window = io.read_audio(tmp_path / name, 22050, start=1.2, duration=0.5)  # seek + resample
    assert int(window[0].abs().argmax()) == 2 * 15000 - round(1.2 * 22050)


def test_audio_to_the_end_trims_encoder_padding(tmp_path, make_clip):
    path = make_clip(tmp_path, "c.mp4", seconds=1.0, sr=11025)
    assert io.read_audio(path, 11025).shape == (1, 11025)
    assert io.read_audio(path, 8000, start=0.5).shape == (1, 4000)


# ----------------------------------------------------------------------------------------------- containers


@pytest.mark.parametrize(
    "name, vcodec, acodec, sr",
    [
        ("c.mp4", "h264", "aac", 11025),
        ("c.mkv", "h264", "aac", 22050),
        ("c.webm", "vp9", "opus", 48000),
        ("c.avi", "mpeg4", "pcm_s16le", 16000),
        ("c.mov", "h264", "aac", 44100),
    ],
)
def test_probe_and_read_containers(tmp_path, make_clip, media, name, vcodec, acodec, sr):
    path = make_clip(tmp_path, name, seconds=1.0, fps=8, size=(32, 48), sr=sr, channels=2)
    info = io.probe(path)
    assert (info.video_codec, info.audio_codec) == (vcodec, acodec)
    assert (info.width, info.height, info.num_frames, info.channels) == (48, 32, 8, 2)
    assert info.fps == pytest.approx(8.0, rel=0.01)
    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert info.has_audio and info.has_video
    frames, _ = io.read_frames(path, times=[0.3, 0.8])
    assert _frame_ids(frames, media, 8) == [2, 6]
    audio = io.read_audio(path, 11025, start=0.2, duration=0.5, mono=False)
    assert audio.shape == (2, round(0.5 * 11025))
    assert media.snr_db(media.tone_at(0.2, audio.shape[1], 11025), audio[0]) > 20


def test_audio_only_m4a(tmp_path, make_clip, media):
    path = make_clip(tmp_path, "a.m4a", seconds=1.0, sr=48000, channels=2, video=False)
    info = io.probe(path)
    assert info.has_audio and not info.has_video
    assert (info.audio_codec, info.sample_rate, info.channels, info.width) == ("aac", 48000, 2, 0)
    assert info.duration == pytest.approx(1.0, abs=0.01)
    audio = io.read_audio(path, 11025, start=0.5, duration=0.25)
    assert audio.shape == (1, round(0.25 * 11025))


def test_variable_frame_rate_selects_by_timestamp(tmp_path, make_clip, media):
    stamps = [0.0, 0.1, 0.15, 0.4, 0.45, 0.5, 0.9, 1.3]
    for name in ("vfr.mkv", "vfr.mp4"):
        path = make_clip(tmp_path, name, seconds=1.4, times=stamps)
        info = io.probe(path)
        assert info.num_frames == 8
        assert info.fps == pytest.approx(7 / 1.3, rel=0.02)
        asked = [0.05, 0.12, 0.3, 0.42, 0.95, 1.35]
        frames, used = io.read_frames(path, times=asked)
        assert _frame_ids(frames, media, 8) == [0, 1, 2, 3, 6, 7]
        assert used.tolist() == pytest.approx([0.0, 0.1, 0.15, 0.4, 0.9, 1.3], abs=1e-3)
        every, used = io.read_frames(path, start=0.12, duration=0.5)  # native frames in [0.12, 0.62)
        assert used.tolist() == pytest.approx([0.15, 0.4, 0.45, 0.5], abs=1e-3)


def test_portrait_odd_size_and_rotation(tmp_path, make_clip, media):
    path = make_clip(tmp_path, "odd.webm", size=(61, 35))  # VP9 keeps odd sizes
    info = io.probe(path)
    assert (info.width, info.height) == (35, 61)
    frames, _ = io.read_frames(path)
    assert frames.shape == (8, 3, 61, 35)
    assert io.read_frames(path, size=(32, 24))[0].shape == (8, 3, 32, 24)
    padded = make_clip(tmp_path, "odd.mp4", size=(61, 35))  # h264 yuv420p: padded to even, as documented
    assert (io.probe(padded).width, io.probe(padded).height) == (36, 62)
    frames, _ = io.read_frames(padded)
    assert (frames[:, :, :61, :35].float() - media.clip_frames(8, 61, 35).float()).abs().mean() < 4.0
    turned = make_clip(tmp_path, "turned.mp4", size=(32, 48), rotation=90)  # landscape stored, portrait shown
    info = io.probe(turned)
    assert (info.width, info.height, info.rotation) == (32, 48, 90)
    frames, _ = io.read_frames(turned, times=[0.0])
    expected = torch.rot90(media.clip_frames(1, 32, 48), 1, dims=(2, 3))  # counter-clockwise
    assert frames.shape == (1, 3, 48, 32)
    assert (frames.float() - expected.float()).abs().mean() < 3.0


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "case, reason",
    [
        ("missing", "file not found"),
        ("empty", "empty file"),
        ("text", "not a media file"),
        ("truncated", "truncated file"),
        ("truncated_header", "truncated file"),
    ],
)
def test_unreadable_files_raise_media_error(bad_media, case, reason):
    path = bad_media[case]
    for read in (io.probe, lambda p: io.read_audio(p, 11025, duration=0.2), lambda p: io.read_frames(p)):
        with pytest.raises(io.MediaError, match=reason) as caught:
            read(path)
        assert str(path) in str(caught.value)


def test_corrupt_data_behind_an_intact_header(tmp_path, make_clip):
    path = make_clip(tmp_path, "c.mkv", seconds=2.0, size=(64, 64))
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:] = bytes(len(data) - start)  # same size, the second part of the data zeroed
    path.write_bytes(bytes(data))
    with pytest.raises(io.MediaError, match="corrupt|truncated") as caught:
        io.probe(path)
    assert str(path) in str(caught.value)


def test_tags_that_are_not_text_do_not_stop_a_read(tmp_path):
    """A title tag of invalid UTF-8 bytes (as some cameras and editors write) reads like any other clip."""
    path = tmp_path / "tagged.mp4"
    with av.open(str(path), "w") as out:
        out.metadata["title"] = "TITLE-MARK"
        stream = out.add_stream("libx264", rate=8)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        for _ in range(8):
            out.mux(stream.encode(black))
        out.mux(stream.encode())
    data = path.read_bytes()
    assert data.count(b"TITLE-MARK") == 1
    path.write_bytes(data.replace(b"TITLE-MARK", b"TI\xff\xfeE-MARK"))
    info = io.probe(path)
    assert info.num_frames == 8 and (info.width, info.height) == (32, 32)
    frames, _ = io.read_frames(path, times=[0.0, 0.5], size=16)
    assert frames.shape == (2, 3, 16, 16)


def test_missing_streams(bad_media):
    with pytest.raises(io.MediaError, match="no audio stream") as caught:
        io.read_audio(bad_media["no_audio"], 11025)
    assert str(bad_media["no_audio"]) in str(caught.value)
    with pytest.raises(io.MediaError, match="no video stream") as caught:
        io.read_frames(bad_media["no_video"], times=[0.1])
    assert str(bad_media["no_video"]) in str(caught.value)
    assert not io.probe(bad_media["no_audio"]).has_audio
    assert not io.probe(bad_media["no_video"]).has_video


def test_window_too_short(bad_media):
    path = bad_media["short"]  # 0.5 s
    with pytest.raises(io.MediaError, match="too short") as caught:
        io.read_audio(path, 11025, start=0.2, duration=0.5)
    assert str(path) in str(caught.value)
    with pytest.raises(io.MediaError, match="too short"):
        io.read_frames(path, fps=8, start=0.2, duration=0.5)
    with pytest.raises(io.MediaError, match="too short"):
        io.read_frames(path, times=[0.9])
    # within the tolerance the window is padded and still exact
    assert io.read_audio(path, 11025, start=0.05, duration=0.5).shape == (1, round(0.5 * 11025))


@pytest.mark.parametrize("channels", [3, 4, 6, 8])
def test_downmix_keeps_every_channel_but_lfe_and_cannot_clip(channels):
    audio = torch.eye(channels).repeat_interleave(4, dim=1)  # channel c alone in samples 4c..4c+3
    stereo = io.downmix(audio)
    assert stereo.shape == (2, 4 * channels)
    heard = stereo.abs().sum(0).view(channels, 4)[:, 0]  # how much of each channel reaches the output
    lfe = 3 if channels in (6, 8) else None
    assert all((heard[c] == 0) == (c == lfe) for c in range(channels))
    assert float(io.downmix(torch.ones(channels, 5)).max()) <= 1.0 + 1e-6
    assert torch.equal(io.downmix(audio[:2]), audio[:2])
