"""How the frame net sees training frames: appearance augmentation and side-by-side scenes.

One concern, the frame net's training views: appearance augmentation and scenes, drawn per step.

Two self-supervised tricks of the training step, both drawn per step from a seeded generator so a resumed or
multi-process run sees the same views (``draw_views``), and both off unless the recipe asks for them:

* **Appearance** (``train.augment``): horizontal flips, colour-channel permutations, brightness and contrast,
  greyscale, and "line art" (the edges of the frame drawn dark on white). Sounds do not change with the
  drawing style, so the frame net is pushed to recognise instruments rather than styles.
* **World** (``train.augment_world``, with ``train.augment``): what real pictures do that drawn ones do not --
  hue rotation, gamma, a perspective warp, uneven light (a brightness ramp and a glare, ``LIGHT``), a
  rectangle of texture over part of the picture (an occluder), blur, JPEG-like blockiness and sensor noise,
  each per source with its own chance (``WORLD``). Noise and procedural occluders come from a seed drawn per
  source, so they too repeat exactly on a resume.
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

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from pixelsound.backgrounds import background, photo
from pixelsound.motion import GREY

# train.augment_world: the chance of each transform per source, and its range.
WORLD = {
    "hue": 0.4,  # rotation about the grey axis, any angle
    "gamma": 0.5,  # exponent exp(U(-0.5, 0.5)): 0.61 .. 1.65
    "warp": 0.5,  # perspective: each corner moves up to 7.5 % of the side
    "occlude": 0.3,  # a rectangle 15 .. 45 % of each side
    "blur": 0.3,  # Gaussian, sigma 0.3 .. 1.2 % of the side
    "block": 0.15,  # 8x8 block means plus a coarsely quantized remainder, 3 .. 12 levels
    "noise": 0.3,  # Gaussian, std 0.01 .. 0.06
}
LIGHT = 0.4  # chance per source of uneven lighting (drawn after WORLD's, so the others keep their values)
WARP = 0.15  # largest corner move in grid units ([-1, 1] across the picture)
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
        hue: rotation of the colours about the grey axis in turns (0: none) ``(rows, N)``.
        gamma: exponent on the [0, 1] values (1: none) ``(rows, N)``.
        warp: corner moves (x, y of the top-left, top-right, bottom-right and bottom-left corners, in grid
            units; 0: none) ``(rows, N, 8)``.
        occlude: whether a rectangle of texture covers part of the picture ``(rows, N)`` bool.
        occluder: its place (x, y), size (w, h) and texture, in [0, 1) ``(rows, N, 5)``.
        blur: Gaussian sigma as a fraction of the picture's height (0: none) ``(rows, N)``.
        block: blockiness strength in [0, 1] (0: none) ``(rows, N)``.
        noise: noise standard deviation (0: none) ``(rows, N)``.
        seed: per source, the seed of its noise and procedural occluder ``(rows, N)`` int64.
        light: uneven lighting per source ``(rows, N, 6)``: the strength of a brightness ramp (0: no
            lighting), its direction in turns, a glare's centre (x, y in [-1, 1]), its radius (a fraction of
            the picture) and its strength; None (views made before it existed): none.
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
    hue: Tensor
    gamma: Tensor
    warp: Tensor
    occlude: Tensor
    occluder: Tensor
    blur: Tensor
    block: Tensor
    noise: Tensor
    seed: Tensor
    light: Tensor | None = None

    def rows(self, index: Tensor | slice) -> Views:
        """The choices of some rows: a slice (this process's share) or indices ``(B,)`` (groups kept)."""
        picked = {k: v[index] for k, v in self.__dict__.items() if isinstance(v, Tensor)}
        return Views(scene=self.scene, **picked)


def draw_views(gen: torch.Generator, rows: int, n: int, scene_prob: float) -> Views:
    """Draw one step's views from ``gen`` (always the same number of draws, whatever is switched on)."""
    u = torch.rand(rows, n, 6, generator=gen)  # (rows, N, 6)
    views = dict(
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
    return Views(**views, **_draw_world(gen, rows, n))


def _draw_world(gen: torch.Generator, rows: int, n: int) -> dict[str, Tensor]:
    """The ``train.augment_world`` fields of Views (drawn after the others, so those keep their values)."""
    on = torch.rand(rows, n, len(WORLD), generator=gen) < torch.tensor(list(WORLD.values()))  # (rows, N, 7)
    val = torch.rand(rows, n, 6, generator=gen)  # (rows, N, 6) strengths
    warp = (2 * torch.rand(rows, n, 8, generator=gen) - 1) * WARP
    occluder = torch.rand(rows, n, 5, generator=gen)
    seed = torch.randint(0, 2**62, (rows, n), generator=gen)
    u = torch.rand(rows, n, 7, generator=gen)  # (rows, N, 7)
    light = torch.stack([0.15 + 0.35 * u[..., 1], u[..., 2], 2 * u[..., 3] - 1, 2 * u[..., 4] - 1,
                         0.15 + 0.25 * u[..., 5], 0.6 * u[..., 6]], -1)  # fmt: skip
    return dict(
        light=torch.where(u[..., :1] < LIGHT, light, 0.0),
        hue=torch.where(on[..., 0], val[..., 0], 0.0),
        gamma=torch.where(on[..., 1], (val[..., 1] - 0.5).exp(), 1.0),
        warp=torch.where(on[..., 2, None], warp, 0.0),
        occlude=on[..., 3],
        occluder=occluder,
        blur=torch.where(on[..., 4], 0.003 + 0.009 * val[..., 2], 0.0),
        block=torch.where(on[..., 5], 0.1 + 0.9 * val[..., 3], 0.0),
        noise=torch.where(on[..., 6], 0.01 + 0.05 * val[..., 4], 0.0),
        seed=seed,
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


def appearance(frames: Tensor, views: Views, world: bool = False, textures: Tensor | None = None) -> Tensor:
    """Apply the appearance choices. uint8 or float ``(B, N, V, 3, H, W)`` -> float in [0, 1], same shape.

    Args:
        frames: the sources' frames.
        views: the choices for these rows.
        world: also apply the ``train.augment_world`` transforms (:func:`world_look`).
        textures: occluder textures, uint8 ``(P, 3, S, S)`` (e.g. the silent-region pool), or None for
            procedural ones.
    """
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
    if world:
        x = world_look(x.clamp(0, 1), views, textures)
    return x.clamp(0, 1)


def world_look(x: Tensor, views: Views, textures: Tensor | None = None) -> Tensor:
    """Hue, gamma, warp, uneven lighting (LIGHT), occluder, blur, blockiness and noise (see WORLD).

    Shapes: float in [0, 1] ``(B, N, V, 3, H, W)`` -> same (not clamped).
    """
    x = rotate_hue(x, views.hue).clamp(0, 1)
    gamma = views.gamma.flatten()
    x = _per_source(x, views.gamma != 1, lambda y, i: y ** gamma[i].to(y).view(-1, 1, 1, 1, 1))
    x = _per_source(x, views.warp.abs().sum(-1) > 0, lambda y, i: warp(y, views.warp.flatten(0, 1)[i]))
    if views.light is not None:
        x = _per_source(x, views.light[..., 0] > 0, lambda y, i: lighting(y, views.light.flatten(0, 1)[i]))
    x = occlude(x, views, textures)
    x = _per_source(x, views.blur > 0, lambda y, i: blur(y, views.blur.flatten()[i] * x.shape[-2]))
    x = _per_source(x, views.block > 0, lambda y, i: blocky(y, views.block.flatten()[i]))
    return _per_source(
        x, views.noise > 0, lambda y, i: y + noise(y, views.noise.flatten()[i], views.seed.flatten()[i])
    )


def _per_source(x: Tensor, chosen: Tensor, fn) -> Tensor:
    """Apply ``fn(pictures (S, V, 3, H, W), flat indices (S,))`` to the chosen sources only."""
    idx = chosen.flatten().nonzero()[:, 0].to(x.device)  # (S,)
    if len(idx) == 0:
        return x
    flat = x.flatten(0, 1).clone()  # (B * N, V, 3, H, W)
    flat[idx] = fn(flat[idx], idx.cpu())
    return flat.view_as(x)


def rotate_hue(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate colours about the grey axis (greys stay). ``(B, N, V, 3, H, W)``, turns ``(B, N)`` -> same."""
    theta = 2 * torch.pi * turns.to(x)  # (B, N)
    k = x.new_full((3,), 3**-0.5)
    cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]]).to(x) * 3**-0.5  # [k]_x
    eye = torch.eye(3).to(x)
    cos, sin = theta.cos()[..., None, None], theta.sin()[..., None, None]
    rot = cos * eye + sin * cross + (1 - cos) * torch.outer(k, k)  # (B, N, 3, 3): Rodrigues
    return torch.einsum("bnij,bnvjhw->bnvihw", rot, x)


def _homography(moves: Tensor) -> Tensor:
    """Maps taking the output grid's corners to the corners moved by ``moves``. ``(S, 8)`` -> ``(S, 3, 3)``"""
    src = torch.tensor([[-1.0, -1], [1, -1], [1, 1], [-1, 1]], dtype=torch.float64)  # (4, 2)
    dst = src + moves.double().view(-1, 4, 2)  # (S, 4, 2)
    x, y = src[:, 0], src[:, 1]
    one, zero = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    rows = []
    for c in range(2):
        u = dst[..., c]  # (S, 4)
        left = torch.stack([x, y, one, zero, zero, zero] if c == 0 else [zero, zero, zero, x, y, one], -1)
        rows.append(torch.cat([left.expand(len(u), 4, 6), (-u * x)[..., None], (-u * y)[..., None]], -1))
    a = torch.stack(rows, 2).flatten(1, 2)  # (S, 8, 8): point 0 x, point 0 y, point 1 x, ...
    h = torch.linalg.solve(a, dst.flatten(1))  # (S, 8)
    return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], 1).view(-1, 3, 3)


def warp(x: Tensor, moves: Tensor) -> Tensor:
    """Perspective warp of each picture by its corner moves. ``(S, V, 3, H, W)``, ``(S, 8)`` -> same.

    Pixels pulled from outside the picture mirror its edge.
    """
    s, v, c, h, w = x.shape
    ys = (torch.arange(h, dtype=torch.float64) * 2 + 1) / h - 1
    xs = (torch.arange(w, dtype=torch.float64) * 2 + 1) / w - 1
    grid = torch.stack([*torch.meshgrid(xs, ys, indexing="xy"), torch.ones(h, w, dtype=torch.float64)], -1)
    mapped = torch.einsum("sij,hwj->shwi", _homography(moves.cpu()), grid)  # (S, H, W, 3)
    grid = (mapped[..., :2] / mapped[..., 2:]).to(x)  # (S, H, W, 2)
    grid = grid[:, None].expand(s, v, h, w, 2).flatten(0, 1)
    out = F.grid_sample(
        x.flatten(0, 1), grid, mode="bilinear", padding_mode="reflection", align_corners=False
    )
    return out.view_as(x)


def lighting(x: Tensor, light: Tensor) -> Tensor:
    """Light that falls unevenly, as on a photographed object: a brightness ramp and a soft glare.

    The picture is multiplied by ``1 + strength * ramp`` (ramp in [-1, 1] along the light's direction), then
    blended towards white by a Gaussian glare of the given centre, radius and strength.
    Shapes: ``(S, V, 3, H, W)`` in [0, 1], ``light`` ``(S, 6)`` (see Views.light) -> same (not clamped).
    """
    s, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    light = light.to(x)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h).to(x), torch.linspace(-1, 1, w).to(x), indexing="ij")
    turn = 2 * torch.pi * light[:, 1, None, None]  # (S, 1, 1)
    ramp = (turn.cos() * xx + turn.sin() * yy) / 2**0.5  # (S, H, W), in [-1, 1]
    gain = 1 + light[:, 0, None, None] * ramp
    dist = (xx - light[:, 2, None, None]) ** 2 + (yy - light[:, 3, None, None]) ** 2
    glare = light[:, 5, None, None] * torch.exp(-dist / (2 * (2 * light[:, 4, None, None]) ** 2))
    gain, glare = gain.view(s, 1, 1, h, w), glare.view(s, 1, 1, h, w)
    lit = x * gain
    return lit + glare * (1 - lit.clamp(0, 1))


def occlude(x: Tensor, views: Views, textures: Tensor | None = None) -> Tensor:
    """Cover a rectangle of the chosen sources' pictures (all V frames) with a texture. ``(B, N, V, 3, H, W)``

    The texture is ``textures[occluder[4] * P]`` resized to the rectangle, or without textures a smooth
    random colour field made from the source's seed.
    """
    h, w = x.shape[-2:]
    out = x.clone()
    for b, j in views.occlude.nonzero().tolist():
        px, py, sw, sh, pick = views.occluder[b, j].tolist()
        rw, rh = max(1, round(w * (0.15 + 0.3 * sw))), max(1, round(h * (0.15 + 0.3 * sh)))
        x0, y0 = round(px * (w - rw)), round(py * (h - rh))
        if textures is not None:
            patch = textures[int(pick * len(textures))].to(x)[None] / 255  # (1, 3, S, S)
        else:
            gen = torch.Generator().manual_seed(int(views.seed[b, j]) ^ 0x0CC1)
            patch = torch.rand(1, 3, 3, 3, generator=gen).to(x)  # a 3x3 colour field, smoothed
        patch = F.interpolate(patch, size=(rh, rw), mode="bilinear", align_corners=False)[0]
        out[b, j, ..., y0 : y0 + rh, x0 : x0 + rw] = patch
    return out


def blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Gaussian blur with a sigma (pixels) per picture. ``(S, V, 3, H, W)``, ``(S,)`` -> same."""
    s, v, c, h, w = x.shape
    radius = min(int(torch.ceil(3 * sigma.max())), (min(h, w) - 1) // 2)
    t = torch.arange(-radius, radius + 1).to(x)
    kernel = torch.exp(-0.5 * (t / sigma.to(x).clamp_min(1e-3)[:, None]) ** 2)  # (S, K)
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(v * c, 0)  # (S * V * 3, K)
    flat = F.pad(x.reshape(1, s * v * c, h, w), (radius,) * 4, mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=s * v * c)  # along rows
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=s * v * c)  # along columns
    return flat.view_as(x)


def blocky(x: Tensor, strength: Tensor, size: int = 8) -> Tensor:
    """JPEG-like blocks: block means plus the remainder quantized to 12 .. 3 levels. ``(S, V, 3, H, W)``"""
    s, v, c, h, w = x.shape
    flat = x.flatten(0, 1)  # (S * V, 3, H, W)
    means = F.avg_pool2d(flat, size, ceil_mode=True)
    means = means.repeat_interleave(size, -2).repeat_interleave(size, -1)[..., :h, :w].view_as(x)
    levels = (12 - 9 * strength.to(x)).round().view(s, 1, 1, 1, 1)  # (S, 1, 1, 1, 1)
    return means + torch.round((x - means) * levels) / levels


def noise(x: Tensor, std: Tensor, seeds: Tensor) -> Tensor:
    """Gaussian noise for each picture from its own seed. ``(S, V, 3, H, W)``, ``(S,)``, ``(S,)`` -> same."""
    out = torch.empty_like(x)
    for i, (sd, seed) in enumerate(zip(std.tolist(), seeds.tolist(), strict=True)):
        gen = torch.Generator().manual_seed(int(seed))
        out[i] = sd * torch.randn(x.shape[1:], generator=gen).to(x)
    return out


def silence_pool(seed: int, count: int, size: int, photos: float = 0.0) -> Tensor:
    """``count`` background textures to fill silent strips with. -> uint8 ``(count, 3, S, S)``.

    Procedural ones (:func:`pixelsound.backgrounds.background`), and with ``photos`` > 0 that share of
    crops of the training photos (:func:`pixelsound.backgrounds.photo`), like the clips' backgrounds when
    the builder uses photos. ``photos=0`` gives the same pool as before photos existed.
    """
    rng = np.random.default_rng([seed, 7])
    pool = np.stack(
        [
            photo(rng, size, size, "train")
            if photos > 0 and rng.random() < photos
            else background(rng, size, size)[0]
            for _ in range(count)
        ]
    )  # (P, S, S, 3)
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
