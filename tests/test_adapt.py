"""`pixelsound adapt` on tiny media: broken files and no categories, the result in every verb, resume;
`train --init` with a config that does not fit."""

import json
import os
import signal

import pytest
import torch

import pixelsound.adapt as A
import pixelsound.train as T
from pixelsound import cli, io
from pixelsound.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_init_weights,
    load_release,
    write_release,
)
from pixelsound.config import replace
from pixelsound.model import SoundOfPixels
from tiny import tiny_config

PROTOTYPES = {"flute": [1.0, 0.0, 0.0, 0.0], "drum": [0.0, 0.0, 0.0, 1.0]}
FAST = ["train.steps_per_epoch=2", "train.epochs=2", "train.batch_size=2", "train.val_mixes=4"]
FAST += ["train.warmup_steps=1", "train.log_every=1"]


def tiny_release(folder, **model):
    torch.manual_seed(0)
    cfg = tiny_config(**model)
    return write_release(folder, SoundOfPixels(cfg), cfg, {"prototypes": PROTOTYPES})


@pytest.fixture
def videos(tmp_path, make_clip):
    """Six good 1 s videos (each its own tone and colour, no categories) and four files adapt must skip."""
    folder = tmp_path / "videos"
    for k in range(6):
        color = (40 * k, 200 - 30 * k, 120)
        make_clip(folder, f"v{k}.mp4", freq=250.0 + 170 * k, color=color, sr=8000)
    make_clip(folder / "more", "short.mp4", seconds=0.3, sr=8000)  # shorter than the 0.51 s window
    make_clip(folder / "more", "mute.mp4", audio=False)
    (folder / "notes.mp4").write_text("not a video\n")
    data = (folder / "v0.mp4").read_bytes()
    (folder / "more" / "cut.mp4").write_bytes(data[:300])
    return folder


def adapt_cli(videos, out, release, *extra):
    args = ["adapt", str(videos), "--out", str(out), "--model", str(release), "--minutes", "5"]
    return cli.main([*args, "--set", *FAST, *extra])


def test_adapt_skips_broken_files_and_the_release_works_in_every_verb(tmp_path, videos):
    release = tiny_release(tmp_path / "start")
    out = tmp_path / "mine"
    assert adapt_cli(videos, out, release) == 0
    report = json.loads((out / "report.json").read_text())
    skipped = {os.path.basename(r["path"]): r["reason"] for r in report["rejected"]}
    assert set(skipped) == {"short.mp4", "mute.mp4", "notes.mp4", "cut.mp4"}
    assert "window" in skipped["short.mp4"] and "audio" in skipped["mute.mp4"]
    assert (report["train_clips"], report["held_back_clips"], report["categories"]) == (4, 2, [])
    assert report["steps"] == 4 and len(report["curve"]) == 2 and report["stopped"] == "done"
    assert report["after_sdr"] >= report["before_sdr"]  # the better of the starting and adapted weights
    held = {r["path"] for r in map(json.loads, (out / "adapt" / "held_back.jsonl").open())}
    trained = {r["path"] for r in map(json.loads, (out / "adapt" / "train.jsonl").open())}
    assert not held & trained and len(held) == 2
    assert (out / "curve.png").stat().st_size > 0 and "| before" in (out / "report.md").read_text()
    model, cfg = load_release(out)
    info = json.loads((out / "config.json").read_text())["info"]
    assert info["prototypes"] == PROTOTYPES  # no categories: the starting model's prototypes are kept
    if info["adapted"]:
        best = load_release(out / "adapt" / "best")[0].state_dict()
        assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    clip, other = videos / "v0.mp4", videos / "v1.mp4"
    assert (
        cli.main(["separate", str(clip), str(other), "--model", str(out), "--out", str(tmp_path / "s")]) == 0
    )
    assert len(list((tmp_path / "s").glob("*.wav"))) == 3
    pixels_out = tmp_path / "p"
    assert (
        cli.main(["pixels", str(clip), "--model", str(out), "--out", str(pixels_out), "--page-seconds", "1"])
        == 0
    )
    assert (pixels_out / "pixels.json").is_file()
    assert cli.main(["score", str(clip), "--model", str(out), "--json"]) == 0
    silent = tmp_path / "silent.mp4"
    io.write_video(silent, io.read_frames(clip)[0], 8.0)
    assert cli.main(["foley", "make", str(silent), "-o", str(tmp_path / "dub.mp4"), "--model", str(out)]) == 0
    assert io.probe(tmp_path / "dub.mp4").has_audio


def test_adapt_with_categories_recomputes_prototypes(tmp_path, videos):
    for k in range(6):
        (videos / f"v{k}.json").write_text(json.dumps({"category": ["bell", "horn"][k % 2]}))
    out = tmp_path / "mine"
    assert adapt_cli(videos, out, tiny_release(tmp_path / "start"), "train.epochs=1") == 0
    prototypes = json.loads((out / "config.json").read_text())["info"]["prototypes"]
    assert set(prototypes) == {"bell", "horn"} and all(len(v) == 4 for v in prototypes.values())
    assert json.loads((out / "report.json").read_text())["categories"] == ["bell", "horn"]


def test_a_killed_adapt_resumes_where_it_stopped(tmp_path, videos, monkeypatch, caplog):
    release, out = tiny_release(tmp_path / "start"), tmp_path / "mine"
    step, calls = T.train_step, []

    def step_then_sigterm(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(*args, **kwargs)

    monkeypatch.setattr(T, "train_step", step_then_sigterm)
    assert adapt_cli(videos, out, release) == 143  # 128 + SIGTERM
    assert load_checkpoint(out / "adapt" / "last.pt")["step"] == 3
    assert adapt_cli(videos, out, release) == 1 and "pass --resume" in caplog.text
    monkeypatch.setattr(T, "train_step", step)
    monkeypatch.setattr(A, "held_back_sdr", lambda *a: pytest.fail("resume measured the start again"))
    assert adapt_cli(videos, out, release, "--resume") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["steps"] == 4 and report["stopped"] == "done"
    assert load_checkpoint(out / "adapt" / "last.pt")["epoch"] == 2


def test_a_budget_in_steps_sets_whole_intervals_and_no_time_limit(tmp_path):
    release = tiny_release(tmp_path / "start")
    base = replace(load_release(release)[1], data={"monitor_index": "far.jsonl", "timbre": 0.5})
    cfg = A.adapt_config(base, tmp_path, 0.0, ("train.steps_per_epoch=4",), steps=10)
    assert (cfg.train.epochs, cfg.train.steps_per_epoch, cfg.train.max_minutes) == (3, 4, 0.0)
    assert cfg.data.monitor_index == ""  # the release's own monitor is not the user's material
    assert cfg.data.timbre == 0.0  # nor its timbre variation, unless asked for
    assert A.adapt_config(base, tmp_path, 0.0, ("data.timbre=0.5",)).data.timbre == 0.5
    assert A.adapt_config(base, tmp_path, 10.0).train.epochs == A.ADAPT_TRAIN["epochs"]


def test_adapt_stops_after_its_steps(tmp_path, videos):
    release = tiny_release(tmp_path / "s")
    args = ["adapt", str(videos), "--out", str(tmp_path / "mine"), "--model", str(release)]
    assert cli.main([*args, "--steps", "5", "--set", *FAST]) == 0  # 2 steps per validation, not 2 epochs
    report = json.loads((tmp_path / "mine" / "report.json").read_text())
    assert report["steps"] == 6 and report["stopped"] == "done"
    with pytest.raises(A.AdaptError, match="one of them > 0"):
        A.adapt(videos, tmp_path / "o", A.AdaptOptions(model=tmp_path / "s", minutes=0.0))


def test_adapt_needs_four_videos(tmp_path, make_clip):
    for k in range(3):
        make_clip(tmp_path / "few", f"v{k}.mp4", sr=8000)
    with pytest.raises(A.AdaptError, match="3 usable videos: adapting needs at least 4"):
        A.adapt(tmp_path / "few", tmp_path / "out", A.AdaptOptions(model=tiny_release(tmp_path / "start")))


def test_init_copies_weights_and_a_config_that_differs_is_named(tmp_path, caplog):
    release = tiny_release(tmp_path / "start")
    cfg = replace(tiny_config(), model={"pool_top": 0.2})  # changes the objective, not the weights: fine
    model = SoundOfPixels(cfg)
    load_init_weights(model, release, cfg)
    start = load_release(release)[0].state_dict()
    assert all(torch.equal(v, start[k]) for k, v in model.state_dict().items())
    other = replace(tiny_config(), model={"k": 8}, audio={"hop": 32})
    with pytest.raises(CheckpointError, match=r"config differs in audio\.hop \(release 64, recipe 32\)"):
        load_init_weights(SoundOfPixels(other), release, other)
    recipe = tmp_path / "recipe.toml"
    recipe.write_text("[model]\nk = 8\n[data]\ntrain_index = 'x.jsonl'\n")
    assert cli.main(["train", str(recipe), "--out", str(tmp_path / "run"), "--init", str(release)]) == 1
    assert "model.k (release 4, recipe 8)" in caplog.text and str(release) in caplog.text


def test_init_widens_a_narrower_release_without_changing_its_output(tmp_path):
    release = tiny_release(tmp_path / "start", unet_depth=3, contrast=0.1)
    small = load_release(release)[0]
    cfg = replace(tiny_config(unet_depth=3, contrast=0.1), model={"unet_channels": 12, "frame_width": 16})
    torch.manual_seed(1)
    wide = SoundOfPixels(cfg)
    load_init_weights(wide, release, cfg)
    assert wide.audio_net.up[1][2].weight.shape[1] == 2 * 24  # [skip, up] of the wider level
    mix, frames = torch.randn(3, 4095) * 0.1, torch.randint(0, 256, (3, 2, 2, 3, 32, 32), dtype=torch.uint8)
    for mode in ("eval", "train"):  # train: BatchNorm on batch statistics, per channel
        getattr(small, mode)(), getattr(wide, mode)()
        with torch.no_grad():
            a, b = small(mix, frames), wide(mix, frames)
        assert torch.allclose(a.logits, b.logits, atol=1e-5), mode
    # the new channels are read by nothing yet, but their outgoing weights get gradients: training grows them
    wide.train()
    wide(mix, frames).logits.square().mean().backward()
    assert wide.audio_net.up[1][2].weight.grad[:, 16:24].abs().sum() > 0
    assert wide.frame_net.head.weight.grad[:, 16:].abs().sum() > 0
    # a narrower recipe than the release is not a widening: named like any other difference
    narrow = replace(tiny_config(unet_depth=3, contrast=0.1), model={"unet_channels": 4})
    with pytest.raises(CheckpointError, match=r"model\.unet_channels \(release 8, recipe 4\)"):
        load_init_weights(SoundOfPixels(narrow), release, narrow)
