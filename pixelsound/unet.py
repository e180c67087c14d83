"""Audio U-Net: log-magnitude spectrogram of the mixture in, K component maps out.

The paper's net (7 levels, channels 64-128-256-512-512-512-512): each level halves F and T with a 4x4
stride-2 conv (LeakyReLU 0.2 before it, BatchNorm after, except at the outermost and innermost levels); the
way back doubles them with bilinear upsampling and a 3x3 conv (ReLU before, BatchNorm after), concatenating
the matching encoder output. Depth and base width are configurable; inputs whose F or T are not multiples of
``2 ** depth`` are zero-padded (after the input BatchNorm) and the output is cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def level_widths(depth: int, channels: int) -> list[int]:
    """Channels per level: doubling from ``channels``, capped at 8x (paper: 64-128-256-512-512-512-512)."""
    return [channels * 2 ** min(i, 3) for i in range(depth)]


def _down(in_ch: int, out_ch: int, outermost: bool, innermost: bool) -> nn.Sequential:
    layers: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False))
    if not (outermost or innermost):
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


def _up(in_ch: int, out_ch: int, outermost: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=outermost),
    ]
    if not outermost:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class AudioUNet(nn.Module):
    """U-Net from the mixture's log magnitude to K audio components.

    Args:
        k: output channels (K components).
        depth: levels (each halves F and T); at least 2.
        channels: width of the first level.

    Shapes:
        ``(B, 1, F, T)`` -> ``(B, K, F, T)``
    """

    def __init__(self, k: int, depth: int = 7, channels: int = 64):
        super().__init__()
        if depth < 2 or channels < 1:
            raise ValueError(
                f"audio U-Net: unet_depth must be >= 2 and unet_channels >= 1, got {depth}, {channels}"
            )
        widths = level_widths(depth, channels)
        self.depth = depth
        self.bn_in = nn.BatchNorm2d(1)
        self.down = nn.ModuleList(
            _down(1 if i == 0 else widths[i - 1], widths[i], i == 0, i == depth - 1) for i in range(depth)
        )
        # up[i] brings level i back to level i-1's resolution; all but the innermost take a skip concatenation
        self.up = nn.ModuleList(
            _up(widths[i] * (1 if i == depth - 1 else 2), k if i == 0 else widths[i - 1], i == 0)
            for i in range(depth)
        )

    def _pad(self, x: Tensor) -> Tensor:
        step = 2**self.depth
        f, t = x.shape[-2:]
        return F.pad(x, (0, -t % step, 0, -f % step))

    def features(self, log_mag: Tensor) -> Tensor:
        """Everything before the last level's up-step (ReLU, upsampling, conv to K channels).

        Shapes:
            ``(B, 1, F, T)`` -> ``(B, 2 C_0, F' / 2, T' / 2)``, F' and T' padded to multiples of
            ``2 ** depth``
        """
        x = self._pad(self.bn_in(log_mag))  # (B, 1, F', T') multiples of 2**depth
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)  # level i: (B, C_i, F' / 2**(i+1), T' / 2**(i+1))
        x = self.up[-1](skips.pop())
        for i in range(self.depth - 2, 0, -1):
            x = self.up[i](torch.cat([skips.pop(), x], 1))
        return torch.cat([skips.pop(), x], 1)

    def forward(self, log_mag: Tensor) -> Tensor:
        f, t = log_mag.shape[-2:]
        return self.up[0](self.features(log_mag))[..., :f, :t]  # (B, K, F, T)
