"""int8 convolutions (``--int8``): close to float32, the merged last conv kept, usable by separate."""

import pytest
import torch

from pixelsound import int8
from pixelsound.clip import TensorClip
from pixelsound.errors import UsageError
from pixelsound.inference import fold_batchnorm
from pixelsound.model import SoundOfPixels
from pixelsound.separate import separate, separate_waveform
from tiny import tiny_config

pytestmark = pytest.mark.skipif(not int8.available(), reason="no oneDNN int8 convolution in this build")


def test_int8_conv_is_close_to_the_float_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, 3, stride=2, padding=2, dilation=2)
    x = torch.randn(2, 16, 20, 18) - 0.3  # negative values: a nonzero zero point
    with torch.no_grad():
        ref, out = conv(x), int8.Int8Conv2d(conv)(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert (out - ref).norm() / ref.norm() < 0.02
    assert torch.equal(int8.Int8Conv2d(conv)(torch.zeros(1, 16, 9, 9)), conv(torch.zeros(1, 16, 9, 9)))


def test_quantized_model_keeps_small_and_merged_convs_and_stays_close():
    cfg = tiny_config(frame_layers=3)
    torch.manual_seed(0)
    model = fold_batchnorm(SoundOfPixels(cfg))
    quantized = int8.quantize_convs(model)
    assert isinstance(quantized.audio_net.up[0][-1], torch.nn.Conv2d)  # merged with the synthesizer
    assert isinstance(quantized.audio_net.down[0][0], torch.nn.Conv2d)  # one input channel
    assert isinstance(quantized.audio_net.up[1][2], int8.Int8Conv2d)  # ReLU, upsampling, conv
    assert not any(isinstance(m, int8.Int8Conv2d) for m in model.modules())  # the original is untouched
    mix = torch.randn(cfg.audio.length) * 0.1
    videos = torch.randint(0, 256, (2, 8, 3, 32, 32), dtype=torch.uint8)
    clips = [TensorClip(v, 8.0) for v in videos]
    ref = separate_waveform(model, mix, clips, bf16=False)
    out = separate_waveform(quantized, mix, clips, bf16=False)
    assert out.shape == ref.shape
    assert 0 < (out - ref).norm() / ref.norm() < 0.05


def test_int8_is_refused_off_the_cpu():
    with pytest.raises(UsageError, match="int8 runs on the CPU only"):
        separate(["a.mp4", "b.mp4"], device="cuda", int8=True)
