"""int8 convolutions for CPU inference: an option (``--int8``) that trades a little accuracy for speed.

Post-training quantization without calibration data: each conv's weights become int8, one scale per output
channel (symmetric), and its input is quantized to uint8 on the fly with one scale and zero point per call
(its own min and max: dynamic, so nothing depends on a calibration set). The conv runs in oneDNN's int8
kernels (``torch.ops.onednn.qconv2d_pointwise``, what PyTorch's x86 int8 path lowers to) and gives float32
back, so everything around it (activations, upsampling, skips, the merged last conv) is unchanged.

Convs whose input has few channels (the U-Net's first, the ResNet's stem) and the U-Net's last conv (merged
with the synthesizer, :func:`pixelsound.inference.source_logits`) stay float32. What it costs in SDR and
gains in speed is measured in ``benchmarks/results/sop.md``.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

MIN_CHANNELS = 8  # convs with fewer input channels stay float32 (little work, poorly suited to int8 kernels)


def available() -> bool:
    """Whether this PyTorch build has oneDNN's int8 convolution (x86 CPUs)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv2d_pointwise")


class Int8Conv2d(nn.Module):
    """A Conv2d computed in int8: weights per output channel, the input per call. Float32 in and out.

    Shapes:
        ``(B, C_in, H, W)`` -> ``(B, C_out, H', W')``, as the conv it replaces
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        weight = conv.weight.detach().float()  # (C_out, C_in, kh, kw)
        scale = (weight.abs().amax((1, 2, 3)) / 127).clamp_min(1e-12)  # (C_out,)
        qweight = torch.round(weight / scale[:, None, None, None]).clamp(-127, 127).to(torch.int8)
        self.geometry = (list(conv.stride), list(conv.padding), list(conv.dilation), conv.groups)
        self.w_scale, self.w_zero = scale, torch.zeros_like(scale, dtype=torch.int64)
        self.packed = torch.ops.onednn.qconv_prepack(qweight, scale, 1.0, 0, *self.geometry)  # oneDNN layout
        self.bias = None if conv.bias is None else conv.bias.detach().float()

    def forward(self, x: Tensor) -> Tensor:
        x = x.float().contiguous(memory_format=torch.channels_last)
        lo, hi = torch.aminmax(x.permute(0, 2, 3, 1).reshape(-1))  # a view: channels-last memory is dense
        lo, hi = min(lo.item(), 0.0), max(hi.item(), 0.0)  # 0 must be exact (zero padding)
        scale = max((hi - lo) / 254, 1e-12)  # 254 steps: x / scale + zero + 0.5 stays in [0, 255]
        zero = round(-lo / scale)
        qx = torch.add(torch.tensor(zero + 0.5), x, alpha=1 / scale).to(torch.uint8)  # rounded, channels-last
        x_scale, x_zero = torch.tensor(scale), torch.tensor(zero)
        return torch.ops.onednn.qconv2d_pointwise.tensor(
            qx, x_scale, x_zero, self.packed, self.w_scale, self.w_zero, self.bias, *self.geometry,
            1.0, 0, torch.float32, "none", [], "",
        )  # fmt: skip


def quantize_convs(model: nn.Module, keep: tuple[str, ...] = ("audio_net.up.0.",)) -> nn.Module:
    """A copy of ``model`` (eval mode) with every Conv2d of at least :data:`MIN_CHANNELS` input channels
    computed in int8 (:class:`Int8Conv2d`), except those whose name starts with one of ``keep`` (default:
    the U-Net's last level, whose conv :func:`pixelsound.inference.source_logits` merges).

    Raises:
        RuntimeError: this PyTorch has no oneDNN int8 convolution (:func:`available`).
    """
    if not available():
        raise RuntimeError("--int8 needs PyTorch's oneDNN int8 convolution (an x86 CPU build)")
    model = copy.deepcopy(model).eval()
    for path, module in list(model.named_modules()):
        for name, child in list(module.named_children()):
            full = f"{path}.{name}" if path else name
            if not isinstance(child, nn.Conv2d) or child.in_channels < MIN_CHANNELS:
                continue
            if not full.startswith(keep):
                setattr(module, name, Int8Conv2d(child))
    return model
