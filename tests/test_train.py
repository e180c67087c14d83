"""Mixture batches, the training loop, exact resume after SIGKILL, DDP equivalence and the CLI."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import pixelsound.train as T
from pixelsound import cli, runlog
from pixelsound.checkpoint import CheckpointError, load_checkpoint, load_release
from pixelsound.config import TrainConfig, from_dict, replace
from pixelsound.distrib import SyncBatchNormGloo
from pixelsound.mixing import MixtureBatchSampler, MixtureItems, collate_mixtures, draw_gains, draw_groups
from pixelsound.model import SoundOfPixels
from pixelsound.optim import lr_factor

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

TINY = {
    "audio": {"sample_rate": 8000, "length": 1023, "n_fft": 126, "hop": 32, "log_bins": 32},
    "frames": {"num_frames": 1, "size": 32},
    "model": {"k": 4, "frame_layers": 2, "frame_width": 8, "unet_depth": 2, "unet_channels": 8},
    "data": {"train_index": "train.jsonl", "val_index": "val.jsonl", "num_mix": 2},
    "train": {
        "batch_size": 2,
        "epochs": 2,
        "steps_per_epoch": 3,
        "val_mixes": 2,
        "log_every": 1,
        "optimizer": "sgd",
        "lr_frame": 0.01,
        "lr_rest": 0.05,
        "grad_clip": 5.0,
        "seed": 1,
        "bf16": False,  # runs are compared exactly; "auto" would differ between machines
    },
}


def tiny_cfg(out, **sections):
    data = json.loads(json.dumps(TINY))
    for name, values in sections.items():
        data[name].update(values)
    data["train"]["out_dir"] = str(out)
    return from_dict(data)


# --------------------------------------------------------------------------- a stand-in clip data set


class StandInClips(torch.utils.data.Dataset):
    """ClipDataset's interface on synthetic tones: item i is video i, category i % 3; ``bad`` items raise.

    Training windows start at a random offset: ``draw(i, key)`` takes it from the key (the keyed draws the
    trainer asks for), ``dataset[i]`` from torch's global generator.
    """

    def __init__(self, n, audio, frames, train, bad=(), nan=()):
        self.n, self.audio, self.frames, self.train = n, audio, frames, train
        self.bad, self.nan = set(bad), set(nan)
        self.categories = ["drum", "flute", "piano"]
        self.records = [{"path": f"v{i}.mp4", "category": self.categories[i % 3]} for i in range(n)]

    def __len__(self):
        return self.n

    def category_of(self, i):
        return i % 3

    def __getitem__(self, i):
        return self._item(i, int(torch.randint(0, 400, ())) if self.train else 0)

    def draw(self, i, key):
        return self._item(i, int(np.random.default_rng([7, *key, i]).integers(400)) if self.train else 0)

    def _item(self, i, offset):
        if i in self.bad:
            raise RuntimeError(f"v{i}.mp4: broken file")
        c, sr = i % 3, self.audio.sample_rate
        t = (torch.arange(self.audio.length) + offset) / sr
        audio = 0.3 * torch.sin(2 * math.pi * (300 * (c + 1) + 17 * i) * t)
        if i in self.nan:
            audio[5] = float("nan")
        size = self.frames.size
        frames = torch.full((self.frames.num_frames, 3, size, size), 30, dtype=torch.uint8)
        frames[:, c] = 220
        frames[:, :, : 4 + i % 7] = 90
        return {"frames": frames, "audio": audio.float(), "category": c, "index": i}


def standin_datasets(cfg, bad=(), nan=()):
    return StandInClips(18, cfg.audio, cfg.frames, True, bad, nan), StandInClips(
        9, cfg.audio, cfg.frames, False
    )


@pytest.fixture
def standin(monkeypatch):
    monkeypatch.setattr(T, "build_datasets", standin_datasets)


def params_of(checkpoint):
    return load_checkpoint(checkpoint)["model"]


def max_difference(a, b):
    """Largest difference between two state dicts, relative to each tensor's scale when that exceeds 1."""
    assert a.keys() == b.keys()
    return max(
        float((a[k].double() - b[k].double()).abs().max() / b[k].double().abs().max().clamp_min(1)) for k in a
    )


# --------------------------------------------------------------------------- mixing


def test_groups_take_different_videos_and_categories():
    videos = [f"video{i // 2}" for i in range(40)]  # two clips per video
    categories = [(i // 2) % 4 for i in range(40)]
    groups = draw_groups(videos, categories, 200, 3, np.random.default_rng(0))
    assert groups.shape == (200, 3)
    for group in groups:
        assert len({videos[i] for i in group}) == 3
        assert len({categories[i] for i in group}) == 3
    counts = np.bincount(groups.ravel(), minlength=40)
    assert counts.min() >= 8 and counts.max() <= 22  # about 15 each: every clip is used


def test_groups_fall_back_to_different_videos_when_categories_are_few():
    videos = [f"video{i}" for i in range(10)]
    groups = draw_groups(videos, [i % 2 for i in range(10)], 50, 3, np.random.default_rng(0))
    assert all(len(set(g)) == 3 for g in groups.tolist())
    unknown = draw_groups(videos, [-1] * 10, 50, 4, np.random.default_rng(0))
    assert all(len(set(g)) == 4 for g in unknown.tolist())
    with pytest.raises(ValueError, match="at least 3 different videos"):
        draw_groups(["a", "a", "b"], [0, 1, 2], 1, 3, np.random.default_rng(0))


def test_sampler_splits_global_batches_and_resumes_mid_epoch():
    labels = ([f"v{i}" for i in range(30)], [i % 5 for i in range(30)])
    one = MixtureBatchSampler(*labels, batch_size=4, num_mix=2, seed=3, steps_per_epoch=5)
    ranks = [
        MixtureBatchSampler(*labels, batch_size=2, num_mix=2, seed=3, steps_per_epoch=5, rank=r, world_size=2)
        for r in range(2)
    ]
    for epoch in (0, 1):
        for s in (one, *ranks):
            s.set_epoch(epoch)
        whole = list(one)  # batches of (item, (epoch, position)) requests
        assert len(whole) == 5 and all(len(b) == 4 * 2 for b in whole)
        assert [a + b for a, b in zip(*ranks, strict=True)] == whole  # 2 x B/2 == 1 x B, keys included
        assert [key for batch in whole for _, key in batch] == [(epoch, k) for k in range(5 * 4 * 2)]
    one.set_epoch(1, start_batch=3)
    assert len(one) == 2 and list(one) == whole[3:]
    one.set_epoch(0)
    assert list(one) != whole  # epochs differ
    auto = MixtureBatchSampler(*labels, batch_size=4, num_mix=3)
    assert auto.num_batches == 30 // (3 * 4)  # one pass: each clip once


def test_loader_items_use_keyed_draws_and_never_raise(caplog):
    data = StandInClips(6, tiny_cfg("x").audio, tiny_cfg("x").frames, True, bad={2})
    items = MixtureItems(data)
    first, again = items[(1, (0, 5))], items[(1, (0, 5))]
    assert torch.equal(first["audio"], again["audio"])  # the key fixes the window
    assert not torch.equal(first["audio"], items[(1, (1, 5))]["audio"])
    assert items[2] is None and items[(2, (0, 0))] is None and "v2.mp4: broken file" in caplog.text
    assert items[3]["index"] == 3  # plain requests read dataset[i]


def test_collate_stacks_groups_and_drops_bad_ones():
    def item(i, length=100):
        return {"frames": torch.zeros(2, 3, 8, 8, dtype=torch.uint8), "audio": torch.ones(length), "index": i}

    items = [item(0), item(1), item(2), None, item(4), item(5), item(6), item(7, length=50)]
    batch = collate_mixtures(items, num_mix=2)
    assert batch["sources"].shape == (2, 2, 100) and batch["frames"].shape == (2, 2, 2, 3, 8, 8)
    assert batch["group"].tolist() == [0, 2] and batch["index"].tolist() == [[0, 1], [4, 5]]
    assert batch["category"].tolist() == [[-1, -1], [-1, -1]]
    assert collate_mixtures([None, item(1)], num_mix=2) is None
    gains = draw_gains(torch.Generator().manual_seed(0), 64, 3, 0.5, 1.5)
    assert gains.shape == (64, 3) and 0.5 <= gains.min() and gains.max() <= 1.5


# --------------------------------------------------------------------------- the loop, in process


def test_training_writes_checkpoint_release_and_logs_and_skips_bad_items(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(T, "build_datasets", lambda cfg: standin_datasets(cfg, bad={0, 4, 7}, nan={5}))
    cfg = tiny_cfg(tmp_path / "run", train={"epochs": 1, "steps_per_epoch": 4, "save_every": 2})
    result = T.train(cfg)
    assert "v4.mp4: broken file" in caplog.text and "audio has NaN" in caplog.text
    # with this seed both paths happen: a bad group dropped from a batch, and a batch with no good group
    assert caplog.text.count("skipping a mixture") == 4 and caplog.text.count("no usable mixture") == 1
    assert result.stopped == "done" and result.epoch == 1 and result.step == 4 - 1
    assert math.isfinite(result.val_sdr) and result.best_sdr == result.val_sdr
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,minutes,loss,lr,val_sdr,val_sdr_mix,contrast,monitor_sdr"
    assert len(rows) == 1 + result.step + 1
    model, _ = load_release(result.release)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, params_of(result.checkpoint)[key], rtol=0, atol=0)
    assert load_checkpoint(result.checkpoint)["batch"] == 0  # the epoch is complete
    info = json.loads((result.release / "config.json").read_text())["info"]
    assert info["val_sdr"] == pytest.approx(result.val_sdr)
    with pytest.raises(T.TrainError, match="last.pt exists: pass --resume"):
        T.train(cfg)


VIEWS = {"augment": True, "scene_prob": 0.5}
SILENCE = {
    "augment": True,
    "augment_world": True,
    "scene_prob": 1.0,
    "scene_silence": True,
    "scene_decoys": True,
}


@pytest.mark.parametrize(
    "views, model",
    [({}, {}), (VIEWS, {}), (SILENCE, {"contrast": 0.1, "pool_top": 0.25})],
    ids=["plain", "views", "silence-contrast-top"],
)
def test_sigterm_stops_saves_and_resume_equals_uninterrupted(tmp_path, monkeypatch, standin, views, model):
    full = T.train(tiny_cfg(tmp_path / "full", train=views, model=model))
    step = T.train_step
    calls = []

    def step_then_sigterm(*args, **kwargs):
        stats = step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 4:  # the first step of epoch 2
            os.kill(os.getpid(), signal.SIGTERM)
        return stats

    monkeypatch.setattr(T, "train_step", step_then_sigterm)
    stopped = T.train(tiny_cfg(tmp_path / "cut", train=views, model=model))
    assert stopped.stopped == "signal" and stopped.step == 4 and stopped.signal == signal.SIGTERM
    assert (stopped.release / "model.safetensors").is_file()  # validated and released as the time limit does
    state = load_checkpoint(stopped.checkpoint)
    assert (state["epoch"], state["batch"], state["step"]) == (1, 1, 4)
    monkeypatch.setattr(T, "train_step", step)
    # resumed with a DataLoader worker: keyed draws make the windows the same in any process
    resumed = T.train(tiny_cfg(tmp_path / "cut", data={"workers": 1}, train=views, model=model), resume=True)
    assert resumed.step == full.step == 6
    assert max_difference(params_of(resumed.checkpoint), params_of(full.checkpoint)) == 0.0
    assert resumed.best_sdr >= full.best_sdr - 1e-6  # the best of one more validation (at the stop)
    steps = [line.split(",")[0] for line in (tmp_path / "cut" / "log.csv").read_text().splitlines()[1:]]
    full_steps = [line.split(",")[0] for line in (tmp_path / "full" / "log.csv").read_text().splitlines()[1:]]
    assert steps == full_steps[:5] + ["4"] + full_steps[5:]  # steps 1-3, val, 4, val at the stop, 5, 6, val


def test_max_minutes_stops_with_a_release_and_bad_config_fails_early(tmp_path, standin):
    result = T.train(tiny_cfg(tmp_path / "run", train={"max_minutes": 1e-6, "optimizer": "adamw"}))
    assert result.stopped == "time" and result.step == 1 and (result.release / "model.safetensors").exists()
    with pytest.raises(CheckpointError, match=r"last\.pt: its \[model\] differs"):
        T.train(tiny_cfg(tmp_path / "run", model={"k": 6}), resume=True)
    with pytest.raises(T.ConfigError, match="train.schedule"):
        T.train(tiny_cfg(tmp_path / "other", train={"schedule": "sawtooth"}))
    with pytest.raises(T.ConfigError, match="train.scene_silence: needs train.scene_prob"):
        T.train(tiny_cfg(tmp_path / "other", train={"scene_silence": True}))
    with pytest.raises(T.ConfigError, match="train.scene_decoys: needs train.scene_silence"):
        T.train(tiny_cfg(tmp_path / "other", train={"scene_decoys": True, "scene_prob": 0.5}))
    with pytest.raises(T.ConfigError, match=r"model.pool_top: must be in \[0, 1\]"):
        T.train(tiny_cfg(tmp_path / "other", model={"pool_top": 1.5}))
    with pytest.raises(T.ConfigError, match="train.mixstyle: needs the resnet18 frame net"):
        T.train(tiny_cfg(tmp_path / "other", train={"mixstyle": 0.5}, model={"frame_net": "spacetime"}))
    with pytest.raises(T.ConfigError, match=r"data.timbre: must be in \[0, 1\], got 1.5"):
        T.train(tiny_cfg(tmp_path / "other", data={"timbre": 1.5}))


def test_a_frozen_frame_net_keeps_its_weights_and_statistics_while_the_rest_learns(tmp_path, standin):
    cfg = tiny_cfg(tmp_path / "run", train={"freeze_frame": True})
    T.seed_everything(cfg.train.seed)  # the start train() builds
    start = SoundOfPixels(cfg).state_dict()
    end = params_of(T.train(cfg).checkpoint)
    frame = [k for k in start if k.startswith("frame_net.")]
    assert any("running_mean" in k for k in frame)  # BatchNorm statistics are among what must stay
    for key in frame:
        torch.testing.assert_close(end[key], start[key], rtol=0, atol=0)
    assert max(float((end[k] - start[k]).abs().max()) for k in start if k.startswith("audio_net.")) > 0
    model = SoundOfPixels(cfg)
    model.freeze_frame_net()
    assert not model.train().frame_net.training and model.training and not model.parameter_groups()["frame"]
    synced = SyncBatchNormGloo.convert(model)  # what torchrun on CPUs trains: still frozen
    assert not synced.parameter_groups()["frame"] and not synced.train().frame_net.training


def test_lr_schedule():
    t = tiny_cfg("x", train={"schedule": "cosine", "warmup_steps": 4}).train
    factors = [lr_factor(s, 14, t) for s in range(14)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0] and factors[4] == 1.0
    assert all(a >= b for a, b in zip(factors[4:], factors[5:], strict=False)) and factors[-1] < 0.05


@pytest.fixture
def clip_index(tmp_path, make_clip):
    """Real media: six 1 s clips of three categories (tones and colours), split into train / val indexes."""
    from pixelsound import index

    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
    for k in range(6):
        path = make_clip(tmp_path / "clips", f"c{k}.mp4", freq=300.0 + 150 * k, color=colors[k % 3], sr=8000)
        path.with_suffix(".json").write_text(json.dumps({"category": ["drum", "flute", "piano"][k % 3]}))
    records, rejects = index.scan(tmp_path / "clips")
    assert not rejects and len(records) == 6
    index.write_index(tmp_path / "train.jsonl", records)
    index.write_index(tmp_path / "val.jsonl", records[:3])
    return tmp_path / "train.jsonl", tmp_path / "val.jsonl"


def test_real_clip_windows_follow_the_draw_key(clip_index):
    from pixelsound.dataset import ClipDataset

    cfg = tiny_cfg("x")

    def window(key, warm_up):
        data = ClipDataset(clip_index[0], cfg.audio, cfg.frames, train=True, seed=1)
        for _ in range(warm_up):  # other draws before this one (as in a run that started earlier)
            MixtureItems(data)[(0, (0, 99))]
        return MixtureItems(data)[(2, key)]["start"]

    assert window((3, 5), warm_up=0) == window((3, 5), warm_up=2)
    assert len({window((3, k), warm_up=0) for k in range(6)}) > 1  # the key does pick the window


def test_cli_train_smoke_on_real_clips(tmp_path, clip_index):
    train_index, val_index = clip_index
    data = {**TINY["data"], "train_index": str(train_index), "val_index": str(val_index)}
    lines = []
    for section, values in {**TINY, "data": data}.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    recipe = tmp_path / "tiny.toml"
    recipe.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    args = ["train", str(recipe), "--out", str(out)]
    monitor = f"data.monitor_index={val_index}"  # logged after each epoch (here the validation clips again)
    assert cli.main([*args, "--set", "train.epochs=1", "train.steps_per_epoch=2", monitor]) == 0
    assert (out / "last.pt").is_file() and (out / "best" / "model.safetensors").is_file()
    assert (out / "best" / "config.json").is_file()
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,minutes,loss,lr,val_sdr,val_sdr_mix,contrast,monitor_sdr" and len(rows) == 4
    last = rows[-1].split(",")
    assert math.isfinite(float(last[6]))  # val_sdr_mix: the mixture on the validation mixes
    assert float(last[8]) == pytest.approx(float(last[5]), abs=1e-4)  # the same clips: the same SDR
    assert cli.main(args) == 1  # would overwrite a run: refused
    assert cli.main([*args, "--resume", "--set", "train.epochs=2", "train.steps_per_epoch=2"]) == 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    model, cfg = load_release(out / "best")
    assert cfg.data.train_index == str(train_index) and cfg.model.k == 4


# --------------------------------------------------------------------------- subprocesses: SIGKILL and DDP

RUNNER = """
import json, os, sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, {tests!r})
import test_train
import pixelsound.train as T
from pixelsound.config import from_dict

T.build_datasets = test_train.standin_datasets
stall = int(os.environ.get("STALL_AT_STEP", "0"))
step = T.train_step
calls = []

def stalling_step(*args, **kwargs):
    calls.append(1)
    if len(calls) == stall:  # stand still, before this step, until killed
        open(os.environ["STALL_MARKER"], "w").close()
        time.sleep(600)
    return step(*args, **kwargs)

T.train_step = stalling_step
cfg = from_dict(json.loads(open(sys.argv[1]).read()))
T.train(cfg, resume="--resume" in sys.argv)
"""


def start_runner(tmp_path, cfg, *extra, env=None, torchrun=False):
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER.format(tests=str(TESTS)))
    config = tmp_path / f"{Path(cfg.train.out_dir).name}.json"
    config.write_text(cfg.to_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    head = [sys.executable]
    if torchrun:
        head += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.Popen([*head, str(runner), str(config), *extra], env=env, cwd=tmp_path)


def finish(proc, timeout=240):
    assert proc.wait(timeout=timeout) == 0, f"runner exited with {proc.returncode}"


def train_here_single_threaded(cfg):
    """Train in this process with one intra-op thread, as the runners do (same kernels, same rounding)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return T.train(cfg)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_resume_after_sigkill_reaches_the_same_parameters(tmp_path, monkeypatch):
    cfg_full = tiny_cfg(tmp_path / "full", train={"save_every": 2})
    cfg_cut = tiny_cfg(tmp_path / "cut", train={"save_every": 2})
    marker = tmp_path / "stalled"
    cut = start_runner(tmp_path, cfg_cut, env={"STALL_AT_STEP": "6", "STALL_MARKER": str(marker)})
    try:
        with monkeypatch.context() as patch:  # the uninterrupted run, here, while the other one starts
            patch.setattr(T, "build_datasets", standin_datasets)
            train_here_single_threaded(cfg_full)
        deadline = time.monotonic() + 240
        while not marker.exists() and cut.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the run to be killed did not reach step 6"
    finally:
        cut.send_signal(signal.SIGKILL)
        cut.wait()
    state = load_checkpoint(tmp_path / "cut" / "last.pt")  # written at step 4, mid-epoch 2
    assert (state["step"], state["epoch"], state["batch"]) == (4, 1, 1)
    finish(start_runner(tmp_path, cfg_cut, "--resume"))
    resumed, uninterrupted = params_of(tmp_path / "cut" / "last.pt"), params_of(tmp_path / "full" / "last.pt")
    assert max_difference(resumed, uninterrupted) <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("model", [{}, {"contrast": 0.5}], ids=["plain", "contrast"])
def test_two_processes_with_half_batches_equal_one_process(tmp_path, monkeypatch, model):
    # SGD, as the paper: Adam divides tiny gradients by their own size, turning rounding into O(lr) steps;
    # with the contrastive term, each process's negatives come from the whole global batch
    one = tiny_cfg(tmp_path / "one", train={"batch_size": 2, "optimizer": "sgd"}, model=model)
    two = replace(one, train={"batch_size": 1, "out_dir": str(tmp_path / "two")})
    two_processes = start_runner(tmp_path, two, torchrun=True)
    with monkeypatch.context() as patch:  # the single process, here, while the pair runs
        patch.setattr(T, "build_datasets", standin_datasets)
        train_here_single_threaded(one)
    finish(two_processes)
    a, b = params_of(tmp_path / "one" / "last.pt"), params_of(tmp_path / "two" / "last.pt")
    T.seed_everything(one.train.seed)
    initial = SoundOfPixels(one).state_dict()
    assert max_difference(a, initial) > 1e-3  # training moved the weights ...
    assert max_difference(a, b) <= 1e-5  # ... the same way with 2 processes as with one


def write_recipe(path, out):
    """TINY as a TOML recipe file (for the command line)."""
    lines = []
    for section, values in {**TINY, "train": {**TINY["train"], "out_dir": str(out)}}.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_signal_saves_state_and_release_and_exits_128_plus_signal(tmp_path, monkeypatch, standin, signum):
    step, calls = T.train_step, []

    def step_then_signal(*args, **kwargs):
        stats = step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # mid-epoch 1, before any validation
            os.kill(os.getpid(), signum)
        return stats

    monkeypatch.setattr(T, "train_step", step_then_signal)
    recipe = write_recipe(tmp_path / "tiny.toml", tmp_path / "run")
    assert cli.main(["train", str(recipe)]) == 128 + signum
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert (state["epoch"], state["batch"], state["step"]) == (0, 2, 2)
    model, _ = load_release(tmp_path / "run" / "best")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state["model"][key], rtol=0, atol=0)


def test_a_second_ctrl_c_quits_at_once_after_saving(tmp_path, monkeypatch, standin, capsys):
    step, calls = T.train_step, []

    def step_then_two_ctrl_c(*args, **kwargs):
        stats = step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the second raises KeyboardInterrupt here
        return stats

    monkeypatch.setattr(T, "train_step", step_then_two_ctrl_c)
    recipe = write_recipe(tmp_path / "tiny.toml", tmp_path / "run")
    assert cli.main(["train", str(recipe)]) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "pixelsound train: error: interrupted (Ctrl-C)" in err
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1  # that step ended, then saved


def test_checkpoints_by_time_as_well_as_steps(tmp_path, monkeypatch, standin):
    saves = []
    save = T.save_state
    monkeypatch.setattr(T, "save_state", lambda *a, **k: (saves.append(a[4].step), save(*a, **k)))
    T.train(tiny_cfg(tmp_path / "a", train={"save_every_minutes": 0.0}))
    assert saves == [3, 6]  # epoch ends only
    saves.clear()
    T.train(tiny_cfg(tmp_path / "b", train={"save_every_minutes": 1e-9}))
    assert saves == [1, 2, 3, 3, 4, 5, 6, 6]  # after every step (time is always up), and at epoch ends
    assert TrainConfig().save_every_minutes == 5.0


def test_the_progress_bar_counts_what_the_run_will_really_do():
    assert runlog.planned_batches(done=0, total=950, minutes=0.0, max_minutes=60.0, rate=0.0) == 950
    assert runlog.planned_batches(done=100, total=950, minutes=10.0, max_minutes=60.0, rate=10.0) == 600
    assert runlog.planned_batches(done=100, total=950, minutes=10.0, max_minutes=0.0, rate=10.0) == 950
    assert runlog.planned_batches(done=900, total=950, minutes=10.0, max_minutes=60.0, rate=10.0) == 950
    assert runlog.planned_batches(done=100, total=950, minutes=70.0, max_minutes=60.0, rate=10.0) == 100


class QuietClips(StandInClips):
    """Stand-in validation clips whose listed items hold a silent window."""

    def __init__(self, n, audio, frames, quiet):
        super().__init__(n, audio, frames, False)
        self.quiet = set(quiet)

    def _item(self, i, offset):
        item = super()._item(i, offset)
        if i in self.quiet:
            item["audio"] = torch.zeros_like(item["audio"])
        return item


def test_validation_leaves_out_silent_windows_and_broken_clips():
    from pixelsound.validation import validation_batches

    cfg = tiny_cfg("x")
    data = QuietClips(9, cfg.audio, cfg.frames, quiet={1, 4})
    data.bad = {7}
    batches = validation_batches(data, cfg)
    used = torch.cat([b["sources"] for b in batches])  # (M, N, L)
    assert len(used) == cfg.train.val_mixes
    assert bool((used.abs().amax(-1) > 0.1).all())  # every source is heard: each one has an SDR
