"""Frame nets: video frames in, a K-channel feature per pixel (or patch) and per frame out.

Two encoders share one output contract, ``(B, V, 3, H, W)`` normalized frames -> ``(B, K, V', h, w)`` raw
(pre-sigmoid) features, so pooling to per-pixel, per-clip and per-region vectors lives in one place
(:func:`pool_pixels`, :func:`pool_clip`, :func:`pool_regions`):

* ``resnet18``: torchvision's ResNet-18 with layer4's stride replaced by dilation 2 (output stride 16, so a
  224x224 frame gives 14x14 features), then a 3x3 conv to K channels, applied to each frame. ``frame_layers``
  keeps only the first stages and ``frame_width`` scales all channel widths; any shape other than the full
  width-64 net is built from torchvision's ``BasicBlock`` with the same layout and parameter names.
  ``frame_stride = 8`` also dilates layer3 (and layer4 by 4): twice the cells per side for the same
  weights and a small cost (the last stages run on 4x the cells), which is what localization needs.
* ``spacetime``: frames cut into ``tubelet x patch x patch`` spacetime patches, linearly embedded, given
  learned space and time positions, and mixed by a transformer attending over all patches of the clip at
  once; each patch's output token is projected to K channels (the role the ResNet's pixels play).

Weights are never downloaded; ``frame_weights`` may name a local torchvision ResNet-18 state dict.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from pixelsound.config import Config

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _stage(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    """Two BasicBlocks, the first changing width/stride through a 1x1 projection when needed."""
    down = None
    if stride != 1 or in_ch != out_ch:
        down = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))
    return nn.Sequential(BasicBlock(in_ch, out_ch, stride, down), BasicBlock(out_ch, out_ch))


def _dilate(stage: nn.Module, dilation: int) -> None:
    """Replace a stage's stride by dilation, in place (the strided 3x3 conv keeps dilation // 2)."""
    for module in stage.modules():
        if not isinstance(module, nn.Conv2d):
            continue
        if module.stride == (2, 2):
            module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation = (dilation // 2,) * 2
                module.padding = (dilation // 2,) * 2
        elif module.kernel_size == (3, 3):
            module.dilation = (dilation,) * 2
            module.padding = (dilation,) * 2


def resnet18_trunk(layers: int = 4, width: int = 64, stride: int = 16) -> nn.Sequential:
    """ResNet-18 without pooling/fc, layer4 dilated; parameter names match torchvision's ``resnet18``.

    Args:
        layers: residual stages kept (2, 3 or 4).
        width: channels of the stem and first stage (64 = torchvision); later stages double it.
        stride: output stride of 3 or 4 stages, 16 or 8 (8: layer3 dilated by 2, layer4 by 4); 2 stages: 8.

    Returns:
        ``nn.Sequential`` with children conv1, bn1, relu, maxpool, layer1..layer{layers}.
    """
    if layers not in (2, 3, 4) or width < 8 or stride not in (8, 16):
        raise ValueError(
            "frame net: frame_layers must be 2, 3 or 4, frame_width >= 8 and frame_stride 8 or 16, "
            f"got {layers}, {width}, {stride}"
        )
    if width == 64:
        net = torchvision.models.resnet18(weights=None)
        parts = [(name, getattr(net, name)) for name in ("conv1", "bn1", "relu", "maxpool")]
        parts += [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, layers + 1)]
    else:
        parts = [
            ("conv1", nn.Conv2d(3, width, 7, 2, 3, bias=False)),
            ("bn1", nn.BatchNorm2d(width)),
            ("relu", nn.ReLU(inplace=True)),
            ("maxpool", nn.MaxPool2d(3, 2, 1)),
        ]
        for i in range(1, layers + 1):
            in_ch = width * 2 ** max(i - 2, 0)
            parts.append((f"layer{i}", _stage(in_ch, width * 2 ** (i - 1), 1 if i == 1 else 2)))
    trunk = nn.Sequential(OrderedDict(parts))
    if stride == 8 and layers >= 3:
        _dilate(trunk.layer3, 2)
    if layers == 4:
        _dilate(trunk.layer4, 2 if stride == 16 else 4)
    return trunk


def load_torchvision_weights(trunk: nn.Sequential, path: str | Path) -> None:
    """Load a local torchvision ResNet-18 state dict into :func:`resnet18_trunk` (fc, unused stages ignored).

    Raises:
        ValueError: naming the file, when it is missing, unreadable or does not match the trunk's shapes.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: frame_weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"{path}: not a readable torch state dict ({err})") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    own = trunk.state_dict()
    wanted = {k: v for k, v in state.items() if k in own}
    missing = sorted(set(own) - set(wanted))
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in wanted.items() if v.shape != own[k].shape
    ]
    if missing or wrong:
        detail = f"missing {missing[:4]}" if missing else f"shape mismatch {wrong[:4]}"
        raise ValueError(
            f"{path}: not a torchvision ResNet-18 state dict for this frame net ({detail}; "
            f"frame_width must be 64 to use torchvision weights)"
        )
    trunk.load_state_dict(wanted)
    log.info("loaded frame net weights from %s", path)


def mix_styles(x: Tensor, alpha: float = 0.1, eps: float = 1e-6) -> Tensor:
    """MixStyle (Zhou et al., ICLR 2021): each picture's channel means and spreads become a random blend of
    its own and another picture's of the batch. Early features' statistics carry how a picture is drawn
    (palette, strokes, texture), their normalized pattern what is drawn; mixing the one keeps the other, so
    the layers after learn to read instruments across drawing styles. Training only; random from torch's
    global generator (saved with every checkpoint).

    Shapes:
        ``(P, C, h, w)`` -> the same
    """
    p = x.shape[0]
    if p < 2:
        return x
    mean = x.mean((2, 3), keepdim=True).detach()  # (P, C, 1, 1)
    std = (x.var((2, 3), keepdim=True) + eps).sqrt().detach()
    lam = torch.distributions.Beta(alpha, alpha).sample((p, 1, 1, 1)).to(x)
    order = torch.randperm(p, device=x.device)
    other = torch.empty_like(order)
    other[order] = order.roll(1)  # a random cycle: every picture mixes with another one, never itself
    mixed_mean = lam * mean + (1 - lam) * mean[other]
    mixed_std = lam * std + (1 - lam) * std[other]
    return (x - mean) / std * mixed_std + mixed_mean


class ResNetFrames(nn.Module):
    """Dilated ResNet-18 (right-sizable) + 3x3 conv to K channels, applied frame by frame.

    ``mixstyle``: in training mode, the share of forward passes whose layer1 and layer2 features go through
    :func:`mix_styles` (``train.mixstyle``); evaluation never mixes.

    Shapes:
        frames ``(B, V, 3, H, W)`` normalized -> ``(B, K, V, H / s, W / s)``, s the stride (8 with 2 stages)
    """

    MIX_AFTER = ("layer1", "layer2")

    def __init__(
        self,
        k: int,
        layers: int = 4,
        width: int = 64,
        weights: str = "",
        stride: int = 16,
        mixstyle: float = 0.0,
    ):
        super().__init__()
        self.trunk = resnet18_trunk(layers, width, stride)
        if weights:
            load_torchvision_weights(self.trunk, weights)
        self.head = nn.Conv2d(width * 2 ** (layers - 1), k, 3, padding=1)
        self.mixstyle = mixstyle

    def forward(self, frames: Tensor) -> Tensor:
        b, v = frames.shape[:2]
        x = frames.flatten(0, 1)  # (B*V, 3, H, W)
        mix = self.training and self.mixstyle > 0 and torch.rand(()) < self.mixstyle
        for name, layer in self.trunk.named_children():
            x = layer(x)
            if mix and name in self.MIX_AFTER:
                x = mix_styles(x)
        x = self.head(x)  # (B*V, K, h, w)
        return x.unflatten(0, (b, v)).transpose(1, 2)  # (B, K, V, h, w)


class SpacetimeFrames(nn.Module):
    """Spacetime-patch transformer: patches of ``tubelet`` frames x ``patch``^2 pixels attend to each other.

    Shapes:
        frames ``(B, V, 3, H, W)`` normalized -> ``(B, K, V / tubelet, H / patch, W / patch)``
    """

    def __init__(
        self,
        k: int,
        num_frames: int,
        size: int,
        patch: int = 16,
        tubelet: int = 1,
        dim: int = 192,
        depth: int = 4,
        heads: int = 4,
    ):
        super().__init__()
        if num_frames % tubelet or size < patch or dim % heads:
            raise ValueError(
                f"spacetime frame net: need num_frames ({num_frames}) divisible by tubelet "
                f"({tubelet}), size ({size}) >= patch ({patch}), dim ({dim}) divisible by heads ({heads})"
            )
        self.tubelet, self.patch = tubelet, patch
        self.embed = nn.Conv3d(3, dim, (tubelet, patch, patch), stride=(tubelet, patch, patch))
        grid = size // patch
        self.pos_space = nn.Parameter(torch.randn(1, dim, 1, grid, grid) * 0.02)
        self.pos_time = nn.Parameter(torch.randn(1, dim, num_frames // tubelet, 1, 1) * 0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, k)

    def _positions(self, t: int, h: int, w: int) -> Tensor:
        """Learned space + time positions, resized when frames differ from the configured size/count."""
        space, time = self.pos_space, self.pos_time
        if space.shape[-2:] != (h, w):
            space = F.interpolate(space[:, :, 0], (h, w), mode="bilinear", align_corners=False)[:, :, None]
        if time.shape[2] != t:
            time = F.interpolate(time[..., 0, 0], t, mode="linear", align_corners=False)[..., None, None]
        return space + time  # (1, D, t, h, w)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.shape[1] % self.tubelet:
            raise ValueError(
                f"spacetime frame net: {frames.shape[1]} frames not divisible by tubelet {self.tubelet}"
            )
        x = self.embed(frames.transpose(1, 2))  # (B, D, V', h, w)
        t, h, w = x.shape[2:]
        x = x + self._positions(t, h, w)
        tokens = x.flatten(2).transpose(1, 2)  # (B, V'*h*w, D)
        tokens = self.head(self.norm(self.blocks(tokens)))  # (B, V'*h*w, K)
        return tokens.transpose(1, 2).unflatten(2, (t, h, w))  # (B, K, V', h, w)


def build_frame_net(cfg: Config) -> nn.Module:
    """The frame net named by ``cfg.model.frame_net`` ("resnet18" or "spacetime")."""
    m = cfg.model
    if m.frame_net == "resnet18":
        return ResNetFrames(
            m.k, m.frame_layers, m.frame_width, m.frame_weights, m.frame_stride, cfg.train.mixstyle
        )
    if m.frame_net == "spacetime":
        if m.frame_weights:
            raise ValueError(
                f"model.frame_weights ({m.frame_weights}) are torchvision ResNet-18 weights; "
                "the spacetime frame net cannot use them"
            )
        return SpacetimeFrames(
            m.k,
            cfg.frames.num_frames,
            cfg.frames.size,
            m.spacetime_patch,
            m.spacetime_tubelet,
            m.spacetime_dim,
            m.spacetime_depth,
            m.spacetime_heads,
        )
    raise ValueError(f"model.frame_net: unknown frame net {m.frame_net!r} (known: resnet18, spacetime)")


def normalize_frames(frames: Tensor) -> Tensor:
    """uint8 RGB (or float in [0, 1]) -> float normalized with ImageNet mean/std.

    Shapes:
        ``(..., 3, H, W)`` -> same, float32
    """
    x = frames.float() / 255 if frames.dtype == torch.uint8 else frames.float()
    mean = x.new_tensor(IMAGENET_MEAN)[:, None, None]
    std = x.new_tensor(IMAGENET_STD)[:, None, None]
    return (x - mean) / std


def pool_pixels(features: Tensor) -> Tensor:
    """Per-pixel visual vectors: max over time, then sigmoid. ``(B, K, V, h, w)`` -> ``(B, K, h, w)``."""
    return torch.sigmoid(features.amax(2))


def pool_regions(pixels: Tensor, regions: Tensor, top: float = 0.0) -> Tensor:
    """One vector per weighted region: the max of ``r_c v_c`` over its cells (``top = 0``), or the mean of its
    largest ``k = max(1, round(top x sum_c r_c))`` values, channel by channel.

    The max (the paper's pooling) asks only the most telling cell to carry the evidence; the mean of the top
    share asks that many cells, which spreads localization heatmaps over the whole object.

    Shapes:
        pixels ``(B, K, h, w)`` in [0, 1], regions ``(B, R, h, w)`` in [0, 1] -> ``(B, R, K)``
    """
    weighted = pixels[:, None] * regions[:, :, None].to(pixels)  # (B, R, K, h, w)
    if top <= 0:
        return weighted.amax((-2, -1))
    values = weighted.flatten(-2).sort(-1, descending=True).values  # (B, R, K, h*w)
    k = (top * regions.to(pixels).flatten(-2).sum(-1)).round().clamp_min(1)  # (B, R)
    kept = torch.arange(values.shape[-1], device=values.device) < k[..., None, None]  # (B, R, 1, h*w)
    return (values * kept).sum(-1) / k[..., None]


def pool_clip(pixels: Tensor, top: float = 0.0) -> Tensor:
    """Clip vector: :func:`pool_regions` over the whole frame. Shapes: ``(B, K, h, w)`` -> ``(B, K)``."""
    if top <= 0:
        return pixels.amax((-2, -1))
    return pool_regions(pixels, pixels.new_ones(pixels.shape[0], 1, *pixels.shape[-2:]), top)[:, 0]
