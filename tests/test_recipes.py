"""The recipes' scripts and configs run end to end on tiny generated data (real runs take hours)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixelsound.config import load_config
from pixelsound.index import read_index

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "audio.sample_rate=8000", "audio.length=4095", "audio.n_fft=254", "audio.hop=64", "audio.log_bins=64",
    "frames.size=32", "frames.num_frames=2", "model.k=4", "model.frame_layers=2", "model.frame_width=8",
    "model.unet_depth=2", "model.unet_channels=8", "train.batch_size=2", "train.epochs=1",
    "train.steps_per_epoch=2", "train.val_mixes=2", "data.workers=0",
]  # fmt: skip


def test_recipe_configs_load_and_keep_the_paper_preset():
    music = load_config(ROOT / "recipes/music/config.toml")
    assert (music.audio.sample_rate, music.audio.length, music.audio.n_fft, music.audio.hop) == (
        11025,
        65535,
        1022,
        256,
    )
    assert (music.model.k, music.model.unet_depth, music.frames.size) == (32, 7, 224)
    assert (music.train.optimizer, music.train.lr_frame, music.train.lr_rest) == ("sgd", 1e-4, 1e-3)
    cpu = load_config(ROOT / "recipes/instruments/config.toml")
    assert cpu.audio.hop <= cpu.audio.n_fft // 2  # otherwise the STFT cannot be inverted well (RESULTS.md)
    assert 0 < cpu.train.max_minutes <= 120  # the CPU recipe trains within two hours on 2 cores (issue 12)


@pytest.mark.slow
def test_music_recipe_stages_run_on_a_tiny_music_folder(tmp_path, make_clip):
    """MUSIC layout CATEGORY/VIDEO_ID.mp4 -> index + split (1) -> train (2) -> evaluate (3), as run.sh."""
    music = tmp_path / "MUSIC"
    for c, (category, freq) in enumerate({"flute": 440.0, "violin": 660.0, "tuba": 110.0}.items()):
        for i in range(8):
            color = ((80 * c) % 256, 200 - 50 * c, 40 + 60 * c)
            name = f"{category}{i:02d}.mp4"
            make_clip(
                music / category, name, seconds=1.2, size=(48, 48), freq=freq + 7 * i, color=color, sr=8000
            )
    data, run = tmp_path / "data", tmp_path / "run"
    env = {**os.environ, "MUSIC_DIR": str(music), "DATA": str(data), "RUN": str(run),
           "PIXELSOUND": f"{sys.executable} -m pixelsound.cli"}  # fmt: skip
    script = str(ROOT / "recipes/music/run.sh")
    subprocess.run(
        ["bash", script, "1", "--min-duration", "1", "--split", "0.4", "0.3", "0.3"],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    splits = {name: read_index(data / f"index.{name}.jsonl") for name in ("train", "val", "test")}
    assert sum(len(s) for s in splits.values()) == 24
    assert all(r["category"] in {"flute", "violin", "tuba"} for s in splits.values() for r in s)
    sets = [x for item in TINY for x in ("--set", item)] + ["--set", f"data.cache_dir={tmp_path / 'cache'}"]
    subprocess.run(["bash", script, "2", *sets], env=env, check=True, cwd=tmp_path)
    assert (run / "last.pt").exists() and (run / "best" / "model.safetensors").exists()
    # evaluate on the test split (too few test clips for 3-mixes is fine: 2-mixes only)
    subprocess.run(
        ["bash", script, "3", "--mixes", "2", "--count", "4", "--figures", "1"],
        env=env,
        check=True,
        cwd=tmp_path,
    )
    result = json.loads((run / "eval" / "evaluation.json").read_text())
    assert "model" in json.dumps(result["summary"])
