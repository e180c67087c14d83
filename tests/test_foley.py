"""Foley end to end on tiny clips: bouncing-ball truth, detection, cue-sheet edits, the bank, the CLI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelsound import bank as bankmod
from pixelsound import bounce, cli, foley, io, loudness, onsets, soundbank
from pixelsound.config import AudioConfig, Config, FramesConfig, ModelConfig
from pixelsound.cues import CueError
from pixelsound.index import read_index, write_index

SR = 22050


@pytest.fixture(scope="module")
def ball_clip(tmp_path_factory) -> tuple[Path, dict]:
    """One single-ball clip (128 px, 3 s, 25 fps) with at least three hits, and its sidecar."""
    out = tmp_path_factory.mktemp("bounce")
    index = bounce.build_bounce(out, 2, seed=4, seconds=3.0, size=128, sample_rate=SR, max_balls=1)
    for record in read_index(index):
        side = json.loads((out / record["sidecar"]).read_text())
        if len(side["onsets"]) >= 3:
            return Path(record["path"]), side
    raise AssertionError("no clip with three hits for this seed")


def test_bounce_clip_hits_match_sidecar(ball_clip):
    path, side = ball_clip
    info = io.probe(path)
    assert info.has_video and not info.has_audio and info.num_frames == 75
    ball = side["objects"][0]
    boxes, floor = np.array(ball["boxes"]), side["floor_y"]
    assert side["onsets"] == sorted(ball["onsets"]) and side["room"] in ("dry", "room", "hall", "outdoor")
    for hit, nxt in zip(ball["hits"], ball["hits"][1:] + [None], strict=True):
        at = int(round(hit["time"] * side["fps"]))  # the frame nearest the hit: half a frame's travel up
        assert 0 <= floor - boxes[at, 3] <= hit["speed_px"] * 0.5 / side["fps"] + 0.5
        if nxt is not None:
            mid = int(round((hit["time"] + nxt["time"]) / 2 * side["fps"]))
            assert boxes[mid, 3] < floor - 1  # in the air between hits
    truth = io.read_audio(path.with_suffix(".wav"), SR, mono=False)
    assert truth.shape == (2, 3 * SR)
    heard = onsets.detect_onsets(truth, SR)
    assert (
        onsets.f_measure(side["onsets"], heard.times, tolerance_ms=20).recall == 1.0
    )  # a sound at every hit
    assert float(truth[:, : int((side["onsets"][0] - 0.01) * SR)].abs().max()) == 0.0  # and none before
    again = bounce.make_clip(bounce.BounceConfig(path.parent, 2, 4, 3.0, 25.0, 128, SR, 1), 0)
    first = bounce.make_clip(bounce.BounceConfig(path.parent, 2, 4, 3.0, 25.0, 128, SR, 1), 0)
    assert torch.equal(again.frames, first.frames) and torch.equal(again.audio, first.audio)


def test_bounce_lists_every_landing_the_video_shows():
    ball = bounce.Ball("rubber", 10.0, (0.1, 0.1, 0.1), 64.0, 0.0, 90.0, 0.0, 0.6, 0)
    gravity, reference = 300.0, math.sqrt(2 * 300.0 * bounce.REFERENCE_DROP * 128)
    found = bounce.hits(ball, gravity, 6.0, reference)
    t = np.arange(0.0, 6.0, 1e-3)
    dh = np.diff(bounce.height(ball, gravity, found, t))
    landings = t[1:-1][(dh[:-1] < 0) & (dh[1:] >= 0)]  # falling, then rising or resting
    assert np.allclose(landings, [h.time for h in found], atol=2e-3)  # the last one, into rest, too
    assert found[-1].speed < bounce.MIN_SPEED <= found[-2].speed


@pytest.fixture(scope="module")
def dubbed(ball_clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("dubbed") / "dub.mp4"
    # no ambience bed: the soundtrack's onsets are checked against the hits (beds: test_foley_layers)
    result = foley.foley(ball_clip[0], out, config=foley.FoleyConfig(sample_rate=SR), bed="none")
    return result, out


def test_foley_procedural_hits_every_bounce(ball_clip, dubbed):
    _, side = ball_clip
    result, out = dubbed
    events = sorted(e["time"] for o in result.cues["objects"] for e in o["events"])
    assert onsets.f_measure(side["onsets"], events, tolerance_ms=50).f1 >= 0.8
    obj = result.cues["objects"][0]
    assert obj["sound"]["kind"] == "modal" and obj["detector"] == "impacts"
    assert obj["sound"]["material"] == side["objects"][0]["material"]
    info = io.probe(out)
    assert info.has_audio and info.channels == 2 and info.audio_codec == "aac"
    heard = onsets.detect_onsets(io.read_audio(out, SR), SR)
    assert onsets.f_measure(side["onsets"], heard.times, tolerance_ms=50).f1 >= 0.8
    assert (
        result.loudness == pytest.approx(-16.0, abs=0.5) and loudness.sample_peak(result.audio) <= -1.0 + 1e-6
    )
    stems = sorted((out.parent / "dub_stems").glob("*.wav"))
    assert [p.name for p in stems] == sorted([f"object0_{obj['label']}.wav", "reverb.wav"])
    assert json.loads((out.parent / "dub.cues.json").read_text()) == result.cues


def energy(audio: torch.Tensor, start: float, stop: float, sr: int = SR) -> torch.Tensor:
    """Energy per channel between two times. ``(C, L) -> (C,)``."""
    return audio[:, int(start * sr) : int(stop * sr)].pow(2).sum(1)


def test_cue_sheet_edits_render_as_edited(dubbed, tmp_path):
    result, out = dubbed
    cues = json.loads((out.parent / "dub.cues.json").read_text())
    obj = cues["objects"][0]
    first, second = obj["events"][0]["time"], obj["events"][1]["time"]
    obj["pan"], obj["sound"]["material"], cues["room"] = -0.9, "metal", "dry"
    del obj["events"][1]
    shutil.copy(cues["video"], tmp_path / "clip.mp4")
    cues["video"] = "clip.mp4"  # relative to the cue sheet's folder
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(cues))
    assert cli.main(["foley", "render", str(edited), "-o", str(tmp_path / "re.mp4")]) == 0
    audio = io.read_audio(tmp_path / "re.mp4", SR, mono=False)
    left, right = energy(audio, 0, 3.0)
    assert left > 10 * right  # panned hard left as edited
    before = energy(audio, second - 0.12, second - 0.02).sum()
    assert energy(audio, second, second + 0.1).sum() < 1.5 * before  # no new hit where the event was deleted
    ring = energy(audio, first + 0.3, first + 0.4).sum() / energy(audio, first, first + 0.1).sum()
    wood = foley.render({**cues, "objects": [{**obj, "sound": {**obj["sound"], "material": "wood"}}]}).audio
    wood_ring = energy(wood, first + 0.3, first + 0.4).sum() / energy(wood, first, first + 0.1).sum()
    assert ring > 10 * wood_ring  # metal rings on, wood stops
    muted = foley.render({**cues, "objects": [{**obj, "mute": True}]})
    assert float(muted.stems.stack().abs().max()) == 0.0


def test_room_and_loudness_of_renders(dubbed):
    cues = dubbed[0].cues
    obj = cues["objects"][0]
    first = obj["events"][0]
    wood = {**obj, "sound": {**obj["sound"], "material": "wood"}, "events": [first]}
    one_hit = {**cues, "objects": [wood]}
    tails = {}
    for room in ("dry", "hall"):
        r = foley.render({**one_hit, "room": room, "target_lufs": -20.0})
        assert r.loudness == pytest.approx(-20.0, abs=0.5) and r.true_peak <= -0.9
        t = first["time"]
        tails[room] = float(energy(r.audio, t + 0.4, t + 1.2).sum() / energy(r.audio, t, t + 1.2).sum())
    assert tails["hall"] > 10 * tails["dry"]


def test_bad_input_is_explained(tmp_path, dubbed):
    with pytest.raises(io.MediaError, match="missing.mp4"):
        foley.foley(tmp_path / "missing.mp4")
    cues = dubbed[0].cues
    jelly = {**cues["objects"][0], "sound": {"kind": "modal", "material": "jelly"}}
    with pytest.raises(CueError, match=r"objects\[0\]\.sound\.material: must be one of .*got 'jelly'"):
        foley.render({**cues, "objects": [jelly]})
    with pytest.raises(CueError, match="room: must be one of dry, room, hall, outdoor, got 'cave'"):
        foley.render({**cues, "room": "cave"})
    with pytest.raises(CueError, match=r"objects\[0\]\.events\[0\]\.time: missing"):
        foley.render({**cues, "objects": [{**cues["objects"][0], "events": [{"strength": 1}]}]})
    (tmp_path / "bad.json").write_text("{")
    assert cli.main(["foley", "render", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x.mp4")]) == 1


def test_an_output_no_video_can_be_written_under_fails_before_the_work(ball_clip, tmp_path, capsys):
    clip, _ = ball_clip
    for name in ("dub.json", "dub"):
        assert cli.main(["foley", "make", str(clip), "-o", str(tmp_path / name)]) == 1
        assert "cannot write a video with" in capsys.readouterr().err
        assert not (tmp_path / name).exists() and not (tmp_path / f"{name}.cues.json").exists()
    with pytest.raises(io.MediaError, match=r"dub\.json: cannot write a video with '\.json': name it \.mp4"):
        foley.foley(clip, tmp_path / "dub.json")


# --------------------------------------------------------------------------------------------- the bank


def clip_sounds(feature: list[float], category: str, strengths: list[float]) -> bankmod.ClipSounds:
    snippets = [(torch.full((400,), s), s) for s in strengths]
    return bankmod.ClipSounds(torch.tensor(feature), category, snippets)


def test_bank_prototypes_lookup_and_round_trip(tmp_path):
    clips = [
        clip_sounds([1.0, 0.1, 0.0], "drum", [0.2, 0.5, 0.9]),
        clip_sounds([0.9, 0.0, 0.1], "drum", [0.4]),
        clip_sounds([0.0, 0.1, 1.0], "flute", [0.3, 0.6]),
        clip_sounds([0.1, 0.0, 0.9], "drum", [0.7]),
    ]
    bank = bankmod.assemble(clips, prototypes=2, snippets=3, sample_rate=8000)
    drum, dist = bank.nearest(torch.tensor([1.0, 0.0, 0.0]))
    flute, _ = bank.nearest(torch.tensor([0.0, 0.0, 1.0]))
    assert drum != flute and dist < 0.05 and bank.accepts(drum, dist)
    assert not bank.accepts(drum, 1.5)
    assert bank.categories[drum] == "drum" and bank.purity[drum] == 1.0
    assert bank.categories[flute] in ("flute", "drum") and bank.purity[flute] == 0.5
    assert len(bank.members(drum)) == 3  # four snippets, three kept, spread over strengths
    rng = np.random.default_rng(0)
    assert float(bank.strength[bank.choose(drum, 0.0, rng)]) <= 0.4
    bank.save(tmp_path / "bank")
    back = soundbank.Bank.load(tmp_path / "bank")
    torch.testing.assert_close(back.centroids, bank.centroids)
    assert back.categories == bank.categories and len(back.snippets) == len(bank.snippets)
    torch.testing.assert_close(back.snippets[0], bank.snippets[0], atol=1e-3, rtol=0)  # stored as float16
    with pytest.raises(soundbank.BankError, match="5 components, the bank.s prototypes 3"):
        back.nearest(torch.zeros(5))
    with pytest.raises(soundbank.BankError, match="missing"):
        soundbank.Bank.load(tmp_path / "nothing")


def tiny_release(folder: Path) -> Path:
    from pixelsound.checkpoint import write_release
    from pixelsound.model import SoundOfPixels

    cfg = Config(
        audio=AudioConfig(sample_rate=8000, length=4095, n_fft=254, hop=64, log_bins=64),
        frames=FramesConfig(num_frames=2, size=32),
        model=ModelConfig(k=4, frame_layers=2, frame_width=8, unet_depth=2, unet_channels=8),
    )
    torch.manual_seed(0)
    return write_release(folder, SoundOfPixels(cfg), cfg)


def pulsing_clip(path: Path, colour: tuple[int, int, int], hits: list[float], audio: bool) -> Path:
    """A square that jumps on every hit (and a click there when ``audio``): 2 s, 16 fps, 64 px."""
    fps, sr = 16.0, 8000
    frames = torch.full((32, 3, 64, 64), 30, dtype=torch.uint8)
    for i in range(32):
        lift = max([0.0] + [np.exp(-(i / fps - h) / 0.1) * 8 for h in hits if i / fps >= h - 0.03])
        top = int(24 - lift)
        frames[i, :, top : top + 16, 20:36] = torch.tensor(colour, dtype=torch.uint8)[:, None, None]
    sound = None
    if audio:
        t = torch.arange(2 * sr) / sr
        sound = sum(torch.sin(2 * np.pi * 600 * t) * torch.exp(-(t - h) / 0.05) * (t >= h) for h in hits)[
            None
        ]
    io.write_video(path, frames, fps, sound * 0.5 if audio else None, sr if audio else None)
    return path


def colour_features(frames: torch.Tensor) -> torch.Tensor:
    """Stand-in for a trained frame net: per 8x8 cell, the mean colour and darkness. ``(B, V, 3, H, W) ->
    (B, 4, H / 8, W / 8)``."""
    x = frames.float().mean(1) / 255  # (B, 3, H, W)
    x = torch.cat([x, 1 - x.mean(1, keepdim=True)], 1)
    return torch.nn.functional.avg_pool2d(x, 8)


def test_bank_build_and_foley_with_bank(tmp_path):
    from pixelsound.checkpoint import load_release

    model, _ = load_release(tiny_release(tmp_path / "model"))
    model.pixel_features = colour_features  # visual vectors that tell red from green
    hits = [0.3, 0.8, 1.4]
    records = []
    for i, colour in enumerate([(220, 60, 60), (60, 200, 90)]):
        path = pulsing_clip(tmp_path / f"solo{i}.mp4", colour, hits, audio=True)
        info = io.probe(path)
        records.append(
            {"path": str(path), **info.to_dict(), "category": ["red", "green"][i], "split": "train"}
        )
    write_index(tmp_path / "train.jsonl", records)
    bank = bankmod.build_bank(tmp_path / "train.jsonl", model, tmp_path / "bank", prototypes=2, seconds=2.0)
    assert len(bank) == 2 and len(bank.snippets) >= 2 and set(bank.categories) == {"red", "green"}
    assert (tmp_path / "bank" / "bank.safetensors").is_file() and (tmp_path / "bank" / "bank.json").is_file()
    silent = pulsing_clip(tmp_path / "silent.mp4", (220, 60, 60), hits, audio=False)
    cfg = foley.FoleyConfig(sample_rate=SR)
    result = foley.foley(silent, tmp_path / "dub.mp4", model=model, bank=tmp_path / "bank", config=cfg)
    obj = result.cues["objects"][0]
    assert obj["sound"]["kind"] == "bank" and obj["category"] == "red" and obj["label"] == "red"
    assert all("snippet" in e for e in obj["events"])
    assert onsets.f_measure(hits, [e["time"] for e in obj["events"]], tolerance_ms=50).f1 >= 0.8
    heard = onsets.detect_onsets(result.audio, SR)
    assert onsets.f_measure(hits, heard.times, tolerance_ms=50).f1 >= 0.8  # the snippets play at the events
    again = foley.render(tmp_path / "dub.cues.json")
    torch.testing.assert_close(again.audio, result.audio)  # rendering is a pure function of the cue sheet


def test_bounce_cli_arguments(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    bounce.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path), "--clips", "1", "--seconds", "1", "--size", "64"])
    assert bounce.run(args) == 0
    (record,) = read_index(tmp_path / "bounce_test.jsonl")
    assert (
        record["kind"] == "bounce" and not record["has_audio"] and (tmp_path / record["soundtrack"]).is_file()
    )
    bad = parser.parse_args(["--out", str(tmp_path), "--clips", "0"])
    with pytest.raises(ValueError, match="need clips >= 1"):
        bounce.run(bad)  # the command line turns it into one line and exit 1
    assert cli.main(["data", "bounce", "--out", str(tmp_path), "--clips", "0"]) == 1
