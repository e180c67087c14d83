"""Foley's other layers and its cue sheet: ambience beds, the voice track, ducking, validation, safe paths."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelsound import ambience, cli, cues, foley, io, mixdown, objectsound, soundtrack, voice

SR = 16000


def tiny_clip(path: Path, sound: bool = False) -> Path:
    """A grey square that jumps at 0.5 s and 1.25 s on a dark wall: 2 s, 16 fps, 64 px (a click on each jump
    when ``sound``)."""
    fps = 16.0
    frames = torch.full((32, 3, 64, 64), 30, dtype=torch.uint8)
    for i in range(32):
        lift = 10 if any(0 <= i / fps - h < 0.2 for h in (0.5, 1.25)) else 0
        frames[i, :, 30 - lift : 46 - lift, 20:36] = 160
    audio = None
    if sound:
        audio = torch.zeros(1, 2 * 8000)
        audio[0, 4000:4100] = 0.5
    io.write_video(path, frames, fps, audio, 8000 if sound else None)
    return path


def sheet(**extra) -> dict:
    """A cue sheet with one modal object (two hits of a ringing metal thing) and whatever ``extra`` says."""
    obj = {
        "id": "object0",
        "label": "metal",
        "pan": 0.0,
        "gain_db": 0.0,
        "sound": {"kind": "modal", "material": "metal", "size": 1.0},
        "events": [{"time": 0.3, "strength": 0.8}, {"time": 2.2, "strength": 0.8}],
    }
    return {"duration": 3.0, "sample_rate": SR, "room": "dry", "objects": [obj], "ambience": None, **extra}


class ToneVoice:
    """A text-to-speech stand-in: 0.2 s of silence, then a 300 Hz tone 0.1 s per character (any engine that
    fits :class:`pixelsound.voice.Backend` plugs in the same way)."""

    name = "tone"

    def synthesize(self, text: str, voice: str, rate: float) -> tuple[np.ndarray, int]:
        sr = 8000
        t = np.arange(int(0.1 * len(text) / rate * sr)) / sr
        return np.concatenate([np.zeros(int(0.2 * sr)), 0.5 * np.sin(2 * np.pi * 300 * t)]).astype(
            np.float32
        ), sr


def first_sound(wave: torch.Tensor, sr: int) -> float:
    """Seconds of the first sample within 40 dB of the peak. ``(C, L) -> float``."""
    return voice.speech_start(wave.abs().amax(0).numpy()) / sr


# ------------------------------------------------------------------------------------------------ voice


def test_espeak_line_starts_on_its_cue():
    result = foley.render(sheet(voice=[{"text": "Here comes the drum", "start": 1.0}]))
    spoken = result.layers["voice"]
    assert abs(first_sound(spoken, SR) - 1.0) <= 0.02  # within 20 ms of the cue
    assert float(spoken[:, : int(0.99 * SR)].abs().max()) == 0.0
    ((start, end),) = result.spans
    assert start == pytest.approx(1.0, abs=1e-3) and 1.3 < end < 2.9  # a second or so of speech
    assert result.loudness == pytest.approx(-16.0, abs=0.5)


def test_ducking_lowers_the_rest_by_the_set_amount():
    line = {"text": "x" * 8, "start": 1.0}  # the tone voice: 0.8 s of tone from 1.0 s
    base = sheet(ambience={"name": "room_tone"}, duck={"depth_db": 12.0, "attack": 0.05, "release": 0.3})
    quiet = foley.render(base)
    spoken = foley.render({**base, "voice": [line]}, tts=ToneVoice())
    ((start, end),) = spoken.spans
    assert start == pytest.approx(1.0, abs=0.002) and end == pytest.approx(1.8, abs=0.01)
    # the same bed, scaled by the master gain and the ducking: compare with the master gains taken out
    ratio = (
        spoken.layers["ambience"] / quiet.layers["ambience"] * 10 ** ((quiet.gain_db - spoken.gain_db) / 20)
    )
    db = 20 * torch.log10(ratio[0].abs())
    t = lambda s: int(s * SR)  # noqa: E731
    assert float(db[t(1.0) : t(1.8)].max()) == pytest.approx(-12.0, abs=0.1)  # fully down while speaking
    assert float(db[t(1.0) : t(1.8)].min()) == pytest.approx(-12.0, abs=0.1)
    assert float(db[: t(0.9)].abs().max()) < 0.01 and float(db[t(2.5) :].abs().max()) < 0.01  # untouched
    objects = spoken.stems[0] / quiet.stems[0].where(quiet.stems[0].abs() > 1e-6, torch.ones(()))
    gain = objects[0, t(1.2) : t(1.6)][quiet.stems[0][0, t(1.2) : t(1.6)].abs() > 1e-6]
    assert 20 * math.log10(float(gain.abs().mean())) + quiet.gain_db - spoken.gain_db == pytest.approx(
        -12, abs=0.2
    )
    assert spoken.loudness == pytest.approx(-16.0, abs=0.5)  # the whole mix still normalized


def test_objects_mixed_one_at_a_time_match_the_whole_mixdown():
    """render sums its objects one at a time and renders a stem again when asked for: the same master and
    stems as :func:`mixdown.mixdown` on all tracks at once (what render did before, in O(N x L) memory)."""
    materials = ["metal", "wood", "glass", "plastic"]
    objects = [
        {**sheet()["objects"][0], "id": f"o{k}", "pan": k / 5 - 0.9, "gain_db": -k / 2,
         "sound": {"kind": "modal", "material": materials[k % 4], "size": 0.5 + k / 10, "seed": k}}
        for k in range(10)
    ]  # fmt: skip
    line = {"text": "x" * 8, "start": 1.0}
    result = foley.render(
        sheet(objects=objects, ambience={"name": "room_tone"}, voice=[line], room="room"), tts=ToneVoice()
    )
    c, length = result.cues, 3 * SR
    tracks = torch.stack([objectsound.object_track(o, length, SR, None, None, o["id"]) for o in c["objects"]])
    spoken = voice.voice_track(c["voice"], length, SR, ToneVoice())
    d = c["duck"]
    whole = mixdown.mixdown(
        tracks,  # (N, L)
        torch.tensor([o["pan"] for o in c["objects"]]),
        torch.tensor([o["gain_db"] for o in c["objects"]]),
        c["room"],
        SR,
        seed=c["seed"],
        layers=soundtrack._layers(c, length, None, None, spoken),
        duck=mixdown.Duck(d["depth_db"], d["attack"], d["release"], d["hold"], d["threshold_db"]),
    )
    torch.testing.assert_close(result.audio, whole.audio, atol=1e-5, rtol=0)
    stems = result.stems.stack()  # (N, 2, L): each rendered again
    assert len(result.stems) == 10 and stems.shape == (10, 2, length)
    torch.testing.assert_close(stems, whole.stems, atol=1e-6, rtol=0)
    torch.testing.assert_close(result.stems[-1], stems[9], atol=0, rtol=0)  # rendering again is exact
    with pytest.raises(IndexError):
        result.stems[10]


def test_duck_gain_ramps():
    key = torch.zeros(SR * 2)
    key[SR // 2 : SR] = 0.5
    gain = mixdown.duck_gain(key, SR, mixdown.Duck(depth_db=6.0, attack=0.1, release=0.2, hold=0.0))
    db = 20 * torch.log10(gain)
    # the key counts from 5 ms before it sounds (its power is measured over a centred 10 ms)
    assert float(db[int(0.39 * SR)]) == 0.0 and float(db[int(0.445 * SR)]) == pytest.approx(-3.0, abs=0.1)
    assert float(db[SR // 2]) == pytest.approx(-6.0, abs=0.01)  # down when the key starts (look-ahead)
    assert float(db[int(1.105 * SR)]) == pytest.approx(-3.0, abs=0.1) and float(db[int(1.25 * SR)]) == 0.0


def test_missing_tts_engine_is_a_clear_error():
    with pytest.raises(voice.VoiceError, match="needs 'no-such-espeak'.*apt-get install espeak-ng"):
        voice.EspeakNG("no-such-espeak").synthesize("hello", "", 1.0)
    with pytest.raises(voice.VoiceError, match="could not speak 'hello' with voice 'xx-nothing'"):
        voice.EspeakNG().synthesize("hello", "xx-nothing", 1.0)
    assert voice.parse_say("Here comes the drum@1.5") == {"text": "Here comes the drum", "start": 1.5}
    assert voice.parse_say("mail me@home@2")["text"] == "mail me@home"
    for bad in ("no time", "@1", "hello@soon", "hello@-1"):
        with pytest.raises(ValueError, match="expected TEXT@SECONDS"):
            voice.parse_say(bad)


# ------------------------------------------------------------------------------------------------ ambience


def loop_jumps(bed: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Absolute sample-to-sample steps of a bed played twice in a row (mono sum): at the synthesis block
    boundaries, everywhere, and across the loop point."""
    x = bed.sum(0)
    steps = np.abs(np.diff(x))
    at = np.arange(block, len(x), block) - 1
    return steps[at], steps, abs(float(x[0] - x[-1]))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["room_tone", "chirps"])  # filtered noise; overlap-added events
def test_ten_minute_bed_has_no_click(name):
    sr, block = 8000, int(ambience.BLOCK_SECONDS * 8000)
    bed = ambience.bed(name, 600 * sr, sr, seed=3).double().numpy()  # (2, L)
    assert bed.shape == (2, 600 * sr) and np.isfinite(bed).all()
    at, steps, loop = loop_jumps(bed, block)
    near = np.concatenate([steps[b - 8 : b + 8] for b in range(block, len(steps), block)])
    assert near.max() <= steps.max()  # no step near a block boundary beyond the largest anywhere
    assert at.mean() <= 1.3 * steps.mean()  # the steps across the 599 boundaries are ordinary steps
    assert loop <= np.quantile(steps, 0.999)  # and so is the step from the end back to the start
    if name == "room_tone":  # a smooth bed, where a splice would click: the statistic must catch one
        starts = np.random.default_rng(0).integers(0, bed.shape[1] - block, 600)
        spliced = np.concatenate([bed[:, s : s + block] for s in starts], 1)
        at, steps, _ = loop_jumps(spliced, block)
        assert at.mean() > 1.5 * steps.mean()


def test_beds_are_deterministic_and_parametrized():
    for name in ambience.BEDS:
        one = ambience.bed(name, SR, SR, seed=1)
        assert one.shape == (2, SR) and torch.isfinite(one).all()
        assert torch.equal(one, ambience.bed(name, SR, SR, seed=1))
        assert not torch.equal(one, ambience.bed(name, SR, SR, seed=2))
    mono = ambience.bed("wind", SR, SR, width=0.0)
    assert torch.allclose(mono[0], mono[1])
    heavy = ambience.generate("rain", SR, SR, params={"density": 1.0})
    light = ambience.generate("rain", SR, SR, params={"density": 0.0})
    assert np.abs(np.diff(heavy)).mean() > np.abs(np.diff(light)).mean()
    with pytest.raises(ValueError, match="rain.*no parameter 'speed'"):
        ambience.resolve_params("rain", {"speed": 1})
    with pytest.raises(ValueError, match=r"density must be a number in \[0, 1\], got 7"):
        ambience.resolve_params("rain", {"density": 7})


def test_bed_chosen_from_the_scene():
    def scene(**stats):
        return {"brightness": 0.6, "saturation": 0.4, "sky": 0.0, "green": 0.0, "blue": 0.0, "grey": 0.0,
                "activity": 0.01, **stats}  # fmt: skip

    assert ambience.choose("outdoor", scene(sky=0.9, green=0.6)) == "chirps"
    assert ambience.choose("room", scene(sky=0.8, blue=0.9)) == "water"
    assert ambience.choose("outdoor", scene(grey=0.8, activity=0.2)) == "rumble"
    assert ambience.choose("outdoor", scene(brightness=0.2)) == "rain"
    assert ambience.choose("outdoor", scene()) == "wind"
    assert ambience.choose("hall", scene()) == "crowd"
    assert ambience.choose("dry", scene()) == "room_tone"
    park = torch.zeros(3, 50, 40, dtype=torch.uint8)
    park[:, :35] = torch.tensor([110, 170, 230], dtype=torch.uint8)[:, None, None]  # sky
    park[:, 35:] = torch.tensor([40, 120, 40], dtype=torch.uint8)[:, None, None]  # grass
    stats = ambience.scene_stats(park, 0.02)
    assert stats["sky"] == 1.0 and stats["green"] == 1.0 and ambience.choose("outdoor", stats) == "chirps"


def test_a_bed_alone_stays_quiet():
    alone = foley.render({**sheet(ambience={"name": "wind", "level_db": -20.0}), "objects": []})
    assert alone.loudness == pytest.approx(-16.0 - 20.0, abs=0.5)  # not pushed up to the target


def test_bed_sits_under_the_objects():
    result = foley.render(sheet(ambience={"name": "wind", "level_db": -20.0}))
    from pixelsound import loudness

    objects = loudness.integrated_loudness(result.stems.stack().sum(0) + result.reverb, SR)
    bed = loudness.integrated_loudness(result.layers["ambience"], SR)
    assert bed - objects == pytest.approx(-20.0, abs=0.5)
    left, right = result.layers["ambience"]
    assert 0.2 < float(torch.corrcoef(torch.stack([left, right]))[0, 1]) < 0.95  # spread, not mono


# ------------------------------------------------------------------------------------------------ cue sheet


HOSTILE = [
    ({"sample_rate": 0}, r"sample_rate: must be an integer in \[8000, 192000\], got 0"),
    ({"duration": -1}, r"duration: must be a number in \[0.001, 86400\], got -1"),
    ({"target_lufs": 30}, r"target_lufs: must be a number in \[-60, -5\], got 30"),
    ({"objects": [{"id": "a", "events": []}]}, r"objects\[0\]\.sound: missing \(required\)"),
    (
        {"objects": [{"id": "a", "sound": {}, "events": [], "pan": "left"}]},
        r"objects\[0\]\.pan: .*got 'left'",
    ),
    ({"objects": [{"id": "a", "sound": {}, "events": [], "pan": float("nan")}]}, r"pan: must be a finite"),
    ({"objects": [{"id": "a", "sound": {}, "events": [], "pan": 5}]}, r"pan: must be a number in \[-1, 1\]"),
    (
        {"objects": [{"id": "a", "sound": {}, "events": [], "gain_db": 500}]},
        r"gain_db: .*\[-60, 24\], got 500",
    ),
    ({"objects": [{"id": "a", "sound": {}, "events": [{"time": -0.5}]}]}, r"events\[0\]\.time: .*got -0.5"),
    (
        {"objects": [{"id": "a", "sound": {}, "events": [{"time": 9}]}]},
        r"events\[0\]\.time: .*\[0, 3\], got 9",
    ),
    ({"objects": [{"id": "a", "sound": {"kind": "synth"}, "events": []}]}, r"sound\.kind: .*got 'synth'"),
    ({"ambience": "ocean"}, r"ambience\.name: must be one of room_tone, .*, none, got 'ocean'"),
    ({"ambience": {"name": "rain", "params": {"density": 3}}}, r"ambience\.params: .*density must be"),
    ({"voice": [{"start": 1}]}, r"voice\[0\]\.text: missing"),
    ({"voice": [{"text": " ", "start": 1}]}, r"voice\[0\]\.text: must have 1 to 2000 characters"),
    ({"voice": [{"text": "hi", "start": 3}]}, r"voice\[0\]\.start: must be a number in \[0, 3\), got 3"),
    ({"voice": [{"text": "hi", "start": 1, "rate": 10}]}, r"voice\[0\]\.rate: .*got 10"),
    ({"voice": [{"text": "hi", "start": 1, "voice": "../x"}]}, r"voice\[0\]\.voice: must be letters"),
    ({"voice": "hello"}, r"voice: must be a list, got 'hello'"),
    ({"duck": {"depth_db": -5}}, r"duck\.depth_db: .*got -5"),
]


@pytest.mark.parametrize("edit, message", HOSTILE, ids=[m.split(":")[0][:24] for _, m in HOSTILE])
def test_cue_validation_names_file_and_key(edit, message):
    with pytest.raises(cues.CueError, match="^edited.cues.json: .*" + message):
        cues.validate({**sheet(), **edit}, "edited.cues.json")


def test_cue_validation_reports_many_problems_on_one_line(tmp_path, caplog):
    bad = {**sheet(), "sample_rate": 0, "peak_db": 3, "room": "cave"}
    with pytest.raises(cues.CueError) as err:
        cues.validate(bad, "x.json")
    assert "\n" not in str(err.value) and all(k in str(err.value) for k in ("sample_rate", "peak_db", "room"))
    filled = cues.validate({"duration": 2.0, "objects": [], "typo_key": 1}, "y.json")
    assert filled["sample_rate"] == 44100 and filled["duck"]["depth_db"] == 10.0 and filled["voice"] == []
    assert "typo_key" in caplog.text  # unknown keys are named
    short = cues.validate({"duration": 2.0, "ambience": "rain"}, "z.json")["ambience"]  # a bed name will do
    assert short["name"] == "rain" and short["level_db"] == ambience.spec("rain").level_db
    assert cues.validate({"duration": 2.0, "ambience": "none"}, "z.json")["ambience"] is None
    with pytest.raises(cues.CueError, match="ambience: must be an object, a bed name or null, got 5"):
        cues.validate({"duration": 2.0, "ambience": 5}, "z.json")
    path = tmp_path / "bad.cues.json"
    path.write_text(json.dumps(bad))
    with caplog.at_level(logging.ERROR):
        assert cli.main(["foley", "render", str(path), "-o", str(tmp_path / "x.mp4")]) == 1
    assert f"{path}: sample_rate" in caplog.text and not (tmp_path / "x.mp4").exists()


def test_hostile_ids_stay_inside_the_stems_folder(tmp_path):
    hostile = ["/abs/path", "../../x", "..", "", "a/../../b", "object0", "object0"]
    base = sheet()["objects"][0]
    objs = [{**base, "id": i, "label": "../lab"} for i in hostile]
    result = foley.render({**sheet(), "objects": objs})
    out = tmp_path / "deep" / "folder"
    paths = result.write(stems_dir=out / "stems", write_cues=False)["stems"]
    assert len(set(paths)) == len(paths) == len(hostile) + 1
    for p in paths:
        assert Path(p).resolve().parent == (out / "stems").resolve()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(Path(p).name for p in paths)
    assert not Path("/abs/path_lab.wav").exists() and cues.safe_name("../../x") == "x"


# ------------------------------------------------------------------------------------------------ end to end


def test_say_on_the_command_line_then_edit_and_render(tmp_path):
    silent = tiny_clip(tmp_path / "silent.mp4")
    out = tmp_path / "out.mp4"
    say = ["-o", str(out), "--say", "Here comes the drum@1.0", "--sample-rate", str(SR)]
    assert cli.main(["foley", str(silent), *say]) == 0  # the short form of `foley make`
    sheet_path = tmp_path / "out.cues.json"
    written = json.loads(sheet_path.read_text())
    bed = written["ambience"]["name"]
    assert bed in ambience.BEDS and written["voice"][0]["text"] == "Here comes the drum"
    names = sorted(p.name for p in (tmp_path / "out_stems").iterdir())
    assert names == sorted(["object0_metal.wav", "reverb.wav", f"ambience_{bed}.wav", "voice.wav"])
    spoken = io.read_audio(tmp_path / "out_stems" / "voice.wav", SR, mono=False)
    assert abs(first_sound(spoken, SR) - 1.0) <= 0.02
    assert io.probe(out).has_audio
    written["voice"][0]["start"] = 0.4  # a line moved, the ambience swapped
    written["ambience"] = {"name": "rain"}
    sheet_path.write_text(json.dumps(written))
    assert cli.main(["foley", "render", str(sheet_path), "-o", str(tmp_path / "again.mp4")]) == 0
    names = sorted(p.name for p in (tmp_path / "again_stems").iterdir())
    assert "ambience_rain.wav" in names and (tmp_path / "out_stems" / f"ambience_{bed}.wav").exists()
    spoken = io.read_audio(tmp_path / "again_stems" / "voice.wav", SR, mono=False)
    assert abs(first_sound(spoken, SR) - 0.4) <= 0.02


def test_video_with_sound_warns_or_mixes(tmp_path, caplog):
    clip = tiny_clip(tmp_path / "loud.mp4", sound=True)
    cfg = foley.FoleyConfig(sample_rate=SR)
    with caplog.at_level(logging.WARNING):
        plain = foley.foley(clip, config=cfg)
    assert "already has sound" in caplog.text and "original" not in plain.layers
    mixed = foley.foley(clip, config=cfg, mix_original=True, bed="none")
    kept = mixed.layers["original"]
    assert mixed.cues["original"] == {"level_db": 0.0} and kept.shape == mixed.audio.shape
    assert abs(first_sound(kept, SR) - 0.5) < 0.01  # the click at 0.5 s, where the file has it


def test_schema_is_documented():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    sections = (cues.TOP, cues.OBJECT, cues.AMBIENCE, cues.VOICE, cues.DUCK, cues.ORIGINAL, cues.EVENT)
    for keys in sections:
        for name, key in keys.items():
            if key is not cues.INFO:
                assert (
                    f"    {name}: " in cues.__doc__
                    or f"; {name}: " in cues.__doc__
                    or f'"{name}"' in cues.__doc__
                ), name
                assert f"`{name}`" in readme, name
    for bed in ambience.BEDS:
        assert bed in cues.__doc__ and f"`{bed}`" in readme
