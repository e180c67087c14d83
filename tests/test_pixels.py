"""Per-pixel separation, sounding objects, localization metrics and the pixels verb, on tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from pixelsound import cells, io, localization, objects, pixels, spec, windows
from pixelsound.checkpoint import write_release
from pixelsound.cli import main as cli_main
from pixelsound.model import SoundOfPixels
from tiny import tiny_config

SR = 8000


def tiny_model(seed: int = 0) -> SoundOfPixels:
    torch.manual_seed(seed)
    model = SoundOfPixels(tiny_config()).eval()
    with torch.no_grad():  # a random net with masks that differ from cell to cell
        model.scale.mul_(4.0)
    return model


def two_tones(seconds: float, low: float = 300.0, high: float = 2000.0) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    a = 0.3 * torch.sin(2 * math.pi * low * t) * (1 + 0.5 * torch.sin(2 * math.pi * 1.5 * t))
    b = 0.3 * torch.sin(2 * math.pi * high * t) * (t % 0.5 < 0.3)
    return a.float(), b.float()


def duet_frames(count: int, size: int = 32) -> torch.Tensor:
    """Left half red, right half blue with a white square (static)."""
    frames = torch.zeros(count, 3, size, size, dtype=torch.uint8)
    frames[:, 0, :, : size // 2] = 220
    frames[:, 2, :, size // 2 :] = 220
    frames[:, :, size // 4 : size // 2, 3 * size // 5 : 4 * size // 5] = 255
    return frames


def duet_video(seconds: float = 1.0, fps: float = 10.0) -> pixels.Video:
    a, b = two_tones(seconds)
    return pixels.Video(duet_frames(int(seconds * fps)), fps, a + b, SR)


OPTS = pixels.PixelsOptions(page_seconds=0.5, bin_seconds=0.05)


# ------------------------------------------------------------------------------------------ pure pieces


# ------------------------------------------------------------------------------------------ cells and regions


def test_all_cells_einsum_equals_per_cell_loop():
    model = tiny_model()
    result = pixels.pixels(duet_video(0.5), model, options=OPTS, progress=False)
    assert len(result.chunks) == 1
    chunk = result.chunks[0]
    everything = result.all_cells()  # (h, w, L)
    h, w = result.grid
    assert everything.shape == (h, w, result.length)
    masks = cells.cell_masks(model, chunk.visual, chunk.audio)
    video = duet_video(0.5)
    times = windows.frame_times(torch.zeros(1), result.length / SR, 2)[0]  # (V,)
    frames = video.frames[times.mul(video.fps).long()]
    with torch.no_grad():  # the model's own per-pixel masks, from the same frames and mixture
        own = model.pixel_masks(result.mixture[None], frames[None])[0]
    assert torch.allclose(masks, own, atol=1e-5)
    for row in range(h):
        for col in range(w):
            vector = chunk.visual[:, row, col]  # (K,) as one "source" clip vector
            logits = model.synthesize(vector[None, None], chunk.audio[None])  # (1, 1, F, T)
            explicit = torch.einsum("k,k,kft->ft", model.scale, vector, chunk.audio) + model.bias
            assert torch.allclose(logits[0, 0], explicit, atol=1e-5)
            assert torch.allclose(masks[row, col], torch.sigmoid(explicit), atol=1e-6)
            wave = model.apply_masks(torch.sigmoid(logits), chunk.mix_spec[None], result.length)[0, 0]
            assert torch.allclose(everything[row, col], wave, atol=1e-5)
    assert torch.allclose(result.cells, everything[..., : result.cells.shape[-1]], atol=1e-6)
    assert everything.flatten(0, 1).std(0).mean() > 1e-4  # cells really differ


def test_a_larger_frame_size_gives_a_finer_native_grid():
    model = tiny_model()
    native = pixels.pixels(duet_video(0.5), model, options=OPTS, progress=False)
    opts = pixels.PixelsOptions(page_seconds=0.5, frame_size=2 * model.cfg.frames.size)
    finer = pixels.pixels(duet_video(0.5), model, options=opts, progress=False)
    assert finer.grid == (2 * native.grid[0], 2 * native.grid[1])
    assert finer.all_cells().shape[:2] == finer.grid


def test_region_audio_is_the_mask_of_the_pooled_region_vector():
    model = tiny_model()
    result = pixels.pixels(duet_video(0.5), model, options=OPTS, progress=False)
    chunk, (h, w) = result.chunks[0], result.grid
    gen = torch.Generator().manual_seed(3)
    region = torch.rand(h, w, generator=gen) * (torch.rand(h, w, generator=gen) > 0.4)
    pooled = torch.stack([(chunk.visual[k] * region).max() for k in range(chunk.visual.shape[0])])  # (K,)
    with torch.no_grad():
        mask = torch.sigmoid(model.synthesize(pooled[None, None], chunk.audio[None]))  # (1, 1, F, T)
        expected = model.apply_masks(mask, chunk.mix_spec[None], result.length)[0, 0]
    assert torch.allclose(result.region_audio(region), expected, atol=1e-5)
    frames = duet_frames(2)[None]  # (1, V, 3, H, W): the training view of a scene, left and right halves
    size = frames.shape[-1]
    halves = torch.zeros(1, 2, size, size)
    halves[:, 0, :, : size // 2], halves[:, 1, :, size // 2 :] = 1, 1
    with torch.no_grad():
        visual = model.pixel_features(frames)[0]  # (K, h, w)
        on_grid = torch.nn.functional.adaptive_avg_pool2d(halves[0], visual.shape[-2:])
        torch.testing.assert_close(
            cells.region_vectors(visual, on_grid), model.encode_scene(frames, halves)[0]
        )
    both = result.region_audio(torch.stack([region, (region > 0).float()]))
    assert both.shape == (2, result.length) and torch.allclose(both[0], expected, atol=1e-5)
    one = torch.zeros(h, w)
    one[1, 2] = 1
    assert torch.allclose(result.region_audio(one), result.cell_audio(1, 2))
    assert torch.allclose(result.cell_audio(1, 2), result.all_cells()[1, 2], atol=1e-5)
    with pytest.raises(ValueError, match="grid"):
        result.region_audio(torch.ones(h + 1, w))
    with pytest.raises(IndexError):
        result.cell_audio(h, 0)


class _Pointwise(nn.Module):
    """A time-local stand-in audio net: 1x1 conv (what the chunk cross-fade must reproduce exactly)."""

    def __init__(self, k: int):
        super().__init__()
        self.conv = nn.Conv2d(1, k, 1)

    def forward(self, x):
        return self.conv(x)


@pytest.mark.parametrize("pointwise", [True, False], ids=["time-local net", "u-net"])
def test_chunked_overlap_add_matches_unchunked(pointwise):
    model = tiny_model()
    if pointwise:
        model.audio_net = _Pointwise(model.cfg.model.k).eval()
    video = duet_video(2.0)  # static frames: the same visual features in every chunk
    chunked = pixels.PixelsOptions(chunk_seconds=0.4, overlap=0.4, page_seconds=2.0, bin_seconds=0.05)
    whole = pixels.PixelsOptions(chunk_seconds=2.0, page_seconds=2.0, bin_seconds=0.05)
    a = pixels.pixels(video, model, options=chunked, progress=False)
    b = pixels.pixels(video, model, options=whole, progress=False)
    assert len(b.chunks) == 1 and len(a.chunks) == math.ceil((16000 - 3200) / int(3200 * 0.6)) + 1
    assert all(c.length < 3200 + 64 for c in a.chunks)  # memory bounded by the chunk, not the video
    err = (a.cells - b.cells).pow(2).sum() / b.cells.pow(2).sum()
    if pointwise:
        assert float(err) < 1e-9
    else:
        assert 10 * math.log10(1 / float(err)) > 25  # U-Net context differs only near chunk edges
    assert torch.allclose(a.mixture, b.mixture, atol=1e-6)
    assert torch.allclose(a.energy.sum(), b.energy.sum(), rtol=0.02)


def test_file_source_is_read_chunk_by_chunk(tmp_path, monkeypatch):
    a, b = two_tones(2.0)
    path = tmp_path / "duet.mp4"
    io.write_video(path, duet_frames(20), 10, (a + b)[None], SR)
    asked = []
    real = io.read_audio

    def spy(p, sr, **kw):
        asked.append(kw.get("duration"))
        return real(p, sr, **kw)

    monkeypatch.setattr(io, "read_audio", spy)
    opts = pixels.PixelsOptions(chunk_seconds=0.5, page_seconds=0.5)
    result = pixels.pixels(path, tiny_model(), options=opts, progress=False)
    assert len(asked) == len(result.chunks) > 3
    hop = tiny_config().audio.hop
    assert all(d is not None and d <= 0.5 + hop / SR for d in asked)
    assert abs(result.duration - 2.0) < 0.05


def test_video_without_sound_is_a_clear_error(tmp_path):
    path = tmp_path / "silent.mp4"
    io.write_video(path, duet_frames(10), 10)
    with pytest.raises(io.MediaError, match="silent.mp4.*soundtrack"):
        pixels.pixels(path, tiny_model(), progress=False)


# ------------------------------------------------------------------------------------------ objects


def hand_built(k: int = 4, seconds: float = 1.0):
    """A result from hand-made features: left cells see component 0 (low band), right cells component 1."""
    model = tiny_model()
    with torch.no_grad():
        model.scale.fill_(10.0)
        model.bias.fill_(-5.0)
    low, high = two_tones(seconds)
    mix = low + high
    mix_spec, mix_mag = model.spectrogram(mix[None])
    f = model.cfg.audio.log_bins
    audio = torch.zeros(k, f, mix_spec.shape[-1])
    split = int(
        torch.argmin((spec.log_bin_positions(128, f, SR) * SR / 254 - 900).abs())
    )  # log bin at 900 Hz
    audio[0, :split], audio[1, split:] = 1.0, 1.0
    visual = torch.zeros(k, 4, 4)
    visual[0, :, :2], visual[1, :, 2:] = 1.0, 1.0
    weight = torch.ones(len(mix))
    chunk = cells.Chunk(0, weight, visual, audio, mix_spec[0], mix)
    opts = pixels.PixelsOptions(page_seconds=0.5, bin_seconds=0.05)
    return pixels.analyse(model, [chunk], len(mix), opts, progress=False), low, high


def test_objects_found_on_hand_built_features():
    result, low, high = hand_built()
    left, right = torch.zeros(4, 4, dtype=torch.bool), torch.zeros(4, 4, dtype=torch.bool)
    left[:, :2], right[:, 2:] = True, True
    prototypes = {"low thing": torch.tensor([1.0, 0, 0, 0]), "high thing": torch.tensor([0, 1.0, 0, 0])}
    found = objects.find_objects(result, prototypes=prototypes)
    assert len(found) == 2
    by_side = {bool(o.region[0, 0]): o for o in found}
    assert torch.equal(by_side[True].region, left) and torch.equal(by_side[False].region, right)
    assert by_side[True].category == "low thing" and by_side[False].category == "high thing"
    for o, truth in ((by_side[True], low), (by_side[False], high)):
        assert np.corrcoef(o.audio.numpy(), truth.numpy())[0, 1] > 0.97
        assert o.heatmap[o.region].mean() > 0.5 > o.heatmap[~o.region].mean()
    assert abs(sum(o.energy_share for o in found) - 1) < 1e-6


def test_one_object_when_every_cell_sounds_alike():
    result, _, _ = hand_built()
    for c in result.chunks:
        c.visual[:] = torch.tensor([1.0, 1.0, 0, 0])[:, None, None]
    result = pixels.analyse(result.model, result.chunks, result.length, result.options, progress=False)
    found = objects.find_objects(result)
    assert len(found) == 1 and bool(found[0].region.all()) and found[0].category is None


def test_place_keeps_a_cell_with_its_neighbours():
    energy = torch.zeros(4, 6, 2, 1)  # (h, w, bands, bins): a low sound on the left, a high one on the right
    energy[:, :3] = torch.tensor([1.0, 0.2])[:, None]
    energy[:, 3:] = torch.tensor([0.2, 1.0])[:, None]
    energy[1, 0] = torch.tensor([0.5, 0.6])[:, None]  # a left cell that sounds a little more like the right
    for place, with_left in ((0.0, False), (1.0, True)):
        groups = objects.group_cells(energy, place=place)
        assert len(groups) == 2
        left = next(g for g in groups if g.cells[0, 1])
        assert bool(left.cells[1, 0]) == with_left and not left.cells[:, 3:].any()
        assert left.heatmap[~left.cells].eq(0).all() and left.heatmap.max() == 1  # amplitude, its cells only
        torch.testing.assert_close(
            left.heatmap[0, 1], (energy[0, 1].sum() / energy[:, :3].sum((2, 3)).max()).sqrt()
        )


def test_look_parts_two_things_that_sound_alike():
    energy = torch.ones(4, 6, 2, 1)  # (h, w, bands, bins): every cell makes the same sound
    visual = torch.zeros(3, 4, 6)  # (K, h, w): a thing on the left, another on the right
    visual[0, :, :3], visual[1, :, 3:] = 1.0, 1.0
    assert len(objects.group_cells(energy, visual=visual, look=0.0)) == 1  # by sound and place: one
    groups = objects.group_cells(energy, visual=visual, look=0.5)
    assert sorted(int(g.cells[:, :3].sum()) for g in groups) == [0, 12]  # by look too: left and right
    assert all(g.cells[:, :3].all() or g.cells[:, 3:].all() for g in groups)
    same = torch.ones(3, 4, 6)  # one look everywhere: still one object
    assert len(objects.group_cells(energy, visual=same, look=0.5)) == 1
    points, distinct = objects.cell_points(energy, 2.0, visual, 0.5)
    assert points.shape == (24, 2 + 2 + 3) and distinct.shape == (24, 2 + 3)
    torch.testing.assert_close(distinct.norm(dim=1), torch.ones(24, dtype=torch.float64))


def test_smooth_heat_puts_the_peak_on_the_loud_block_not_a_lone_cell():
    heat = torch.zeros(6, 6)
    heat[0, 5] = 1.0  # a lone loud cell
    heat[3:6, 0:3] = 0.6  # the instrument: a block of cells, each less loud
    smooth = objects.smooth_heat(heat)
    row, col = divmod(int(smooth.argmax()), 6)
    assert int(heat.argmax()) == 5 and row >= 3 and col <= 2
    torch.testing.assert_close(smooth[4, 1], torch.tensor(0.6))  # a mean, not a sum
    torch.testing.assert_close(smooth[0, 5], torch.tensor(0.25))  # a corner has four cells
    assert smooth.shape == heat.shape


def test_silhouette_and_clustering_on_points():
    gen = torch.Generator().manual_seed(0)
    a = torch.tensor([1.0, 0, 0]) + 0.02 * torch.randn(10, 3, generator=gen)
    b = torch.tensor([0, 1.0, 0]) + 0.02 * torch.randn(7, 3, generator=gen)
    desc = torch.nn.functional.normalize(torch.cat([a, b]).double(), dim=1)
    labels = objects.cluster_cells(desc, 4)
    assert len(set(labels[:10])) == 1 and len(set(labels[10:])) == 1 and labels[0] != labels[10]
    assert objects.silhouette(desc, labels) > 0.9
    assert objects.silhouette(desc, np.zeros(17, dtype=int)) == 0.0


# ------------------------------------------------------------------------------------------ metrics


def test_ciou_on_hand_made_heatmaps():
    gt = torch.zeros(8, 8, dtype=torch.bool)
    gt[:, :4] = True
    assert localization.ciou(gt.float(), gt) == pytest.approx(1.0)
    assert localization.ciou(1 - gt.float(), gt) == pytest.approx(0.0)
    wider = torch.zeros(8, 8)
    wider[:, :6] = 1.0  # covers the mask and 16 more pixels: 32 / (32 + 16)
    assert localization.ciou(wider, gt) == pytest.approx(32 / 48)
    coarse = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # a 2x2 heatmap resized to 8x8
    assert localization.ciou(coarse, gt) == pytest.approx(1.0, abs=0.2)
    ramp = torch.arange(8, dtype=torch.float32).flip(0).expand(8, 8)  # larger to the left
    assert localization.ciou(ramp, gt, threshold="median") == pytest.approx(1.0)
    soft = gt.float() * 0.5  # consensus weights: half the annotators
    assert localization.ciou(gt.float(), soft) == pytest.approx(16 / 16)  # sum(A*G) / (sum(G) + 0)


def test_box_mask_fills_the_bounding_box():
    mask = torch.zeros(8, 10, dtype=torch.bool)
    mask[2, 3] = mask[5, 7] = True
    box = localization.box_mask(mask)
    assert box.sum() == 4 * 5 and box[2:6, 3:8].all()
    assert not localization.box_mask(torch.zeros(4, 4, dtype=torch.bool)).any()


def test_success_rates_and_auc():
    assert localization.success_auc([1.0, 1.0]) == pytest.approx(1.0)
    assert localization.success_auc([0.0, 0.0]) == pytest.approx(0.025)  # only threshold 0 succeeds
    rates = localization.success_rates([0.2, 0.6])
    assert rates[0] == 1 and rates[4] == 1 and rates[5] == 0.5 and rates[12] == 0.5 and rates[13] == 0
    assert localization.success_auc([0.5]) == pytest.approx(0.5 + 0.025, abs=1e-9)


def test_duet_scores_on_the_hand_built_duet():
    result, low, high = hand_built()
    result.objects = objects.find_objects(result)
    left = torch.zeros(64, 64, dtype=torch.bool)
    left[:, :32] = True
    gts = [left, ~left]
    scores = localization.duet_scores(result, gts, torch.stack([low, high]))
    assert scores["ciou"] > 0.8 and scores["objects"] == 2  # a 4 x 4 heatmap resized: soft edges
    assert scores["ciou_pixels"] == pytest.approx(scores["ciou"])  # the halves are their own boxes
    assert min(scores["sdr_region"]) > 12 and min(scores["sdr_object"]) > 12
    assert scores["peak_on"] == [True, True] and scores["named"] == []
    summary = localization.summarize_duets([{"path": "x", **scores}])
    assert summary["ciou@0.5"] == 1.0 and summary["auc"] > 0.85 and summary["peak_on"] == 1.0
    swapped = localization.duet_scores(result, [~left, left], torch.stack([high, low]))
    assert swapped["peak_on"] == [True, True]  # matching follows the masks
    result.objects[0].category, result.objects[1].category = "flute", None
    named = localization.duet_scores(result, gts, torch.stack([low, high]), ["flute", "drum"])["named"]
    assert sorted(named) == [False, True]


def test_a_heat_peak_off_the_box_is_not_on_it():
    box = torch.zeros(64, 64, dtype=torch.bool)
    box[:, :32] = True
    assert not localization.peak_inside((0, 3), (4, 4), box) and localization.peak_inside(
        (0, 3), (4, 4), ~box
    )
    heat = torch.zeros(6, 6)
    heat[0, 5] = 1.0  # a lone loud cell on the right; the object's cells on the left
    heat[3:6, 0:3] = 0.6
    thing = objects.SoundingObject(0, heat > 0, heat, 1.0)
    row, col = thing.peak
    assert row >= 3 and col <= 2 and localization.peak_inside(thing.peak, (6, 6), box)


# ------------------------------------------------------------------------------------------ the verb


def test_cli_writes_every_output(tmp_path):
    a, b = two_tones(1.5)
    video = tmp_path / "duet.mp4"
    io.write_video(video, duet_frames(15), 10, (a + b)[None], SR)
    release = write_release(tmp_path / "model", tiny_model(), tiny_config())
    out = tmp_path / "out"
    code = cli_main(["pixels", str(video), "--model", str(release), "--out", str(out), "--page-seconds", "1"])
    assert code == 0
    facts = json.loads((out / "pixels.json").read_text())
    assert facts["grid"] == [4, 4] and len(facts["objects"]) >= 1
    assert all(0 < v < 1 for o in facts["objects"] for v in o["peak"]) and facts["options"]["look"] == 0.5
    assert all((out / name).is_file() for name in facts["files"]["objects"])
    assert (out / "heatmaps" / "overall.png").is_file() and (out / "heatmaps" / "object_1.png").is_file()
    info = io.probe(out / "overlay.mp4")
    assert info.has_video and info.has_audio and abs(info.duration - 1.5) < 0.2
    page = (out / "index.html").read_text()
    assert "pixelsound-data" in page and "data:video/mp4;base64," in page
    assert facts["files"]["page"]["bytes"] == (out / "index.html").stat().st_size
    stem = io.read_audio(out / "object_1.wav", SR)
    assert stem.shape[-1] == pytest.approx(1.5 * SR, abs=2) and float(stem.abs().max()) > 1e-3


def test_cli_reports_bad_input(tmp_path, caplog):
    release = write_release(tmp_path / "model", tiny_model(), tiny_config())
    code = cli_main(
        ["pixels", str(tmp_path / "missing.mp4"), "--model", str(release), "--out", str(tmp_path)]
    )
    assert code == 1 and "missing.mp4" in caplog.text
