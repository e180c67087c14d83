"""The README's main job: the bundled model separates the bundled sample mixture far better than nothing."""

import json

import pytest

from pixelsound.cli import main
from pixelsound.demo import MODEL, demo, sample_videos


def test_bundled_model_and_samples_are_shipped():
    config = json.loads((MODEL / "config.json").read_text())
    assert (MODEL / "model.safetensors").stat().st_size < 12 * 2**20  # float16, small enough to live in git
    assert config  # a pixelsound release config
    assert len(sample_videos()) == 2


def test_demo_separates_the_sample_mixture(tmp_path):
    r = demo(out=tmp_path)
    n = len(r.sdr)
    assert n == 2 and r.separation.sources.shape[0] == 2
    # each clip's estimate is much closer to its own soundtrack than the mixture is
    assert min(s - m for s, m in zip(r.sdr, r.mixture_sdr, strict=True)) > 6.0
    assert sum(r.sdr) / n > 6.0  # the mixture: about 0 dB
    assert r.figure.exists() and r.figure.stat().st_size > 10_000
    assert {p.name for p in r.files} >= {"mix.wav"} and len(r.files) == 3


def test_demo_cli_prints_the_table(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "mean SDR" in text and "mixture" in text
    assert (tmp_path / "out" / "spectrograms.png").exists()


def test_demo_with_a_missing_model_names_it(tmp_path):
    from pixelsound.checkpoint import CheckpointError

    with pytest.raises((CheckpointError, FileNotFoundError), match="nowhere"):
        demo(model=tmp_path / "nowhere", out=tmp_path / "out")


def test_demo_cli_reports_a_bad_model_without_a_traceback(tmp_path, caplog):
    assert main(["demo", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    assert "nowhere" in caplog.text
