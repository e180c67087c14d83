"""pixelsound.dataset.ClipDataset: shapes, windows, determinism, bad files, decode cache, SoP records."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import torch

from pixelsound import dataset as dataset_module
from pixelsound import index, io
from pixelsound.config import AudioConfig, FramesConfig
from pixelsound.dataset import ClipDataset, DatasetError

AUDIO = AudioConfig(sample_rate=8000, length=4000)  # 0.5 s windows
FRAMES = FramesConfig(num_frames=3, size=32)


@pytest.fixture
def clips(tmp_path, make_clip):
    """Three 2 s clips (two categories) and their index."""
    specs = [("violin", 440.0, (48, 64)), ("flute", 660.0, (40, 40)), ("violin", 550.0, (64, 48))]
    for k, (category, freq, size) in enumerate(specs):
        path = make_clip(tmp_path / "clips", f"c{k}.mp4", seconds=2.0, size=size, freq=freq)
        path.with_suffix(".json").write_text(f'{{"category": "{category}"}}')
    records, rejects = index.scan(tmp_path / "clips")
    assert not rejects
    index.write_index(tmp_path / "index.jsonl", records)
    return tmp_path / "index.jsonl", [freq for _, freq, _ in specs]


def _check_item(item, media, freq: float, fps: float = 8.0):
    """Audio is the clip's tone at the window; frames are those on screen at the sub-window centres."""
    assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (3, 3, 32, 32)
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (4000,)
    reference = media.tone_at(item["start"], 4000, 8000, freq=freq)
    assert media.snr_db(reference, item["audio"]) > 15
    centres = item["start"] + (np.arange(3) + 0.5) * 0.5 / 3
    levels = item["frames"][:, :, :, :12].float().mean(dim=(1, 2, 3))
    expected = torch.tensor([media.frame_level(int(t * fps + 1e-6)) for t in centres], dtype=torch.float32)
    assert (levels - expected).abs().max() < 6


def test_items_eval_is_centred_and_deterministic(clips, media):
    path, freqs = clips
    data = ClipDataset(path, AUDIO, FRAMES, train=False)
    assert len(data) == 3 and data.categories == ["flute", "violin"]
    order = [r["path"].rsplit("/", 1)[1] for r in data.records]
    assert [data.category_of(i) for i in range(3)] == [1 if "c1" not in n else 0 for n in order]
    for i in range(3):
        item = data[i]
        assert item["start"] == pytest.approx((2.0 - 0.5) / 2)
        assert (item["index"], item["category"]) == (i, data.category_of(i))
        _check_item(item, media, freqs[int(order[i][1])])
        again = data[i]
        assert torch.equal(item["frames"], again["frames"]) and torch.equal(item["audio"], again["audio"])


def test_train_offsets_random_but_reproducible(clips, media):
    path, freqs = clips

    def starts(seed: int) -> list[float]:
        torch.manual_seed(123)
        data = ClipDataset(path, AUDIO, FRAMES, train=True, seed=seed)
        return [data[i % 3]["start"] for i in range(6)]

    first = starts(seed=1)
    assert first == starts(seed=1)  # same seeds, same windows
    assert first != starts(seed=2)
    assert len(set(first)) == 6 and all(0.0 <= s <= 1.5 for s in first)
    data = ClipDataset(path, AUDIO, FRAMES, train=True, seed=1)
    order = [r["path"].rsplit("/", 1)[1] for r in data.records]
    _check_item(data[0], media, freqs[int(order[0][1])])


def test_train_offsets_reproducible_in_workers(clips):
    path, _ = clips

    def starts() -> list[float]:
        data = ClipDataset(path, AUDIO, FRAMES, train=True, seed=5)
        loader = torch.utils.data.DataLoader(
            data, batch_size=None, num_workers=2, generator=torch.Generator().manual_seed(7)
        )
        return [item["start"] for item in loader]

    first = starts()
    assert first == starts()
    assert len(set(first)) == 3


def test_bad_file_is_logged_and_replaced(clips, caplog):
    path, _ = clips
    data = ClipDataset(path, AUDIO, FRAMES, train=False)
    broken = data.records[1]["path"]
    with open(broken, "w") as fh:
        fh.write("corrupted after indexing")
    with caplog.at_level(logging.WARNING, logger="pixelsound.dataset"):
        item = data[1]
    assert item["index"] == 2  # eval replaces with the next clip
    assert any(broken in r.getMessage() and "not a media file" in r.getMessage() for r in caplog.records)
    caplog.clear()
    for i in range(3):
        assert data[i]["index"] != 1
    assert not caplog.records  # a known-bad file is skipped quietly


def test_all_files_bad_raises_clear_error(clips):
    path, _ = clips
    data = ClipDataset(path, AUDIO, FRAMES, train=True)
    for record in data.records:
        open(record["path"], "w").close()
    with pytest.raises(DatasetError, match=r"every one of the 3 clips failed to load: .*c0\.mp4: empty file"):
        data[0]  # the first failure, with its file
    with pytest.raises(DatasetError, match="each failed before .see the earlier warnings"):
        data[1]  # all are known bad now: no new failure to quote


def test_unusable_records_dropped_with_warning(clips, caplog):
    path, _ = clips
    records = index.read_index(path)
    records.append(dict(records[0], duration=0.2))
    records.append(dict(records[0], has_audio=False))
    records.append(dict(records[0], kind="duet"))
    records[0]["kind"] = "solo"
    with caplog.at_level(logging.WARNING, logger="pixelsound.dataset"):
        data = ClipDataset(records, AUDIO, FRAMES, train=False)
    assert len(data) == 3
    assert "shorter than the 0.50 s window" in caplog.text and "without audio or video" in caplog.text
    assert "kind 'duet', not solo" in caplog.text
    with pytest.raises(DatasetError, match="no usable clip"):
        ClipDataset(records[-3:], AUDIO, FRAMES, train=False)


def test_cache_hit_is_identical_and_does_not_decode(clips, tmp_path, monkeypatch, media):
    path, freqs = clips
    cache = tmp_path / "cache"
    data = ClipDataset(path, AUDIO, FRAMES, train=False, cache_dir=cache)
    begin = time.perf_counter()
    cold = [data[i] for i in range(3)]
    cold_time = time.perf_counter() - begin
    assert len(list(cache.glob("*.pt"))) == 3 and not list(cache.glob(".*"))
    order = [r["path"].rsplit("/", 1)[1] for r in data.records]
    for i, item in enumerate(cold):
        _check_item(item, media, freqs[int(order[i][1])])

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded media although the cache holds the clip")

    monkeypatch.setattr(dataset_module.media, "read_audio", no_decoding)
    monkeypatch.setattr(dataset_module.media, "read_frames", no_decoding)
    fresh = ClipDataset(path, AUDIO, FRAMES, train=False, cache_dir=cache)
    begin = time.perf_counter()
    warm = [fresh[i] for i in range(3)]
    warm_time = time.perf_counter() - begin
    for a, b in zip(cold, warm, strict=True):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["audio"], b["audio"])
    assert warm_time < cold_time
    train = ClipDataset(path, AUDIO, FRAMES, train=True, cache_dir=cache, memory_items=2)
    assert all(train[i % 3]["audio"].shape == (4000,) for i in range(6))


def test_cache_key_follows_file_and_settings(clips, tmp_path):
    path, _ = clips
    cache = tmp_path / "cache"
    ClipDataset(path, AUDIO, FRAMES, train=False, cache_dir=cache)[0]
    ClipDataset(path, AUDIO, FramesConfig(num_frames=3, size=16), train=False, cache_dir=cache)[0]
    assert len(list(cache.glob("*.pt"))) == 2  # another frame size: another entry
    data = ClipDataset(path, AUDIO, FRAMES, train=False, cache_dir=cache)
    victim = data.records[0]["path"]
    io.write_video(victim, torch.zeros(16, 3, 32, 32, dtype=torch.uint8), 8, torch.zeros(1, 22050), 11025)
    item = data[0]  # the file changed: decoded again, not served stale
    assert item["frames"].float().mean() < 5 and item["audio"].abs().max() < 0.01
    assert len(list(cache.glob("*.pt"))) == 3


def test_sop_records_read_from_jpg_frames(tmp_path, make_sop_tree):
    lines = make_sop_tree(tmp_path, count=16)
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    records, _ = index.read_sop_csv(tmp_path / "train.csv")
    for cache_dir in (None, tmp_path / "cache"):
        data = ClipDataset(records, AUDIO, FRAMES, train=False, cache_dir=cache_dir)
        item = data[0]
        assert item["frames"].shape == (3, 3, 32, 32) and item["audio"].shape == (4000,)
        centres = item["start"] + (np.arange(3) + 0.5) * 0.5 / 3
        red = item["frames"][:, 0].float().mean(dim=(1, 2))
        expected = torch.tensor([int(t * 8) * 15 for t in centres], dtype=torch.float32)
        assert (red - expected).abs().max() < 4
        assert item["audio"].abs().max() > 0.3


def test_timbre_varies_training_windows_only_and_zero_changes_nothing(clips, media):
    path, freqs = clips
    plain = ClipDataset(path, AUDIO, FRAMES, train=True, seed=2)
    off = ClipDataset(path, AUDIO, FRAMES, train=True, seed=2, timbre=0.0)
    on = ClipDataset(path, AUDIO, FRAMES, train=True, seed=2, timbre=1.0)
    moved = 0
    for i in range(3):
        a, b, c = plain.draw(i, (0, i)), off.draw(i, (0, i)), on.draw(i, (0, i))
        torch.testing.assert_close(a["audio"], b["audio"], rtol=0, atol=0)  # no draws taken when off
        assert c["audio"].shape == (4000,) and c["frames"].shape == a["frames"].shape
        assert c["start"] + 4000 * 2 ** (2 / 12) / 8000 <= 2.0 + 1e-6  # what it played lies in the clip
        spectrum = np.abs(np.fft.rfft(c["audio"].numpy()))
        peak = np.fft.rfftfreq(4000, 1 / 8000)[np.argmax(spectrum)]
        assert freqs[i] * 2 ** (-2 / 12) - 4 <= peak <= freqs[i] * 2 ** (2 / 12) + 4
        moved += abs(peak - freqs[i]) > 4
    assert moved >= 1  # the pitch moved in at least one window
    fixed = ClipDataset(path, AUDIO, FRAMES, train=False, timbre=1.0)
    _check_item(fixed[0], media, freqs[0])  # evaluation windows are never varied
