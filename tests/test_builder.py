"""The instruments data builder: decodable outputs, determinism, onsets matching the audio, masks, splits."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import signal
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import find_peaks, stft

from pixelsound import builder, instruments, io, melody, patches, pictures, sampler
from pixelsound.builder import BuildConfig
from pixelsound.index import read_index

SECONDS, SIZE, FPS, SR = 3.0, 64, 8.0, 22050
SPLITS = builder.SPLITS["train"]


def tiny(out: Path, clips: int = 12, seed: int = 0, workers: int = 1, **kw) -> BuildConfig:
    kw = {"duet_fraction": 0.17, "silent_fraction": 0.17, "size": SIZE, **kw}
    return BuildConfig(out=out, clips=clips, seed=seed, workers=workers, fps=FPS, seconds=SECONDS, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    out = tmp_path_factory.mktemp("instruments")
    report = builder.build(tiny(out))
    assert set(report.indexes) == set(SPLITS)
    return out, {split: read_index(out / f"{split}.jsonl") for split in SPLITS}


def sidecar(record: dict) -> dict:
    return json.loads(Path(record["path"]).with_suffix(".json").read_text())


def detect_onsets(x: np.ndarray, sr: int, hop: int = 128, lag: int = 3) -> np.ndarray:
    """Spectral-flux onsets (log-frequency bands, max-filtered reference as in SuperFlux) in seconds."""
    f, t, z = stft(x, sr, nperseg=2048, noverlap=2048 - hop, boundary=None, padded=False)
    edges = np.geomspace(60, 0.95 * sr / 2, 80)
    bank = np.stack(
        [np.clip(np.minimum((f - lo) / (c - lo), (hi - f) / (hi - c)), 0, None) for lo, c, hi in
         zip(edges[:-2], edges[1:-1], edges[2:], strict=True)]
    )  # fmt: skip
    s = np.log1p(1000 * bank @ np.abs(z))
    flux = np.maximum(s[:, lag:] - maximum_filter1d(s, 3, axis=0)[:, :-lag], 0).sum(0)
    flux /= flux.max() + 1e-9
    local = uniform_filter1d(flux, int(0.2 * sr / hop))
    peaks, _ = find_peaks(flux, distance=int(0.1 * sr / hop))
    return t[lag:][[p for p in peaks if flux[p] > local[p] + 0.06]]


def matched(ref: list[float], est: np.ndarray, tol: float = 0.05) -> int:
    """Greedy one-to-one matches within tol seconds."""
    used, hits = set(), 0
    for r in ref:
        near = [(abs(e - r), j) for j, e in enumerate(est) if j not in used and abs(e - r) <= tol]
        if near:
            used.add(min(near)[1])
            hits += 1
    return hits


def test_plan_is_mostly_training_solos_balanced_and_deterministic(tmp_path):
    cfg = BuildConfig(out=tmp_path, clips=1000, seed=3)
    plans = builder.plan_clips(cfg)
    assert plans == builder.plan_clips(cfg)
    assert plans != builder.plan_clips(BuildConfig(out=tmp_path, clips=1000, seed=4))
    counts = Counter(p.split for p in plans)
    assert counts == {
        "train": 604,
        "val": 76,
        "test": 76,
        "test_style": 84,
        "duet_test": 80,
        "silent_test": 80,
    }
    per_class = Counter(p.categories[0] for p in plans if p.split == "train")
    assert set(per_class) == set(instruments.CATEGORIES)
    assert max(per_class.values()) - min(per_class.values()) <= 1
    assert all(len(set(p.categories)) == 2 for p in plans if p.kind == "duet")
    assert sorted(p.index for p in plans) == list(range(1000))


def test_melodies_stay_in_range_with_clear_onsets():
    rng = np.random.default_rng(0)
    for inst in instruments.INSTRUMENTS:
        for _ in range(5):
            notes = instruments.notes_for(inst, rng, 8.0, SR)
            onsets = melody.onsets(notes)
            assert len(onsets) >= 3 and onsets[-1] < 8.0
            assert np.diff(onsets).min() >= melody.MIN_IOI - 1e-6
            assert all(inst.low <= n.pitch <= inst.high for n in notes) or inst.kind != "melodic"
            grid = instruments.BLOCK / SR
            assert all(abs(t / grid - round(t / grid)) < 1e-3 for t in onsets)


def test_outputs_decode_with_their_index_facts(built):
    out, idx = built
    for split, records in idx.items():
        assert records, split
        for r in records:
            info = io.probe(r["path"])
            assert (info.width, info.height, info.num_frames) == (SIZE, SIZE, round(SECONDS * FPS))
            assert info.has_video and r["split"] == split
            assert info.has_audio == (split != "silent_test") == r["has_audio"]
            frames, _ = io.read_frames(r["path"], fps=FPS)
            assert frames.shape == (round(SECONDS * FPS), 3, SIZE, SIZE) and frames.dtype == torch.uint8
            side = sidecar(r)
            assert side["categories"] == r["categories"] and side["style"] == r["style"]
            assert len(side["instruments"][0]["boxes"]) == info.num_frames
            if info.has_audio:
                assert info.sample_rate == SR and info.audio_codec == "aac"
                audio = io.read_audio(r["path"], SR, duration=SECONDS - 0.1)
                assert audio.shape == (1, round((SECONDS - 0.1) * SR)) and audio.abs().max() > 0.05


def test_same_seed_same_audio_whatever_the_workers(tmp_path):
    def audio(out: Path, **kw) -> dict[str, torch.Tensor]:
        builder.build(tiny(out, clips=3, duet_fraction=0, silent_fraction=0, **kw))
        records = [r for s in ("train", "val", "test", "test_style") for r in read_index(out / f"{s}.jsonl")]
        return {Path(r["path"]).name: io.read_audio(r["path"], SR) for r in records}

    one, two, other = (
        audio(tmp_path / "a", workers=1),
        audio(tmp_path / "b", workers=2),
        audio(tmp_path / "c", seed=1),
    )
    assert one.keys() == two.keys() and len(one) == 3
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert all(not torch.equal(a, b) for a, b in zip(one.values(), other.values(), strict=True))


def _worker_signals() -> tuple:
    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def test_build_workers_die_of_sigterm_whatever_handler_the_parent_has():
    """The pool closes by SIGTERM: a worker keeping the CLI's Python handler could miss it (a hang)."""
    old = signal.signal(signal.SIGTERM, lambda *_: None)  # as the CLI's handler for the parent
    try:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(1, initializer=builder._init_worker) as pool:
            term, interrupt = pool.apply(_worker_signals)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert term == signal.SIG_DFL and interrupt == signal.SIG_IGN


def test_same_notes_render_the_same_samples():
    renderer = instruments.Renderer(sample_rate=SR)
    inst = instruments.instrument("violin")
    notes = instruments.notes_for(inst, np.random.default_rng(5), 2.0, SR)
    first = renderer.render(inst, notes, 2.0)
    renderer.render(instruments.instrument("drum"), notes[:2], 1.0)  # state left behind must not matter
    assert np.array_equal(first, renderer.render(inst, notes, 2.0))
    assert first.shape == (round(2.0 * SR),) and np.abs(first).max() > 0.01


def test_sidecar_onsets_match_the_audio(built):
    _, idx = built
    found = truth = shifted = detected = 0
    for r in idx["train"] + idx["val"] + idx["test"] + idx["test_style"]:
        onsets = [t for t in sidecar(r)["onsets"] if t < SECONDS - 0.1]
        est = detect_onsets(io.read_audio(r["path"], SR)[0].numpy(), SR)
        truth, detected = truth + len(onsets), detected + len(est)
        found += matched(onsets, est)
        shifted += matched([t + 0.12 for t in onsets], est)
    assert truth > 20
    assert found / truth >= 0.85, (found, truth)  # every written onset is heard within 50 ms
    assert found / detected >= 0.6, (found, detected)  # and few heard onsets are missing from the sidecar
    assert shifted / truth < 0.5  # the check can fail: onsets 120 ms off do not match


def test_motion_follows_the_onsets(built):
    _, idx = built
    at_onset, quiet = [], []
    for r in idx["train"] + idx["val"] + idx["test"]:
        side = sidecar(r)
        boxes = np.array(side["boxes"], dtype=float)
        move = np.abs(np.diff(boxes, axis=0)).sum(1)  # change from frame t-1 to t
        times = np.arange(1, len(boxes)) / FPS
        gap = np.min(np.abs(times[:, None] - np.array(side["onsets"])[None, :]), axis=1)
        at_onset += list(move[gap <= 0.5 / FPS])
        quiet += list(move[gap > 0.4])
    assert np.mean(at_onset) > 2 * np.mean(quiet) + 0.5, (np.mean(at_onset), np.mean(quiet))


def test_duet_masks_stems_and_boxes(built):
    out, idx = built
    for r in idx["duet_test"]:
        side = sidecar(r)
        assert [p["side"] for p in side["instruments"]] == ["left", "right"]
        assert len(set(r["categories"])) == 2
        masks = [np.asarray(Image.open(out / m)) > 0 for m in r["masks"]]
        for i, mask in enumerate(masks):
            cols = np.nonzero(mask.any(0))[0]
            assert mask.mean() > 0.02
            assert (cols < SIZE // 2).all() if i == 0 else (cols >= SIZE // 2).all()
        frames = np.load(out / r["mask_frames"])["masks"]  # (N, V, H, W)
        assert frames.shape == (2, round(SECONDS * FPS), SIZE, SIZE)
        assert all(np.array_equal(frames[i].any(0), masks[i]) for i in range(2))
        for i, part in enumerate(side["instruments"]):
            x0, y0, x1, y1 = part["boxes"][5]
            ys, xs = np.nonzero(frames[i, 5])
            assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)
        stems = torch.cat([io.read_audio(out / s, SR) for s in r["stems"]])  # (2, L)
        mix = io.read_audio(r["path"], SR, duration=stems.shape[1] / SR)
        assert torch.corrcoef(torch.cat([stems.sum(0, keepdim=True), mix]))[0, 1] > 0.98
        assert all(s.abs().max() > 0.05 for s in stems)


def test_silent_clips_keep_their_soundtrack(built):
    out, idx = built
    kinds = Counter(r["kind"] for r in idx["silent_test"])
    assert kinds == {"solo": 1, "duet": 1}
    for r in idx["silent_test"]:
        assert not io.probe(r["path"]).has_audio
        track = io.read_audio(out / r["soundtrack"], SR)
        assert track.shape == (1, round(SECONDS * SR)) and track.abs().max() > 0.05
        if r["kind"] == "duet":
            stems = torch.cat([io.read_audio(out / s, SR) for s in r["stems"]])
            assert torch.allclose(stems.sum(0, keepdim=True), track, atol=2e-4)
        else:
            assert r["category"] == r["categories"][0]


def test_splits_are_disjoint_and_the_held_out_style_stays_out(built):
    _, idx = built
    paths = [r["path"] for records in idx.values() for r in records]
    assert len(paths) == len(set(paths)) == 12
    for split, records in idx.items():
        for r in records:
            held = r["style"] in pictures.HELD_OUT_STYLES
            assert held == (split == "test_style")
            assert set(r["categories"]) <= set(instruments.CATEGORIES)


def test_missing_soundfont_says_what_to_install(tmp_path, monkeypatch, caplog):
    missing = dataclasses.replace(instruments.SOURCES["fluidr3"], path=tmp_path / "FluidR3_GM.sf2")
    monkeypatch.setitem(instruments.SOURCES, "fluidr3", missing)
    with pytest.raises(instruments.SynthError, match="fluid-soundfont-gm"):
        builder.build(tiny(tmp_path / "out", clips=2))
    from pixelsound import cli

    with caplog.at_level(logging.ERROR):
        assert cli.main(["data", "instruments", "--out", str(tmp_path / "o2"), "--clips", "2"]) == 1
    assert "fluid-soundfont-gm" in caplog.text
    assert not list((tmp_path / "out").glob("**/*.mp4"))


def test_missing_fluidsynth_or_reserved_soundfont_is_refused(tmp_path, monkeypatch):
    with pytest.raises(instruments.SynthError, match="reserved"):
        instruments.check_soundfont("/usr/share/sounds/sf2/TimGM6mb.sf2")
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # import fails as when libfluidsynth is absent
    with pytest.raises(instruments.SynthError, match="Debian package 'fluidsynth'"):
        instruments.check_soundfont()


def test_bad_settings_are_refused(tmp_path, caplog):
    with pytest.raises(ValueError, match="even size"):
        tiny(tmp_path, size=65)
    from pixelsound import cli

    with caplog.at_level(logging.ERROR):
        assert cli.main(["data", "instruments", "--out", str(tmp_path), "--clips", "0"]) == 1
    assert "clips >= 1" in caplog.text


def test_missing_style_assets_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSOUND_ASSETS", str(tmp_path))
    with pytest.raises((pictures.PictureError, sampler.SampleError), match="npm"):
        builder.check(tiny(tmp_path / "out"))


def test_small_builds_have_usable_validation_and_test_splits(tmp_path):
    counts = Counter(p.split for p in builder.plan_clips(BuildConfig(out=tmp_path, clips=20)))
    assert counts["val"] >= 2 and counts["test"] >= 2 and counts["train"] >= 8


def test_training_world_mixes_its_sources_and_libraries_only(tmp_path):
    plans = builder.plan_clips(BuildConfig(out=tmp_path, clips=400, seed=1))
    sources = Counter(p.source for p in plans)
    assert set(sources) == {"fluidr3", "recorded", "freepats", "opl3"}
    assert sources["fluidr3"] > sources["freepats"] > sources["opl3"]
    assert all(sampler.covers(c) for p in plans if p.source == "recorded" for c in p.categories)
    assert all(patches.covers(c) for p in plans if p.source == "freepats" for c in p.categories)
    far = set(pictures.FAR_STYLES)
    assert not far & {p.style for p in plans}
    assert {p.style for p in plans if p.split == "test_style"} <= set(pictures.HELD_OUT_STYLES)
    for p in plans:  # a partial library is only chosen for instruments it draws
        assert all(pictures.covers(p.style, c) for c in p.categories)


def test_far_world_uses_only_far_sources_and_libraries(tmp_path):
    cfg = BuildConfig(out=tmp_path, clips=60, seed=2, world="far", duet_fraction=0.2, silent_fraction=0.2)
    plans = builder.plan_clips(cfg)
    assert {p.split for p in plans} == {"far", "duet_far", "silent_far"}
    assert {p.source for p in plans} == {n for n, s in instruments.SOURCES.items() if s.role == "far"}
    assert {p.style for p in plans} <= set(pictures.FAR_STYLES)
    assert all(all(pictures.covers(p.style, c) for c in p.categories) for p in plans)
    assert plans == builder.plan_clips(cfg)


def test_far_clips_are_recorded_in_rooms_and_written(tmp_path):
    cfg = tiny(tmp_path, clips=3, world="far", duet_fraction=0.0, silent_fraction=0.0)
    report = builder.build(cfg)
    assert report.counts == {"far": 3, "duet_far": 0, "silent_far": 0}
    records = read_index(tmp_path / "far.jsonl")
    for r in records:
        side = sidecar(r)
        assert side["world"] == "far" and side["source"] == r["source"] == "csound"
        audio = io.read_audio(r["path"], SR)
        assert audio.abs().max() > 0.05


def test_an_interrupted_build_resumes_without_redrawing(tmp_path):
    cfg = tiny(tmp_path, clips=4, duet_fraction=0.0, silent_fraction=0.0)
    builder.build(cfg)
    videos = sorted(tmp_path.glob("solo/*.mp4"))
    stamps = {v: v.stat().st_mtime_ns for v in videos}
    victim = videos[0].with_suffix(".json")
    victim.unlink()  # as if killed before its sidecar (written last) was written
    again = builder.build(cfg)
    assert sum(again.counts.values()) == 4 and victim.is_file()
    assert all(v.stat().st_mtime_ns == stamps[v] for v in videos[1:])  # finished clips were reused
    assert videos[0].stat().st_mtime_ns != stamps[videos[0]]


def test_expression_and_accompaniment_are_deterministic_and_in_range():
    for name in ("violin", "piano", "drum"):
        inst = instruments.instrument(name)
        a = instruments.performance(inst, np.random.default_rng(4), 6.0, SR, accompany=1.0)
        b = instruments.performance(inst, np.random.default_rng(4), 6.0, SR, accompany=1.0)
        plain = instruments.notes_for(inst, np.random.default_rng(4), 6.0, SR)
        assert a == b and len(a) > len(plain)
        if inst.kind == "melodic":
            assert all(inst.low <= n.pitch <= inst.high for n in a)
        controls = instruments.expression(inst, np.random.default_rng(1), a, 6.0)
        assert controls == instruments.expression(inst, np.random.default_rng(1), a, 6.0)
        assert all(0 <= c.value <= 127 for c in controls if c.kind == "cc")
        assert all(-8192 <= c.value <= 0 for c in controls if c.kind == "bend")


def test_a_swell_changes_loudness_over_time():
    renderer = instruments.Renderer(sample_rate=SR)
    inst = instruments.instrument("violin")
    notes = [melody.Note(0.0, 1.9, 69, 100)]
    swell = tuple(instruments.Control(t, "cc", int(127 * (1 - t / 2)), 11) for t in np.arange(0, 2, 0.05))
    flat, faded = renderer.render(inst, notes, 2.0), renderer.render(inst, notes, 2.0, controls=swell)
    late = slice(int(1.4 * SR), int(1.8 * SR))
    assert np.sqrt(np.mean(faded[late] ** 2)) < 0.5 * np.sqrt(np.mean(flat[late] ** 2))


@pytest.mark.parametrize(
    ("world", "sound", "look"), [("far_audio", "far", "train"), ("far_pictures", "train", "far")]
)
def test_half_far_worlds_change_one_half_only(tmp_path, world, sound, look):
    plans = builder.plan_clips(BuildConfig(out=tmp_path, clips=60, seed=3, world=world))
    assert {p.split for p in plans} == set(builder.SPLITS[world])
    roles = {instruments.SOURCES[p.source].role for p in plans}
    assert roles == {sound}
    far = set(pictures.FAR_STYLES)
    styles = {p.style for p in plans}
    assert styles <= far if look == "far" else not styles & far
