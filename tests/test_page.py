"""The listening page: its sound codec, its data, and clicks in a real headless Chromium."""

from __future__ import annotations

import base64
import json
import math
import re

import numpy as np
import pytest
import torch
from torch import nn

from pixelsound import io, page, pixels
from pixelsound.config import AudioConfig, Config, FramesConfig, ModelConfig
from pixelsound.model import SoundOfPixels

SR = 8000

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


class ColorFrames(nn.Module):
    """A stand-in frame net that sees colour: red cells light up component 0, blue ones component 1.

    Same contract as the real ones: normalized ``(B, V, 3, H, W)`` -> raw ``(B, K, V, h, w)`` (8 px cells).
    """

    def __init__(self, k: int):
        super().__init__()
        self.proj = nn.Conv2d(3, k, 1)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.bias.fill_(-4.0)
            self.proj.weight[0, 0, 0, 0], self.proj.weight[1, 2, 0, 0] = 4.0, 4.0

    def forward(self, frames):
        b, v = frames.shape[:2]
        x = nn.functional.avg_pool2d(frames.flatten(0, 1), 8)  # (B*V, 3, h, w)
        return self.proj(x).unflatten(0, (b, v)).transpose(1, 2)


def tiny_model(seed: int = 0) -> SoundOfPixels:
    torch.manual_seed(seed)
    cfg = Config(
        audio=AudioConfig(sample_rate=SR, length=4095, n_fft=254, hop=64, log_bins=64),
        frames=FramesConfig(num_frames=2, size=32),
        model=ModelConfig(k=4, frame_layers=2, frame_width=8, unet_depth=2, unet_channels=8),
    )
    model = SoundOfPixels(cfg)
    model.frame_net = ColorFrames(cfg.model.k)  # the duet's left and right halves sound different
    with torch.no_grad():  # opposite signs: red and blue cells take different parts of the mixture
        model.scale.copy_(torch.tensor([12.0, -12.0, 1.0, 1.0]))
    return model.eval()


def two_tones(seconds: float) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    low = 0.3 * torch.sin(2 * math.pi * 300 * t) * (1 + 0.5 * torch.sin(2 * math.pi * 1.5 * t))
    high = 0.3 * torch.sin(2 * math.pi * 2000 * t) * (t % 0.5 < 0.3)
    return low.float(), high.float()


def duet_frames(count: int, size: int = 32) -> torch.Tensor:
    """A duet picture: left half red, right half blue with a white square."""
    frames = torch.zeros(count, 3, size, size, dtype=torch.uint8)
    frames[:, 0, :, : size // 2] = 220
    frames[:, 2, :, size // 2 :] = 220
    frames[:, :, size // 4 : size // 2, 3 * size // 5 : 4 * size // 5] = 255
    return frames


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10((ref**2).sum() / max(((ref - est) ** 2).sum(), 1e-20)))


def music_like(n: int = 8000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = sum(0.2 / (i + 1) * np.sin(2 * np.pi * 220 * (i + 1) * t + rng.uniform(0, 6)) for i in range(6))
    return (x * np.exp(-3 * (t % 0.5)) + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("bits,min_snr", [(4, 14.0), (8, 34.0)])
def test_codec_round_trip(bits, min_snr):
    codec = page.Codec(bits=bits)
    x = np.stack([music_like(), 0.01 * music_like(seed=1), np.zeros(8000, np.float32)])[:, :7777]
    data = codec.encode(x)
    assert len(data) == 3 * codec.bytes_per(7777)
    y = codec.decode(data, 3, 7777)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert snr_db(x[0], y[0]) > min_snr and snr_db(x[1], y[1]) > min_snr  # block peaks follow the level
    assert np.abs(y[2]).max() < 1e-6  # silence stays silent
    assert np.all(np.abs(y) <= 2 ** (1 / 8) * np.abs(x).max(1, keepdims=True) + 1e-6)  # peaks rounded up


def test_codec_size_is_about_bits_per_sample():
    codec = page.Codec(bits=4, block=64)
    assert codec.bytes_per(6400) == 100 * 33  # 4.125 bits a sample
    with pytest.raises(ValueError):
        page.Codec(bits=5)


def page_json(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="pixelsound-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def duet_result(seconds: float = 1.0):
    low, high = two_tones(seconds)
    video = pixels.Video(duet_frames(int(seconds * 10)), 10.0, low + high, SR)
    opts = pixels.PixelsOptions(page_seconds=seconds)
    return pixels.pixels(video, tiny_model(), options=opts, progress=False)


def test_page_data_decodes_to_the_cells_sounds(tmp_path):
    result = duet_result()
    html = page.build_page(result, "overlay.mp4", rate=SR)
    data = page_json(html)
    h, w = result.grid
    assert data["grid"] == [h, w] and data["rate"] == SR and data["samples"] == result.cells.shape[-1]
    codec = page.Codec(bits=data["bits"], block=data["block"])
    cells = codec.decode(base64.b64decode(data["cells"]), h * w, data["samples"])
    truth = result.cells.reshape(h * w, -1).numpy()
    assert min(snr_db(truth[i], cells[i]) for i in range(h * w)) > 12
    assert len(data["objects"]) == len(result.objects) >= 1
    assert 'src="overlay.mp4"' in html and "</script>" not in data["cells"]


@pytest.mark.browser
def test_clicks_play_the_clicked_cells_sound(tmp_path):
    """Open the page from file:// in Chromium, click left then right: each plays that cell's sound."""
    from playwright import sync_api

    low, high = two_tones(1.5)
    video = tmp_path / "duet.mp4"
    io.write_video(video, duet_frames(15), 10, (low + high)[None], SR)
    result = pixels.pixels(
        video, tiny_model(), options=pixels.PixelsOptions(page_seconds=1.5), progress=False
    )
    facts = result.write(tmp_path / "out", page_rate=SR)
    index = tmp_path / "out" / facts["files"]["page"]["file"]
    data = page_json(index.read_text())
    h, w = result.grid
    codec = page.Codec(bits=data["bits"], block=data["block"])
    decoded = codec.decode(base64.b64decode(data["cells"]), h * w, data["samples"])

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            errors = []
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.goto(index.as_uri())
            tab.wait_for_function("window.pixelsound && window.pixelsound.ready")
            box = tab.locator("#video").bounding_box()
            played = {}
            for side, x in (("left", 0.2), ("right", 0.8)):
                tab.mouse.click(box["x"] + x * box["width"], box["y"] + 0.55 * box["height"])
                tab.wait_for_function("window.pixelsound.lastPlayed && window.pixelsound.outputRms() > 1e-4")
                played[side] = tab.evaluate("window.pixelsound.lastPlayed")
                played[side]["audio"] = tab.evaluate(
                    "window.pixelsound.decode('cell', window.pixelsound.lastPlayed.index)"
                )
                played[side]["state"] = tab.evaluate("window.pixelsound.contextState()")
            assert not errors, errors
        finally:
            browser.close()

    for side, col in (("left", int(0.2 * w)), ("right", int(0.8 * w))):
        got = played[side]
        row = int(0.55 * h)
        assert (got["kind"], got["row"], got["col"]) == ("cell", row, col) and got["state"] == "running"
        cell = row * w + col
        assert got["checksum"] == pytest.approx(page.checksum(decoded[cell]), rel=1e-9, abs=1e-9)
        assert np.array_equal(np.asarray(got["audio"], dtype=np.float32), decoded[cell])
        truth = result.cells[row, col].numpy()  # what pixels.py computed for that cell
        assert np.corrcoef(truth, np.asarray(got["audio"]))[0, 1] > 0.97
        assert got["rms"] == pytest.approx(
            math.sqrt(float((decoded[cell].astype(np.float64) ** 2).mean())), rel=1e-6
        )
    left, right = played["left"], played["right"]
    assert left["checksum"] != pytest.approx(right["checksum"], rel=1e-3)
    other = result.cells[int(0.55 * h), int(0.8 * w)].numpy()
    ours = result.cells[int(0.55 * h), int(0.2 * w)].numpy()
    assert snr_db(ours, np.asarray(left["audio"])) > snr_db(other, np.asarray(left["audio"])) + 6
    assert torch.is_tensor(result.cells)
