"""SoundOfPixels, the frame nets, the U-Net and the synthesizer on tiny configurations."""

import dataclasses
import math

import pytest
import torch
import torchvision

from pixelsound.clip import TensorClip
from pixelsound.config import ModelConfig
from pixelsound.frames import ResNetFrames, load_torchvision_weights, mix_styles, resnet18_trunk
from pixelsound.model import SoundOfPixels, synthesize
from pixelsound.separate import separate, separate_waveform
from pixelsound.unet import AudioUNet
from pixelsound.windows import fade_weights, flush_starts, frame_times
from tiny import tiny_config

SPACETIME = dict(
    frame_net="spacetime", spacetime_patch=8, spacetime_dim=16, spacetime_depth=1, spacetime_heads=2
)


def inputs(b=2, n=2, length=4095, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(b, length, generator=gen) * 0.1
    frames = torch.randint(0, 256, (b, n, 2, 3, 32, 32), dtype=torch.uint8, generator=gen)
    return mix, frames


@pytest.mark.parametrize("model_kw", [{}, SPACETIME], ids=["resnet18", "spacetime"])
def test_forward_shapes(model_kw):
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config(**model_kw))
    mix, frames = inputs(b=3, n=2)
    out = model(mix, frames)
    t = 4095 // 64 + 1
    assert out.masks.shape == out.logits.shape == (3, 2, 64, t)
    assert out.mix_mag.shape == (3, 64, t)
    assert out.mix_spec.shape == (3, 128, t) and out.mix_spec.is_complex()
    assert ((out.masks >= 0) & (out.masks <= 1)).all()
    pixels = model.pixel_features(frames[:, 0])
    assert pixels.shape == (3, 4, 4, 4)  # 32 px / 8 (two ResNet stages) or / 8 (patch size)
    out.logits.mean().backward()
    assert all(p.grad is not None for p in model.frame_net.parameters())


def test_full_dilated_resnet_has_output_stride_16():
    net = ResNetFrames(k=32).eval()  # torchvision ResNet-18, layer4 dilated
    with torch.no_grad():
        out = net(torch.randn(1, 1, 3, 224, 224))
    assert out.shape == (1, 32, 1, 14, 14)
    assert net.trunk.layer4[0].conv1.stride == (1, 1) and net.trunk.layer4[1].conv2.dilation == (2, 2)


def test_output_stride_8_doubles_the_grid_with_the_same_weights():
    coarse, fine = resnet18_trunk(layers=3, width=16), resnet18_trunk(layers=3, width=16, stride=8)
    fine.load_state_dict(coarse.state_dict())  # dilation changes no parameter
    with torch.no_grad():
        assert fine(torch.randn(1, 3, 64, 64)).shape == (1, 64, 8, 8)
    full = resnet18_trunk(stride=8)
    assert full.layer3[1].conv1.dilation == (2, 2) and full.layer4[1].conv2.dilation == (4, 4)
    with torch.no_grad():
        assert full(torch.randn(1, 3, 64, 64)).shape == (1, 512, 8, 8)
    with pytest.raises(ValueError, match="frame_stride 8 or 16"):
        resnet18_trunk(stride=4)


def test_mix_styles_keeps_each_pattern_and_blends_the_statistics_of_two_pictures():
    torch.manual_seed(0)
    x = (
        torch.randn(2, 5, 6, 6) * torch.tensor([1.0, 3.0])[:, None, None, None]
        + torch.tensor([0.0, 4.0])[:, None, None, None]
    )
    y = mix_styles(x, alpha=0.5)

    def standard(t):
        return (t - t.mean((2, 3), keepdim=True)) / t.std((2, 3), keepdim=True)

    assert torch.allclose(standard(y), standard(x), atol=1e-4)  # what is drawn stays
    lo, hi = x.mean((2, 3)).min(0).values, x.mean((2, 3)).max(0).values  # (C,)
    means = y.mean((2, 3))  # (2, C): each between the two pictures' means, channel by channel
    assert ((means >= lo - 1e-4) & (means <= hi + 1e-4)).all()
    assert not torch.allclose(y, x, atol=1e-2)  # and some picture took on the other's statistics
    assert torch.equal(mix_styles(x[:1]), x[:1])  # nothing to mix with


def test_mixstyle_changes_training_passes_only():
    torch.manual_seed(0)
    plain, mixing = ResNetFrames(k=4, layers=2, width=8), ResNetFrames(k=4, layers=2, width=8, mixstyle=1.0)
    mixing.load_state_dict(plain.state_dict())
    frames = torch.randn(3, 2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain.eval()(frames), mixing.eval()(frames))
        plain.train(), mixing.train()
        assert not torch.allclose(plain(frames), mixing(frames), atol=1e-3)


def test_right_sized_resnet_channels():
    trunk = resnet18_trunk(layers=3, width=16)
    assert [n for n, _ in trunk.named_children()][-1] == "layer3"
    with torch.no_grad():
        assert trunk(torch.randn(1, 3, 64, 64)).shape == (1, 64, 4, 4)


def test_frame_weights_load_and_mismatch(tmp_path):
    reference = torchvision.models.resnet18(weights=None)
    keep = ("conv1.", "bn1.", "layer1.", "layer2.")
    state = {k: v for k, v in reference.state_dict().items() if k.startswith(keep)}
    path = tmp_path / "r18.pt"
    torch.save(state, path)
    trunk = resnet18_trunk(layers=2, width=64)
    load_torchvision_weights(trunk, path)
    assert torch.equal(trunk.layer2[0].conv1.weight, reference.layer2[0].conv1.weight)
    with pytest.raises(ValueError, match="r18.pt.*shape mismatch"):
        load_torchvision_weights(resnet18_trunk(layers=2, width=32), path)
    with pytest.raises(ValueError, match="missing"):
        load_torchvision_weights(resnet18_trunk(layers=3, width=64), path)
    with pytest.raises(ValueError, match="not found"):
        load_torchvision_weights(trunk, tmp_path / "absent.pt")


def test_synthesizer_einsum_matches_loop():
    torch.manual_seed(0)
    b, n, k, f, t = 2, 3, 5, 6, 7
    visual, audio = torch.rand(b, n, k), torch.randn(b, k, f, t)
    scale, bias = torch.randn(k), torch.randn(1)
    expected = torch.zeros(b, n, f, t)
    for i in range(b):
        for j in range(n):
            for c in range(k):
                expected[i, j] += scale[c] * visual[i, j, c] * audio[i, c]
    assert torch.allclose(synthesize(visual, audio, scale, bias), expected + bias, atol=1e-5)


def test_per_pixel_form_equals_clip_form_for_constant_pixels():
    torch.manual_seed(0)
    visual, audio = torch.rand(2, 4), torch.randn(2, 4, 5, 6)
    scale, bias = torch.randn(4), torch.randn(1)
    clip = synthesize(visual[:, None], audio, scale, bias)  # (B, 1, F, T)
    pixels = visual[:, :, None, None].expand(2, 4, 3, 2)  # (B, K, h, w), every pixel = the clip vector
    per_pixel = synthesize(pixels, audio, scale, bias)  # (B, h, w, F, T)
    assert per_pixel.shape == (2, 3, 2, 5, 6)
    assert torch.allclose(per_pixel, clip[:, :, None].expand_as(per_pixel), atol=1e-6)


def test_pixel_masks_are_the_synthesizer_per_pixel():
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config()).eval()
    mix, frames = inputs(b=2, n=1)
    with torch.inference_mode():
        masks = model.pixel_masks(mix, frames[:, 0])  # (B, h, w, F, T)
        audio = model.encode_audio(model.spectrogram(mix)[1])
        pixels = model.pixel_features(frames[:, 0])  # (B, K, h, w)
        one = torch.sigmoid(model.synthesize(pixels[:, :, 2, 1][:, None], audio))[:, 0]
    assert masks.shape == (2, 4, 4, 64, 4095 // 64 + 1)
    assert torch.allclose(masks[:, 2, 1], one, atol=1e-6)


@pytest.mark.parametrize("model_kw", [{}, SPACETIME], ids=["resnet18", "spacetime"])
def test_batch_consistency(model_kw):
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config(**model_kw)).eval()
    mix, frames = inputs(b=3)
    with torch.inference_mode():
        batched = model(mix, frames).masks
        single = torch.cat([model(mix[i : i + 1], frames[i : i + 1]).masks for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_state_dict_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config()
    model = SoundOfPixels(cfg)
    mix, frames = inputs()
    model.train()
    model(mix, frames)  # moves BatchNorm running statistics away from their initial values
    model.eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    fresh = SoundOfPixels(cfg).eval()
    fresh.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    with torch.inference_mode():
        assert torch.equal(model(mix, frames).logits, fresh(mix, frames).logits)
    assert "warp_matrix" not in model.state_dict()  # derived from the config, not saved


def test_uint8_and_unit_float_frames_agree():
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config()).eval()
    mix, frames = inputs()
    with torch.inference_mode():
        a = model(mix, frames).logits
        b = model(mix, frames.float() / 255).logits
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("length", [4095, 3001, 777])
def test_separate_returns_exact_length(length):
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config()).eval()
    mix, frames = inputs(b=2, n=3, length=length)
    with torch.inference_mode():
        waves = model.separate(mix, frames)
        hard = model.separate(mix, frames, hard=True)
    assert waves.shape == hard.shape == (2, 3, length)
    assert torch.isfinite(waves).all()


def test_unet_pads_and_crops_odd_sizes():
    net = AudioUNet(k=3, depth=3, channels=4).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 37, 21)).shape == (2, 3, 37, 21)
    widths = [
        m.out_channels for m in AudioUNet(k=3, depth=7, channels=64).down.modules() if hasattr(m, "stride")
    ]
    assert widths == [64, 128, 256, 512, 512, 512, 512]


def test_bad_inputs_give_clear_errors():
    model = SoundOfPixels(tiny_config())
    mix, frames = inputs()
    with pytest.raises(ValueError, match=r"\(B, N, V, 3, H, W\)"):
        model(mix, frames[:, 0])
    with pytest.raises(ValueError, match="unknown frame net"):
        SoundOfPixels(dataclasses.replace(tiny_config(), model=ModelConfig(frame_net="vit")))
    with pytest.raises(ValueError, match="r18.pt.*spacetime"):
        SoundOfPixels(tiny_config(**SPACETIME, frame_weights="r18.pt"))


def test_parameter_groups_cover_everything_once():
    model = SoundOfPixels(tiny_config())
    groups = model.parameter_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups["frame"]} == {id(p) for p in model.frame_net.parameters()}


# ---------------------------------------------------------------------------------------------- separation


def test_flush_starts_cover_and_end_flush():
    assert flush_starts(100, 200, 0.25) == [0]
    starts = flush_starts(1000, 300, 0.25)
    assert starts[0] == 0 and starts[-1] == 700
    assert all(b - a <= 225 for a, b in zip(starts, starts[1:], strict=False))
    weights = fade_weights(300, 75)
    assert weights.min() > 0 and weights.max() == 1 and weights.shape == (300,)


def test_chunked_overlap_add_is_exact_for_all_pass_masks():
    torch.manual_seed(0)
    model = SoundOfPixels(tiny_config()).eval()
    with torch.no_grad():
        model.scale.zero_()
        model.bias.fill_(50.0)  # every mask is 1: each window's separation is its mixture
    mix = torch.randn(4095 * 3 + 1234) * 0.1
    videos = torch.randint(0, 256, (2, 20, 3, 32, 32), dtype=torch.uint8)  # (N, V_all, 3, H, W)
    out = separate_waveform(model, mix, [TensorClip(v, fps=4.0) for v in videos], overlap=0.3, batch=2)
    assert out.shape == (2, mix.shape[0])
    assert torch.allclose(out, mix.expand(2, -1), atol=1e-5)


def test_chunks_see_their_own_frames():
    video = torch.arange(10, dtype=torch.uint8)[:, None, None, None].expand(10, 3, 2, 2)
    times = frame_times(torch.tensor([0.0, 2.0]), 1.0, 2)  # (C, V)
    frames = TensorClip(video, fps=2.0).frames_at(times)
    assert frames.shape == (2, 2, 3, 2, 2)  # (C, V, 3, H, W)
    assert frames[:, :, 0, 0, 0].tolist() == [[0, 1], [4, 5]]  # frames at 0.25/0.75 s and 2.25/2.75 s


def _tiny_video(path, f0, seconds=1.5, sr=8000):
    from pixelsound.io import write_video

    t = torch.arange(int(seconds * sr)) / sr
    audio = (0.3 * torch.sin(2 * math.pi * f0 * t))[None]
    frames = torch.full((int(seconds * 8), 3, 32, 32), int(f0) % 256, dtype=torch.uint8)
    write_video(path, frames, 8, audio=audio, sr=sr)
    return path


def test_separate_cli_on_tiny_videos(tmp_path):
    from pixelsound.checkpoint import write_release
    from pixelsound.cli import main
    from pixelsound.io import read_audio, write_audio

    torch.manual_seed(0)
    cfg = tiny_config()
    write_release(tmp_path / "model", SoundOfPixels(cfg), cfg)
    a, b = _tiny_video(tmp_path / "a.mp4", 220), _tiny_video(tmp_path / "b.mp4", 500)
    assert (
        main(["separate", str(a), str(b), "--model", str(tmp_path / "model"), "--out", str(tmp_path / "o")])
        == 0
    )
    mix = read_audio(tmp_path / "o" / "mix.wav", 8000)
    for name in ("0_a.wav", "1_b.wav"):
        assert read_audio(tmp_path / "o" / name, 8000).shape == mix.shape
    assert mix.shape[-1] > 4095  # longer than one window: went through the chunked path

    write_audio(tmp_path / "m.wav", torch.zeros(1, 3000), 8000)
    result = separate([a, b], tmp_path / "model", mix=tmp_path / "m.wav")
    assert result.sources.shape == (2, 3000) and result.names == ["a", "b"]
    assert main(["separate", str(a), "--model", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 1
