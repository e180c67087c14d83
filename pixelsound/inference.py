"""Faster inference with a trained model, same outputs: what ``pixelsound separate`` runs.

Three rewrites that change only the order of floating-point operations (outputs agree with
``SoundOfPixels.separate`` to float32 rounding; ``tests/test_inference.py``):

* :func:`fold_batchnorm`: every BatchNorm that directly follows a conv is folded into the conv's weights and
  bias (eval mode only), so it costs nothing at inference.
* :func:`source_logits`: the synthesizer ``sum_k alpha_k v_k s_k + b`` is linear in the U-Net's last conv,
  so that conv and the synthesizer become one conv with N output channels, its weights mixed from the K
  filters by each source's visual vector. The U-Net's most expensive layer (2 C_0 -> K channels at the full
  F x T grid) then computes N maps instead of K.
* :class:`FrameFeatures`: frame-net features are computed once per distinct frame (a still picture, or a
  frame that consecutive windows share) and reused.

Shapes follow the package glossary (J windows in a batch play the role of B).
"""

from __future__ import annotations

import copy
import hashlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models.resnet import BasicBlock

from pixelsound import spec
from pixelsound.frames import ResNetFrames, normalize_frames, pool_clip, pool_pixels
from pixelsound.model import SoundOfPixels


def _fold_pair(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    conv, bn = parent._modules[conv_name], parent._modules[bn_name]
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
        return  # folded already
    fused = fuse_conv_bn_eval(conv, bn)
    if conv.weight.is_contiguous(memory_format=torch.channels_last):
        fused = fused.to(memory_format=torch.channels_last)
    parent._modules[conv_name], parent._modules[bn_name] = fused, nn.Identity()


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with each BatchNorm2d that directly follows a Conv2d folded into it.

    Pairs are found in ``nn.Sequential`` containers (U-Net levels, the ResNet stem, projections) and in
    torchvision ``BasicBlock`` (conv1/bn1, conv2/bn2). Other BatchNorms (the U-Net's input one, which comes
    before its padding) are kept.
    """
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if isinstance(module, BasicBlock):
            _fold_pair(module, "conv1", "bn1")
            _fold_pair(module, "conv2", "bn2")
        elif isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in zip(names, names[1:], strict=False):
                _fold_pair(module, first, second)
    return model


def source_logits(model: SoundOfPixels, mix_mag: Tensor, visual: Tensor) -> Tensor:
    """Mask logits of each source, the U-Net's last conv merged with the synthesizer (see module docstring).

    Args:
        model: a SoundOfPixels.
        mix_mag: warped magnitude of the mixture ``(B, F, T)``.
        visual: one visual vector per source ``(B, N, K)``.

    Returns:
        ``(B, N, F, T)``, equal to ``model.synthesize(visual, model.encode_audio(mix_mag))``.
    """
    net = model.audio_net
    f, t = mix_mag.shape[-2:]
    *pre, last = net.up[0]  # ReLU, upsampling, conv (2 C_0 -> K, with bias)
    hidden = nn.Sequential(*pre)(net.features(spec.log_magnitude(mix_mag)[:, None]))  # (B, 2 C_0, F', T')
    scaled = visual * model.scale  # (B, N, K): alpha_k v_k
    mixed = torch.einsum("bnk,kcij->bncij", scaled, last.weight.to(scaled.dtype))  # (B, N, 2 C_0, 3, 3)
    bias = scaled @ last.bias.to(scaled.dtype) + model.bias  # (B, N)
    out = [
        F.conv2d(hidden[i : i + 1], mixed[i].to(hidden.dtype), bias[i].to(hidden.dtype), padding=last.padding)
        for i in range(hidden.shape[0])
    ]  # B x (1, N, F', T')
    return torch.cat(out)[..., :f, :t]


def _frame_key(frame: Tensor) -> bytes:
    """A digest of one frame's pixels ``(3, H, W)``, to find frames seen before."""
    return hashlib.blake2b(frame.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).digest()


class FrameFeatures:
    """Visual vectors of the sources, the frame net run once per distinct frame.

    Features of the frames of the previous call are kept, so consecutive windows that show the same frame (a
    still picture, a slow video) share them; memory stays bounded by one batch of windows. A frame net that
    mixes frames (the spacetime transformer) is run as it is, without reuse.
    """

    def __init__(self, model: SoundOfPixels):
        self.model = model
        self.kept: dict[bytes, Tensor] = {}

    def __call__(self, frames: Tensor) -> Tensor:
        """Shapes: ``(J, N, V, 3, H, W)`` -> ``(J, N, K)``, as ``model.encode_frames``."""
        if not isinstance(self.model.frame_net, ResNetFrames):
            return self.model.encode_frames(frames)
        flat = frames.flatten(0, 2)  # (J*N*V, 3, H, W)
        keys = [_frame_key(frame) for frame in flat]
        new = list(dict.fromkeys(k for k in keys if k not in self.kept))
        if new:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}  # a frame's first index
            batch = flat[[first[k] for k in new]]  # (U, 3, H, W)
            feats = self.model.frame_net(normalize_frames(batch)[:, None])[:, :, 0]  # (U, K, h, w)
            self.kept.update(zip(new, feats, strict=True))
        per_frame = torch.stack([self.kept[k] for k in keys])  # (J*N*V, K, h, w)
        self.kept = {k: self.kept[k] for k in keys}
        c, n, v = frames.shape[:3]
        raw = per_frame.unflatten(0, (c * n, v)).transpose(1, 2)  # (J*N, K, V, h, w)
        return pool_clip(pool_pixels(raw), self.model.cfg.model.pool_top).unflatten(0, (c, n))  # (J, N, K)
