"""How the frame net sees training frames: appearance augmentation and side-by-side scenes.

Two self-supervised tricks of the training step, both drawn per step from a seeded generator so a resumed or
multi-process run sees the same views (``draw_views``), and both off unless the recipe asks for them:

* **Appearance** (``train.augment``): horizontal flips, colour-channel permutations, brightness and contrast,
  greyscale, and "line art" (the edges of the frame drawn dark on white). Sounds do not change with the
  drawing style, so the frame net is pushed to recognise instruments rather than styles.
* **Scenes** (``train.scene_prob``): instead of one picture per source, the N sources' frames are shrunk and
  put side by side in one picture (source n in the n-th vertical strip, in random order), and each source's
  visual vector is pooled over its own part of the picture only (the max, or with ``model.pool_top`` the
  mean of the top share of cells; :func:`pixelsound.frames.pool_regions`). A cell's feature must then say what
  sounds *there* even with other instruments in view, which is what per-pixel audio and localization need.
  The layout is known because the step made it; no labels are used.
* **Silence** (``train.scene_silence``): the pictures no longer fill their strips. Each is a tile of random
  size and width placed anywhere in its strip, and all that is not a picture -- left, right, above and
  below each tile -- shows a procedural background texture (:mod:`pixelsound.backgrounds`, the kind the
  clips are drawn on) that makes no sound; the vector of that silent region must give an all-zero mask.
  Max-pooling alone never asks a cell *off* the instrument to be quiet, so without this every cell may
  carry the evidence of the whole picture and heatmaps come out flat. Silence on every side of a sounding
  picture asks the frame net for features that are local. (An earlier layout, an extra silent strip and
  pictures filling their strips' width, let the evidence smear sideways along the picture's rows.)
* **Decoys** (``train.scene_decoys``): a tile keeps its own clip's background, so "a rectangle of another
  texture" always sounds in a scene, a shortcut the frame net can take (``benchmarks/probe_rectangles.py``).
  A decoy is one more tile of another texture, empty, placed anywhere under the pictures and silent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from pixelsound.motion import GREY

PERMUTATIONS = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])


@dataclass
class Views:
    """Random choices of one step for ``rows`` mixtures of N sources (index rows like the batch).

    Attributes:
        flip, grey, lines: per source, ``(rows, N)`` bool.
        perm: colour-channel permutation index per source ``(rows, N)`` (0 keeps RGB).
        gain, contrast: brightness and contrast factors per source ``(rows, N)``.
        scene: whether this step composes scenes (one choice for the whole step).
        order: strip of each source in its scene ``(rows, N)`` (a permutation of 0..N-1 per row).
        shift: per source, which columns of its picture are kept and its height in the strip, in [0, 1],
            ``(rows, N, 2)``.
        filler: per row, which texture fills the silent region, in [0, 1) ``(rows,)`` (a place in the pool).
        tile: per source, the picture's size, the tile's width and its place across the strip, in [0, 1],
            ``(rows, N, 3)`` (with a filler only).
        decoy: per row, the decoy's texture, size, width and place (x, y), in [0, 1), ``(rows, 5)``.
    """

    flip: Tensor
    grey: Tensor
    lines: Tensor
    perm: Tensor
    gain: Tensor
    contrast: Tensor
    scene: bool
    order: Tensor
    shift: Tensor
    filler: Tensor
    tile: Tensor
    decoy: Tensor

    def rows(self, index: Tensor | slice) -> Views:
        """The choices of some rows: a slice (this process's share) or indices ``(B,)`` (groups kept)."""
        picked = {k: v[index] for k, v in self.__dict__.items() if isinstance(v, Tensor)}
        return Views(scene=self.scene, **picked)


def draw_views(gen: torch.Generator, rows: int, n: int, scene_prob: float) -> Views:
    """Draw one step's views from ``gen`` (always the same number of draws, whatever is switched on)."""
    u = torch.rand(rows, n, 6, generator=gen)  # (rows, N, 6)
    return Views(
        flip=u[..., 0] < 0.5,
        grey=u[..., 1] < 0.15,
        lines=u[..., 2] < 0.15,
        perm=torch.where(u[..., 3] < 0.5, torch.randint(1, 6, (rows, n), generator=gen), 0),
        gain=0.7 + 0.6 * u[..., 4],
        contrast=0.7 + 0.6 * u[..., 5],
        scene=bool(torch.rand((), generator=gen) < scene_prob),
        order=torch.rand(rows, n, generator=gen).argsort(1),
        shift=torch.rand(rows, n, 2, generator=gen),
        filler=torch.rand(rows, generator=gen),
        tile=torch.rand(rows, n, 3, generator=gen),
        decoy=torch.rand(rows, 5, generator=gen),
    )


def _grey(x: Tensor) -> Tensor:
    """Luma of RGB pictures. ``(..., 3, H, W)`` -> ``(..., 1, H, W)``."""
    return (x * x.new_tensor(GREY)[:, None, None]).sum(-3, keepdim=True)


def _line_art(x: Tensor) -> Tensor:
    """Edges of the picture, dark on white. ``(..., 3, H, W)`` float in [0, 1] -> same."""
    grey = _grey(x)  # (..., 1, H, W)
    flat = grey.flatten(0, -4)
    dx = flat[..., :, 1:] - flat[..., :, :-1]
    dy = flat[..., 1:, :] - flat[..., :-1, :]
    edges = F.pad(dx.abs(), (0, 1)) + F.pad(dy.abs(), (0, 0, 0, 1))
    return (1 - (4 * edges).clamp(0, 1)).reshape(grey.shape).expand_as(x)


def appearance(frames: Tensor, views: Views) -> Tensor:
    """Apply the appearance choices. uint8 or float ``(B, N, V, 3, H, W)`` -> float in [0, 1], same shape."""
    x = frames.float() / 255 if frames.dtype == torch.uint8 else frames.float()
    b, n = x.shape[:2]

    def each(mask: Tensor) -> Tensor:  # (B, N) -> broadcastable to (B, N, V, 3, H, W)
        return mask.to(x.device).view(b, n, 1, 1, 1, 1)

    x = torch.where(each(views.flip), x.flip(-1), x)
    perm = PERMUTATIONS.to(x.device)[views.perm.to(x.device)]  # (B, N, 3)
    x = x.gather(3, perm.view(b, n, 1, 3, 1, 1).expand_as(x))
    mean = x.mean((-3, -2, -1), keepdim=True)
    x = (mean + (x - mean) * each(views.contrast)) * each(views.gain)
    x = torch.where(each(views.grey), _grey(x).expand_as(x), x)
    x = torch.where(each(views.lines), _line_art(x.clamp(0, 1)), x)
    return x.clamp(0, 1)


def silence_pool(seed: int, count: int, size: int) -> Tensor:
    """``count`` procedural background textures to fill silent strips with. -> uint8 ``(count, 3, S, S)``."""
    import numpy as np

    from pixelsound.backgrounds import background

    rng = np.random.default_rng([seed, 7])
    pool = np.stack([background(rng, size, size)[0] for _ in range(count)])  # (P, S, S, 3)
    return torch.from_numpy(pool).permute(0, 3, 1, 2).contiguous()


def _with_decoy(scene: Tensor, filler: Tensor, choice: Tensor, strip: int) -> Tensor:
    """The scene ``(V, 3, H, W)`` with an empty tile of a filler texture pasted at ``choice`` (see Views)."""
    h, w = scene.shape[-2:]
    pick, size, width, x, y = choice.tolist()
    side = min(h, round(strip * (0.8 + 0.5 * size)))
    wide = min(side, w, round(strip * (0.6 + 0.25 * width)))
    texture = filler[int(pick * len(filler))].to(scene) / 255  # (3, H', W')
    texture = F.interpolate(texture[None], size=(side, wide), mode="bilinear", antialias=True)[0]
    x0, y0 = round(x * (w - wide)), round(y * (h - side))
    scene = scene.clone()
    scene[..., y0 : y0 + side, x0 : x0 + wide] = texture
    return scene


def compose_scene(
    frames: Tensor, views: Views, filler: Tensor | None = None, decoys: bool = False
) -> tuple[Tensor, Tensor]:
    """Put the N sources' frames side by side in one picture per mixture (with a silent region: N + 1).

    Source j goes in strip ``order[j]`` of N equal vertical strips. Without ``filler`` its frames are resized
    to ``4/3`` of a strip's width (square), cut to the strip's width at ``shift[0]``, placed at height
    ``shift[1]`` of the free space, and the rest of the strip repeats the picture's edge pixels and belongs to
    the source. With ``filler`` the picture is a square of ``0.8 .. 1.3`` strip widths (``tile[0]``), cut to
    a tile ``0.6 .. 0.85`` of a strip wide (``tile[1]``, its columns at ``shift[0]``), placed at ``tile[2]``
    across the strip and ``shift[1]`` down it; everything else shows the filler texture and is returned as
    region N, the silent one, so a cell must be quiet on every side of a sounding picture. With ``decoys`` a
    tile of another filler texture (sized like the pictures, anywhere) goes under the pictures, silent too.

    Args:
        frames: uint8, or float in [0, 1], ``(B, N, V, 3, H, W)``.
        views: the step's choices (``order``, ``shift``, and with a filler ``filler`` and ``tile``).
        filler: textures for the silent region, uint8 ``(P, 3, H', W')`` (resized to the frames when they
            differ), or None.
        decoys: with a filler, add the empty decoy tile (``views.decoy``).

    Returns:
        ``(scene (B, V, 3, H, W), regions (B, N or N + 1, H, W))``: the pictures and each source's region
        (0/1), the silent one last.
    """
    if frames.dtype == torch.uint8:
        frames = frames.float() / 255
    b, n, v, _, h, w = frames.shape
    strip = w // n
    scene = frames.new_zeros(b, v, 3, h, w)
    regions = frames.new_zeros(b, n + (filler is not None), h, w)
    if filler is None:
        side = min(h, round(strip * 4 / 3))
        small = F.interpolate(frames.flatten(0, 2), size=(side, side), mode="bilinear", antialias=True)
        small = small.unflatten(0, (b, n, v))  # (B, N, V, 3, side, side)
    for i in range(b):
        if filler is not None:
            texture = filler[int(views.filler[i] * len(filler))].to(frames) / 255  # (3, H', W')
            if texture.shape[-2:] != (h, w):
                texture = F.interpolate(texture[None], size=(h, w), mode="bilinear", antialias=True)[0]
            scene[i] = texture
            regions[i, n] = 1
            if decoys:
                scene[i] = _with_decoy(scene[i], filler, views.decoy[i], strip)
        for j in range(n):
            left = int(views.order[i, j]) * strip
            if filler is not None:
                size, width, across = views.tile[i, j].tolist()
                side = min(h, round(strip * (0.8 + 0.5 * size)))
                wide = min(side, round(strip * (0.6 + 0.25 * width)))
                picture = F.interpolate(frames[i, j], size=(side, side), mode="bilinear", antialias=True)
                x0 = round(float(views.shift[i, j, 0]) * (side - wide))
                y0 = round(float(views.shift[i, j, 1]) * (h - side))
                left += round(across * (strip - wide))
                scene[i, ..., y0 : y0 + side, left : left + wide] = picture[..., x0 : x0 + wide]
                regions[i, j, y0 : y0 + side, left : left + wide] = 1
                regions[i, n, y0 : y0 + side, left : left + wide] = 0
                continue
            x0 = round(float(views.shift[i, j, 0]) * (side - strip))
            y0 = round(float(views.shift[i, j, 1]) * (h - side))
            piece = small[i, j, ..., x0 : x0 + strip]  # (V, 3, side, strip)
            piece = F.pad(piece, (0, 0, y0, h - side - y0), mode="replicate")  # (V, 3, H, strip)
            right = w if int(views.order[i, j]) == n - 1 else left + strip  # the last strip takes the rest
            piece = F.pad(piece, (0, right - left - strip, 0, 0), mode="replicate")
            scene[i, ..., left:right] = piece
            regions[i, j, :, left:right] = 1
    return scene, regions
