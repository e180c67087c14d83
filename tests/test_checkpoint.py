"""Atomic files, training checkpoints (weights_only) and released models (safetensors + JSON)."""

import json
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pixelsound.atomic import save_atomic
from pixelsound.checkpoint import (
    BUNDLED_MODEL,
    NO_MODEL,
    CheckpointError,
    load_checkpoint,
    load_model,
    load_release,
    optional_model,
    release_prototypes,
    rng_state,
    save_checkpoint,
    set_rng_state,
    write_release,
)
from pixelsound.config import replace
from pixelsound.model import SoundOfPixels
from tiny import tiny_config


def inputs(b=2, n=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(b, 4095, generator=gen) * 0.1
    frames = torch.randint(0, 256, (b, n, 2, 3, 32, 32), dtype=torch.uint8, generator=gen)
    return mix, frames


class Exploding:
    """Pickling this raises, after part of the file has been written."""

    def __reduce__(self):
        raise RuntimeError("boom")


def test_atomic_save_interrupted_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"step": 1, "w": torch.ones(3)}, path)
    with pytest.raises(RuntimeError, match="boom"):
        save_atomic({"w": torch.zeros(1000), "bad": Exploding()}, path)
    assert torch.load(path, weights_only=True)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_atomic_save_killed_mid_write_leaves_old_file(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"step": 1}, path)
    script = (
        "import sys, time\n"
        "from pixelsound.atomic import write_atomic\n"
        "def slow(f):\n"
        "    f.write(b'x' * 1000); f.flush(); open(sys.argv[2], 'w').close(); time.sleep(60)\n"
        "write_atomic(sys.argv[1], slow)\n"
    )
    marker = tmp_path / "writing"
    proc = subprocess.Popen([sys.executable, "-c", script, str(path), str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "writer did not start"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert torch.load(path, weights_only=True) == {"step": 1}  # the target is whole: old content
    assert len(list(tmp_path.glob(".last.pt.*.tmp"))) == 1  # the killed writer's temp file ...
    save_atomic({"step": 2}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "writing"]  # ... is cleaned up next time


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    gen = torch.Generator().manual_seed(3)
    save_atomic(rng_state({"gains": gen}), tmp_path / "rng.pt")

    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item()

    first = draw()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), {"gains": gen})
    assert draw() == first


def test_checkpoint_loads_with_weights_only_and_rejects_pickled_objects(tmp_path):
    cfg = tiny_config()
    model = SoundOfPixels(cfg)
    optim = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = {
        "model": model.state_dict(),
        "optimizer": optim.state_dict(),
        "config": cfg.to_dict(),
        "step": 3,
        "epoch": 0,
        "batch": 3,
        "rng": rng_state(),
    }
    save_checkpoint(tmp_path / "last.pt", state)
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert loaded["step"] == 3 and loaded["config"] == cfg.to_dict()

    torch.save({"format": "pixelsound-train", "config": cfg}, tmp_path / "pickled.pt")  # a pickled class
    with pytest.raises(CheckpointError, match=r"pickled\.pt: not a pixelsound checkpoint.*plain tensors"):
        load_checkpoint(tmp_path / "pickled.pt")
    with pytest.raises(CheckpointError, match="missing.pt: no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_release_round_trip_gives_same_outputs(tmp_path):
    cfg = tiny_config()
    model = SoundOfPixels(cfg)
    with torch.no_grad():  # make the BatchNorm statistics non-trivial
        model.train()(*inputs(seed=1))
    model.eval()
    write_release(tmp_path / "best", model, cfg, {"val_sdr": 1.5})
    record = json.loads((tmp_path / "best" / "config.json").read_text())
    assert record["format"] == "pixelsound-release" and record["info"] == {"val_sdr": 1.5}
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == ["config.json", "model.safetensors"]

    loaded, loaded_cfg = load_release(tmp_path / "best")
    assert loaded_cfg == cfg and not loaded.training
    mix, frames = inputs(seed=2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.separate(mix, frames), model.separate(mix, frames), rtol=0, atol=0)
    again, _ = load_release(tmp_path / "best" / "model.safetensors")  # the weights file names its folder
    assert again.state_dict().keys() == model.state_dict().keys()


def test_a_half_release_is_half_the_size_and_loads_as_float32(tmp_path):
    cfg = tiny_config()
    model = SoundOfPixels(cfg)
    with torch.no_grad():
        model.train()(*inputs(seed=1))
        var = next(v for k, v in model.state_dict().items() if k.endswith("running_var"))
        var[0] = 1e6  # beyond float16's range: that tensor stays float32
    model.eval()
    write_release(tmp_path / "full", model, cfg)
    write_release(tmp_path / "half", model, cfg, half=True)
    full, half = (tmp_path / name / "model.safetensors" for name in ("full", "half"))
    assert half.stat().st_size < 0.6 * full.stat().st_size

    loaded, _ = load_release(tmp_path / "half")
    state = loaded.state_dict()
    assert all(v.dtype == model.state_dict()[k].dtype for k, v in state.items())  # float32 again
    assert next(v for k, v in state.items() if k.endswith("running_var"))[0] == 1e6
    mix, frames = inputs(seed=2)
    with torch.no_grad():
        want, got = model.separate(mix, frames), loaded.separate(mix, frames)
    assert not torch.equal(got, want)  # the weights were rounded ...
    torch.testing.assert_close(got, want, rtol=0, atol=2e-3)  # ... by float16's precision only


def test_one_loader_for_paths_models_and_the_bundled_release(tmp_path):
    cfg = tiny_config()
    model = SoundOfPixels(cfg).train()
    protos = {"drum": [1.0, 0.0], "flute": [0.0, 1.0]}
    write_release(tmp_path / "best", model, cfg, {"prototypes": protos})
    assert load_model(model) is model and not model.training  # a loaded model: as it is, in eval mode
    from_path = load_model(tmp_path / "best")
    assert from_path.state_dict().keys() == model.state_dict().keys() and not from_path.training
    assert load_model(None).cfg == load_release(BUNDLED_MODEL)[0].cfg  # None: the bundled release
    assert optional_model(NO_MODEL) is None and optional_model(model) is model
    found = release_prototypes(tmp_path / "best" / "config.json")
    assert sorted(found) == ["drum", "flute"] and found["flute"].tolist() == [0.0, 1.0]
    assert release_prototypes(model) is None and release_prototypes(NO_MODEL) is None
    bundled = release_prototypes(BUNDLED_MODEL) or {}
    assert {k: v.tolist() for k, v in (release_prototypes(None) or {}).items()} == {
        k: v.tolist() for k, v in bundled.items()
    }
    with pytest.raises(CheckpointError, match="expected a release path or a SoundOfPixels model, got int"):
        load_model(3)


def test_load_release_of_a_training_checkpoint(tmp_path):
    cfg = tiny_config()
    model = SoundOfPixels(cfg)
    state = {"model": model.state_dict(), "optimizer": {}, "config": cfg.to_dict(), "step": 0}
    save_checkpoint(tmp_path / "last.pt", {**state, "epoch": 0, "batch": 0, "rng": rng_state()})
    loaded, _ = load_release(tmp_path / "last.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_foreign_files_give_clear_errors(tmp_path):
    cfg = tiny_config()
    # the original Sound-of-Pixels code saves bare state dicts (net_frame.pth, net_sound.pth)
    torch.save({"features.0.weight": torch.zeros(2, 3)}, tmp_path / "net_frame.pth")
    with pytest.raises(CheckpointError, match=r"net_frame\.pth: not a pixelsound.*features\.0\.weight"):
        load_release(tmp_path / "net_frame.pth")

    # a release whose weights belong to another architecture than its config says
    write_release(tmp_path / "other", SoundOfPixels(tiny_config(k=6)), cfg)
    with pytest.raises(CheckpointError, match=r"other: weights do not fit.*wrong shape.*scale"):
        load_release(tmp_path / "other")

    # an unrelated safetensors file, and a release folder without its config
    from safetensors.torch import save_file

    (tmp_path / "plain").mkdir()
    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain" / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors: safetensors file without the pixelsound"):
        load_release(tmp_path / "plain")
    write_release(tmp_path / "noconf", SoundOfPixels(cfg), cfg)
    (tmp_path / "noconf" / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json: missing"):
        load_release(tmp_path / "noconf")

    # a config from a future version with unknown keys
    write_release(tmp_path / "future", SoundOfPixels(cfg), cfg)
    record = json.loads((tmp_path / "future" / "config.json").read_text())
    record["config"]["model"]["hyper_drive"] = 1
    (tmp_path / "future" / "config.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match=r"config\.json.*hyper_drive"):
        load_release(tmp_path / "future")


def test_load_release_ignores_frame_weights_path(tmp_path):
    cfg = replace(tiny_config(), model={"frame_weights": str(tmp_path / "gone.pth")})
    model = SoundOfPixels(tiny_config())
    write_release(tmp_path / "best", model, cfg)
    loaded, loaded_cfg = load_release(tmp_path / "best")  # gone.pth is not needed: weights are in the release
    assert loaded_cfg.model.frame_weights == ""
