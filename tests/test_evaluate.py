"""evaluate(): fixed mixes, model vs mixture vs ideal masks, JSON + markdown + figures, and the CLI verb."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from pixelsound import io
from pixelsound.checkpoint import write_release
from pixelsound.cli import main as cli_main
from pixelsound.evaluate import METHODS, EvalError, draw_mixes, evaluate, separation_scores
from pixelsound.index import write_index
from pixelsound.model import SoundOfPixels
from tiny import tiny_config

SR = 8000
CATEGORIES = {"flute": (220.0, (200, 40, 40)), "drum": (330.0, (40, 200, 40)), "harp": (495.0, (40, 40, 200))}


def tiny_model() -> SoundOfPixels:
    torch.manual_seed(0)
    return SoundOfPixels(tiny_config()).eval()


def note(freq: float, seconds: float, seed: int) -> torch.Tensor:
    """A harmonic note with a little vibrato and noise, (1, L) float32."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    phase = 2 * math.pi * freq * (t + 0.002 * torch.sin(2 * math.pi * 5 * t))
    wave = sum(torch.sin(k * phase) * 0.6**k for k in range(1, 6)) * 0.4
    wave = wave + 0.003 * torch.randn(t.shape, generator=gen, dtype=torch.float64)
    return wave.float()[None]


@pytest.fixture(scope="module")
def index_path(tmp_path_factory) -> str:
    """6 one-second clips: 3 categories x 2 videos, each category its own pitch and colour."""
    folder = tmp_path_factory.mktemp("clips")
    records = []
    for c, (name, (freq, color)) in enumerate(CATEGORIES.items()):
        for v in range(2):
            path = folder / f"{name}{v}.mp4"
            frames = torch.tensor(color, dtype=torch.uint8).view(1, 3, 1, 1).repeat(8, 1, 32, 32)
            io.write_video(path, frames, 8.0, note(freq * (1 + 0.06 * v), 1.0, 10 * c + v), SR)
            info = io.probe(path)
            records.append(
                {**info.to_dict(), "path": str(path), "category": name, "split": ["test", "train"][v]}
            )
    write_index(folder / "index.jsonl", records)
    return str(folder / "index.jsonl")


def test_evaluate_writes_json_markdown_and_figures(index_path, tmp_path) -> None:
    out = tmp_path / "eval"
    result = evaluate(tiny_model(), index_path, mixes=(2, 3), count=3, seed=0, out_dir=out, figures=1)
    data = json.loads((out / "evaluation.json").read_text())  # strict JSON: NaN would not parse back as NaN
    assert [m["n"] for m in data["mixes"]] == [2, 2, 2, 3, 3, 3] and not data["skipped"]
    for mix in data["mixes"]:
        assert len(set(mix["categories"])) == mix["n"]  # different categories when the index has them
        assert all(p.endswith(".mp4") for p in mix["paths"])
        for method in METHODS:
            assert all(len(v) == mix["n"] for v in mix["scores"][method].values())
    table = (out / "evaluation.md").read_text()
    for row in (
        "| mixture (lower bound) |",
        "| model |",
        "| ideal binary mask, model grid |",
        "| ideal ratio mask, model grid |",
        "| ideal binary mask, linear STFT |",
    ):
        assert table.count(row) == 2, row  # once per N
    assert "### 2-source mixtures" in table and "### 3-source mixtures" in table
    for name in ("mix2_000.png", "mix3_000.png"):
        with Image.open(out / "figures" / name) as image:
            assert image.width > 64 * 2 and image.height > 64 * 5  # 5 rows of 64-bin spectrograms
    assert not (out / "figures" / "mix2_001.png").exists()
    for n in ("2", "3"):
        s = result.summary[n]
        for oracle in ("ibm", "irm", "ibm_linear", "irm_linear"):
            assert s[oracle]["sdr"]["mean"] > s["mixture"]["sdr"]["mean"] + 5, (n, oracle)
            assert s[oracle]["si_sdr"]["mean"] > s["mixture"]["si_sdr"]["mean"] + 5, (n, oracle)
    assert result.summary["2"]["mixture"]["sdr"]["count"] == 6


def test_mix_list_is_fixed_by_seed(index_path) -> None:
    model = tiny_model()
    first = evaluate(model, index_path, mixes=(2,), count=2, seed=3, figures=0)
    again = evaluate(model, index_path, mixes=(2,), count=2, seed=3, figures=0)
    assert [m["items"] for m in first.mixes] == [m["items"] for m in again.mixes]
    assert first.summary == again.summary  # deterministic windows, model and metrics
    from pixelsound.dataset import ClipDataset

    dataset = ClipDataset(index_path, model.cfg.audio, model.cfg.frames, train=False)
    np.testing.assert_array_equal(draw_mixes(dataset, 2, 2, seed=3), [m["items"] for m in first.mixes])
    lists = [draw_mixes(dataset, 2, 20, seed) for seed in (0, 0, 1)]
    np.testing.assert_array_equal(lists[0], lists[1])
    assert not np.array_equal(lists[0], lists[2])


def test_score_bounds_perfect_and_mixture() -> None:
    sources = torch.cat([note(220.0, 0.5, 1), note(330.0, 0.5, 2)])  # (2, L)
    got = separation_scores(sources, {"perfect": sources, "mixture": sources.sum(0).expand_as(sources)})
    assert min(got["perfect"]["sdr"]) > 100 and min(got["perfect"]["si_sdr"]) > 100
    assert all(abs(v) < 6 for v in got["mixture"]["sdr"] + got["mixture"]["si_sdr"])


class _FakeClips(torch.utils.data.Dataset):
    """A stand-in dataset: 4 clips in 2 categories; clip 0 is silent."""

    categories = ["a", "b"]

    def __len__(self) -> int:
        return 4

    def category_of(self, i: int) -> int:
        return i % 2

    def __getitem__(self, i: int) -> dict:
        audio = note(200.0 + 90 * i, 4095 / SR, i)[0]
        frames = torch.full((2, 3, 32, 32), 60 * i, dtype=torch.uint8)
        return {"audio": audio * (i != 0), "frames": frames, "category": i % 2, "index": i}


def test_silent_clips_are_skipped_and_reported() -> None:
    result = evaluate(tiny_model(), _FakeClips(), mixes=(2,), count=6, seed=0)
    assert result.skipped and all("silent" in s["reason"] and 0 in s["items"] for s in result.skipped)
    assert all(0 not in m["items"] for m in result.mixes)
    assert len(result.mixes) + len(result.skipped) == 6
    with pytest.raises(EvalError, match="N >= 2"):
        evaluate(tiny_model(), _FakeClips(), mixes=(1,), count=2)


def test_cli_evaluates_a_release(index_path, tmp_path, capsys, caplog) -> None:
    release = write_release(tmp_path / "release", tiny_model(), tiny_config())
    code = cli_main(
        [
            "evaluate",
            str(release),
            index_path,
            "--mixes",
            "2",
            "--count",
            "2",
            "--figures",
            "1",
            "--threads",
            "1",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| model |" in printed and "ideal ratio mask, linear STFT" in printed
    assert (release / "eval" / "evaluation.json").is_file()
    assert (release / "eval" / "figures" / "mix2_000.png").is_file()
    code = cli_main(["evaluate", str(release), index_path, "--split", "valid", "--out", str(tmp_path / "x")])
    assert code == 1 and "no clip has split 'valid'" in caplog.text  # bad input


def test_plots_colormap_and_overlay() -> None:
    from pixelsound import plots

    ramp = plots.colormap(np.linspace(0, 1, 9), "magma").astype(float)  # (9, 3)
    lightness = ramp @ [0.2126, 0.7152, 0.0722]
    assert np.all(np.diff(lightness) > 0)  # perceptually ordered: darker to lighter
    frame = torch.full((3, 20, 30), 100, dtype=torch.uint8)
    heat = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(plots.overlay_heatmap(frame, heat, alpha=0.0), np.full((20, 30, 3), 100))
    full = plots.overlay_heatmap(frame, heat, alpha=1.0, cmap="gray")
    assert full.shape == (20, 30, 3) and full[0, 0, 0] < 30 and full[0, -1, 0] > 225  # resized to the frame
    with pytest.raises(ValueError, match="colormap"):
        plots.colormap(np.zeros(3), "jet")
