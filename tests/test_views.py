"""Training views: appearance augmentation, side-by-side scenes, and the model's per-region clip vectors."""

import numpy as np
import torch

from pixelsound import backgrounds, views
from pixelsound.model import SoundOfPixels
from tiny import tiny_config


def plain(rows: int, n: int, **changes) -> views.Views:
    """Views that change nothing, with some fields replaced."""
    base = dict(
        flip=torch.zeros(rows, n, dtype=torch.bool),
        grey=torch.zeros(rows, n, dtype=torch.bool),
        lines=torch.zeros(rows, n, dtype=torch.bool),
        perm=torch.zeros(rows, n, dtype=torch.long),
        gain=torch.ones(rows, n),
        contrast=torch.ones(rows, n),
        scene=False,
        order=torch.arange(n).repeat(rows, 1),
        shift=torch.zeros(rows, n, 2),
        filler=torch.zeros(rows),
        tile=torch.zeros(rows, n, 3),
        decoy=torch.zeros(rows, 5),
        hue=torch.zeros(rows, n),
        gamma=torch.ones(rows, n),
        warp=torch.zeros(rows, n, 8),
        occlude=torch.zeros(rows, n, dtype=torch.bool),
        occluder=torch.zeros(rows, n, 5),
        blur=torch.zeros(rows, n),
        block=torch.zeros(rows, n),
        noise=torch.zeros(rows, n),
        seed=torch.arange(rows * n).view(rows, n),
    )
    base.update(changes)
    return views.Views(**base)


def frames_of(b=2, n=2, v=1, h=24, w=24, seed=0):
    return torch.randint(
        0, 256, (b, n, v, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def test_draws_repeat_by_seed_and_rows_pick_groups():
    a = views.draw_views(torch.Generator().manual_seed(3), 6, 2, 0.5)
    b = views.draw_views(torch.Generator().manual_seed(3), 6, 2, 0.5)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.__dict__.values(), b.__dict__.values(), strict=True)
        if torch.is_tensor(x)
    )
    assert sorted(a.order[0].tolist()) == [0, 1] and a.perm.min() >= 0 and a.perm.max() < 6
    picked = a.rows(torch.tensor([4, 1]))
    assert torch.equal(picked.gain, a.gain[[4, 1]]) and picked.scene == a.scene
    assert (
        views.draw_views(torch.Generator(), 4, 3, 1.0).scene
        and not views.draw_views(torch.Generator(), 4, 3, 0.0).scene
    )


def test_appearance_changes_only_what_was_drawn():
    x = frames_of()
    unchanged = views.appearance(x, plain(2, 2))
    torch.testing.assert_close(unchanged, x.float() / 255)
    flip = torch.tensor([[True, False], [False, False]])
    flipped = views.appearance(x, plain(2, 2, flip=flip))
    torch.testing.assert_close(flipped[0, 0], unchanged[0, 0].flip(-1))
    torch.testing.assert_close(flipped[1], unchanged[1])
    swapped = views.appearance(x, plain(2, 2, perm=torch.tensor([[5, 0], [0, 0]])))  # BGR
    torch.testing.assert_close(swapped[0, 0], unchanged[0, 0].flip(-3))
    grey = views.appearance(x, plain(2, 2, grey=torch.ones(2, 2, dtype=torch.bool)))
    assert torch.allclose(grey[:, :, :, 0], grey[:, :, :, 2]) and not torch.allclose(
        unchanged[..., 0, :, :], unchanged[..., 2, :, :]
    )


def world(x, **changes):
    """appearance with the world transforms on, one source, only ``changes`` drawn."""
    return views.appearance(x, plain(*x.shape[:2], **changes), world=True)


def test_world_views_repeat_by_seed_and_stay_in_range():
    x = frames_of(b=4, n=2, v=2, h=32, w=32)
    a = views.draw_views(torch.Generator().manual_seed(11), 4, 2, 0.0)
    b = views.draw_views(torch.Generator().manual_seed(11), 4, 2, 0.0)
    assert a.seed.dtype == torch.int64 and a.warp.shape == (4, 2, 8) and a.occluder.shape == (4, 2, 5)
    one, two = views.appearance(x, a, world=True), views.appearance(x, b, world=True)
    assert one.shape == x.shape and torch.equal(one, two)  # noise and occluders come from the drawn seeds
    assert 0 <= one.min() and one.max() <= 1 and not one.isnan().any()
    assert not torch.equal(one, views.appearance(x, a))
    many = views.draw_views(torch.Generator().manual_seed(0), 400, 2, 0.0)  # each transform happens sometimes
    chosen = [many.hue > 0, many.gamma != 1, many.warp.abs().sum(-1) > 0, many.occlude, many.blur > 0,
              many.block > 0, many.noise > 0]  # fmt: skip
    for flag, chance in zip(chosen, views.WORLD.values(), strict=True):
        assert abs(flag.float().mean() - chance) < 0.06
    assert 0.6 < many.gamma.min() and many.gamma.max() < 1.66 and many.warp.abs().max() <= views.WARP
    assert abs((many.light[..., 0] > 0).float().mean() - views.LIGHT) < 0.06 and many.light.shape == (
        400,
        2,
        6,
    )


def test_uneven_light_brightens_towards_the_light_and_under_the_glare():
    x = torch.full((1, 2, 1, 3, 32, 32), 128, dtype=torch.uint8)
    ramp = torch.tensor([[[0.4, 0.0, 0, 0, 0.2, 0.0], [0.0] * 6]])  # source 0: light from the right; 1: none
    lit = world(x, light=ramp)
    torch.testing.assert_close(lit[0, 1], x[0, 1].float() / 255)  # strength 0: untouched
    left, right = lit[0, 0, ..., :4].mean(), lit[0, 0, ..., -4:].mean()
    assert right > 0.6 and left < 0.4 and abs(lit[0, 0].mean() - 128 / 255) < 0.01  # a ramp about the mean
    assert torch.equal(lit[0, 0, :, 0], lit[0, 0, :, 1])  # the same in every channel
    glare = torch.tensor([[[1e-4, 0.0, 0.5, -0.5, 0.1, 0.5], [0.0] * 6]])  # a glare right of centre, up
    shone = world(x, light=glare)[0, 0, 0, 0]  # (H, W)
    assert shone[8, 24] > 0.7 and abs(shone[24, 8] - 128 / 255) < 0.01 and shone.max() <= 1


def test_hue_rotation_keeps_greys_and_a_third_turn_cycles_the_channels():
    x = frames_of(1, 2, 1, 8, 8)
    third = world(x, hue=torch.tensor([[1 / 3, 0.0]]))
    torch.testing.assert_close(third[0, 0], x[0, 0, :, [2, 0, 1]].float() / 255)  # R -> G -> B -> R
    torch.testing.assert_close(third[0, 1], x[0, 1].float() / 255)  # hue 0: untouched
    grey = x[..., :1, :, :].expand_as(x)
    turned = world(grey, hue=torch.tensor([[0.17, 0.6]]))
    torch.testing.assert_close(turned, grey.float() / 255)
    torch.testing.assert_close(world(x, gamma=torch.full((1, 2), 2.0)), (x.float() / 255) ** 2)


def test_a_perspective_warp_moving_every_corner_alike_shifts_the_picture():
    x = frames_of(1, 1, 2, 16, 32)
    torch.testing.assert_close(world(x), x.float() / 255)  # no warp drawn: identity
    moves = torch.tensor([[[4 / 16, 0.0] * 4]])  # every corner 4 pixels to the right in grid units (2 / W)
    shifted = world(x, warp=moves)
    torch.testing.assert_close(shifted[..., :-4], x[..., 4:].float() / 255)  # content moves 4 pixels left
    tilted = world(x, warp=torch.tensor([[[0.1, 0.1, -0.1, 0.05, 0.0, -0.1, 0.05, 0.0]]]))
    assert (tilted - x.float() / 255).abs().mean() > 0.05 and 0 <= tilted.min() and tilted.max() <= 1


def test_an_occluder_covers_one_rectangle_in_every_frame():
    x = torch.zeros(2, 1, 3, 3, 40, 40, dtype=torch.uint8)
    place = torch.tensor([[[0.5, 0.25, 0.0, 1.0, 0.7]], [[0.0, 0.0, 1.0, 0.0, 0.0]]])  # (B, N, 5)
    pool = views.silence_pool(seed=0, count=3, size=16)
    out = world(x, occlude=torch.tensor([[True], [True]]), occluder=place)
    shown = views.appearance(
        x, plain(2, 1, occlude=torch.ones(2, 1, dtype=torch.bool), occluder=place), True, pool
    )
    for i, (w, h) in enumerate([(6, 18), (18, 6)]):  # 15 .. 45 % of each side
        for got in (out, shown):
            changed = (got[i, 0] != 0).any(-3)  # (V, H, W)
            assert torch.equal(changed, changed[:1].expand_as(changed))  # the same in every frame
            rows, cols = changed[0].any(1).nonzero()[:, 0], changed[0].any(0).nonzero()[:, 0]
            assert len(rows) == h and len(cols) == w and int(changed[0].sum()) == h * w
    assert cols[0] == 0 and rows[0] == 0
    patch = torch.nn.functional.interpolate(pool[2:3].float() / 255, size=(18, 6), mode="bilinear")[0]
    torch.testing.assert_close(shown[0, 0, 0][:, 6:24, 17:23], patch)  # x0 = 0.5 * (40 - 6), y0 = 0.25 * 22


def test_blur_blocks_and_noise_change_detail_but_not_flat_pictures():
    flat = torch.full((1, 3, 2, 3, 24, 24), 120, dtype=torch.uint8)
    x = frames_of(1, 3, 2, 24, 24)
    amount = dict(blur=torch.full((1, 3), 0.05), block=torch.ones(1, 3), noise=torch.full((1, 3), 0.05))
    for name, value in amount.items():
        if name != "noise":
            torch.testing.assert_close(world(flat, **{name: value}), flat.float() / 255)
        out = world(x, **{name: value})
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
        assert (out - x.float() / 255).abs().mean() > 0.02, name
    smooth = world(x, blur=torch.full((1, 3), 0.05))
    assert smooth.std() < 0.5 * (x.float() / 255).std()  # sigma 1.2 px on uniform noise
    blocks = world(x, block=torch.ones(1, 3))
    block = blocks[0, 0, 0, 0, 8:16, 8:16]  # one 8x8 block: its mean plus multiples of 1 / 3 (clamped)
    steps = (block - (x[0, 0, 0, 0, 8:16, 8:16].float() / 255).mean()) * 3
    assert (
        block.unique().numel() <= 7
        and ((steps - steps.round()).abs() < 1e-4)[(block > 0) & (block < 1)].all()
    )
    noisy = world(flat, noise=torch.full((1, 3), 0.05), seed=torch.tensor([[1, 1, 2]]))
    assert abs(float((noisy - flat.float() / 255).std()) - 0.05) < 0.01
    assert torch.equal(noisy[0, 0], noisy[0, 1]) and not torch.equal(noisy[0, 0], noisy[0, 2])  # by seed


def test_line_art_draws_edges_dark_on_white():
    x = torch.zeros(1, 1, 1, 3, 16, 16, dtype=torch.uint8)
    x[..., 4:12, 4:12] = 255  # a white square on black
    art = views.appearance(x, plain(1, 1, lines=torch.ones(1, 1, dtype=torch.bool)))[0, 0, 0, 0]
    assert art[0, 0] == 1 and art[8, 8] == 1  # flat areas white
    assert art[8, 3] < 0.1 and art[3, 8] < 0.1  # the square's border dark
    assert 0 <= art.min() and art.max() <= 1


def test_scene_puts_each_source_in_its_strip():
    b, n, h, w = 3, 2, 32, 48
    colours = torch.tensor([[250, 0, 0], [0, 0, 250]], dtype=torch.uint8)
    x = colours.view(1, n, 1, 3, 1, 1).expand(b, n, 2, 3, h, w).contiguous()  # source j is all colour j
    order = torch.tensor([[0, 1], [1, 0], [0, 1]])
    scene, regions = views.compose_scene(x, plain(b, n, order=order, shift=torch.rand(b, n, 2)))
    assert scene.shape == (b, 2, 3, h, w) and regions.shape == (b, n, h, w)
    assert torch.equal(regions.sum(1), torch.ones(b, h, w))  # the strips cover the picture once
    for i in range(b):
        for j in range(n):
            inside = regions[i, j].bool()
            torch.testing.assert_close(
                scene[i, :, :, inside],
                (colours[j].float() / 255)[None, :, None].expand(2, 3, int(inside.sum())),
            )
    assert regions[1, 0, :, -1].all() and regions[0, 0, :, 0].all()  # order 1 puts source 0 on the right


def test_silence_fills_all_but_the_tiles_with_a_filler_texture():
    b, n, h, w = 3, 2, 64, 64
    colours = torch.tensor([[250, 0, 0], [0, 0, 250]], dtype=torch.uint8)
    x = colours.view(1, n, 1, 3, 1, 1).expand(b, n, 1, 3, h, w).contiguous()
    pool = views.silence_pool(seed=0, count=4, size=h)
    assert pool.shape == (4, 3, h, h) and pool.dtype == torch.uint8
    assert torch.equal(pool, views.silence_pool(seed=0, count=4, size=h))
    assert not torch.equal(pool, views.silence_pool(seed=1, count=4, size=h))
    mixed = views.silence_pool(seed=0, count=8, size=h, photos=0.5)
    assert mixed.shape == (8, 3, h, h) and torch.equal(
        mixed, views.silence_pool(seed=0, count=8, size=h, photos=0.5)
    )
    photos = views.silence_pool(seed=0, count=2, size=h, photos=1.0)
    rng = np.random.default_rng([0, 7])
    rng.random()  # the draw that chose a photo
    torch.testing.assert_close(
        photos[0], torch.from_numpy(backgrounds.photo(rng, h, h, "train")).permute(2, 0, 1)
    )
    order = torch.tensor([[0, 1], [1, 0], [0, 1]])
    shift = torch.tensor([[0.0, 0.0], [0.0, 1.0]]).expand(b, n, 2)  # source 0 on top, source 1 below
    # row 0: smallest tiles at the strips' left edges; row 1: largest at the right edges; row 2: mixed
    tile = torch.tensor([[[0, 0, 0], [0, 0, 0]], [[1, 1, 1], [1, 1, 1]], [[0, 1, 1], [1, 0, 0]]]).float()
    filler = torch.tensor([0.0, 0.3, 0.9])
    chosen = plain(b, n, order=order, shift=shift, filler=filler, tile=tile)
    scene, regions = views.compose_scene(x, chosen, pool)
    assert regions.shape == (b, n + 1, h, w) and torch.equal(regions.sum(1), torch.ones(b, h, w))
    strip = w // n
    for i in range(b):
        for j in range(n):
            inside = regions[i, j].bool()
            rows, cols = inside.any(1).nonzero()[:, 0], inside.any(0).nonzero()[:, 0]
            side = min(h, round(strip * (0.8 + 0.5 * float(tile[i, j, 0]))))
            wide = min(side, round(strip * (0.6 + 0.25 * float(tile[i, j, 1]))))
            assert len(rows) == side and len(cols) == wide and int(inside.sum()) == side * wide  # a rectangle
            left = int(order[i, j]) * strip
            assert cols[0] == left + round(float(tile[i, j, 2]) * (strip - wide))  # inside its own strip
            assert left <= cols[0] and cols[-1] < left + strip
            assert rows[0] == 0 if j == 0 else rows[-1] == h - 1
            torch.testing.assert_close(
                scene[i, 0][:, inside], (colours[j].float() / 255)[:, None].expand(3, side * wide)
            )
        quiet = regions[i, n].bool()  # beside, above and below the tiles
        texture = pool[int(filler[i] * len(pool))].float() / 255
        torch.testing.assert_close(scene[i, 0][:, quiet], texture[:, quiet])
        assert quiet[h // 2].any() and quiet.sum() >= h * w - 2 * round(strip * 1.3) * round(strip * 0.85)
    assert regions[0, n, :, strip - 1].all() and regions[1, n, :, 0].all()  # silence right / left of tiles


def test_a_decoy_tile_is_another_texture_under_the_pictures_and_silent():
    b, n, h, w = 2, 2, 64, 64
    x = torch.full((b, n, 1, 3, h, w), 250, dtype=torch.uint8)  # both pictures plain white
    pool = views.silence_pool(seed=0, count=4, size=h)
    tile = torch.tensor([[[0.5, 0.5, 0.0], [0.5, 0.5, 1.0]]]).expand(b, n, 3)
    decoy = torch.tensor([[0.6, 0.2, 0.2, 0.5, 0.0], [0.6, 1.0, 1.0, 0.45, 1.0]])  # texture 2, two places
    chosen = plain(b, n, order=torch.tensor([[0, 1], [1, 0]]), tile=tile, decoy=decoy)
    plain_scene, plain_regions = views.compose_scene(x, chosen, pool)
    scene, regions = views.compose_scene(x, chosen, pool, decoys=True)
    torch.testing.assert_close(regions, plain_regions)  # the decoy belongs to the silent region
    for i in range(b):
        changed = (scene[i, 0] - plain_scene[i, 0]).abs().sum(0) > 1e-6  # (H, W)
        assert changed.any() and not (changed & regions[i, :n].bool().any(0)).any()  # under the pictures
        assert (scene[i][:, :, regions[i, :n].bool().any(0)] > 0.95).all()  # the pictures are untouched
        assert changed.any(0).sum() <= round(w // n * 0.85) and changed.any(1).sum() <= round(w // n * 1.3)


def test_scene_vectors_pool_over_their_region_only():
    model = SoundOfPixels(tiny_config()).eval()
    scene = torch.rand(2, 2, 3, 32, 32)  # (B, V, 3, H, W)
    full = torch.ones(2, 2, 32, 32)
    with torch.no_grad():
        pixels = model.pixel_features(scene)  # (B, K, h, w)
        torch.testing.assert_close(
            model.encode_scene(scene, full), pixels.amax((-2, -1))[:, None].expand(2, 2, -1)
        )
        left = torch.zeros(2, 2, 32, 32)
        left[:, 0, :, :16], left[:, 1, :, 16:] = 1, 1
        half = pixels.shape[-1] // 2
        got = model.encode_scene(scene, left)
        torch.testing.assert_close(got[:, 0], pixels[..., :half].amax((-2, -1)))
        torch.testing.assert_close(got[:, 1], pixels[..., half:].amax((-2, -1)))
        out = model(torch.randn(2, 4095), scene, left)
        top = SoundOfPixels(tiny_config(pool_top=0.5)).eval()
        top.load_state_dict(model.state_dict())
        half_cells = top.encode_scene(scene, left)  # the mean of the top half of each region's cells
        torch.testing.assert_close(
            half_cells[:, 0],
            pixels[..., :half].flatten(-2).sort(-1, descending=True).values[..., :4].mean(-1),
        )
        assert (half_cells <= got + 1e-6).all() and (half_cells < got - 1e-4).any()
    assert out.masks.shape[:2] == (2, 2)


def test_top_share_pooling_averages_the_largest_cells():
    from pixelsound.frames import pool_clip, pool_regions

    pixels = torch.rand(2, 3, 4, 5)  # (B, K, h, w)
    regions = (torch.rand(2, 2, 4, 5) < 0.5).float()
    regions[:, :, 0, 0] = 1  # no empty region
    torch.testing.assert_close(pool_regions(pixels, regions, 0.0), pool_regions(pixels, regions, 1e-3))
    got = pool_regions(pixels, regions, 0.5)  # (B, R, K)
    for b in range(2):
        for r in range(2):
            inside = pixels[b][:, regions[b, r].bool()]  # (K, n)
            k = max(1, round(0.5 * inside.shape[1]))
            torch.testing.assert_close(got[b, r], inside.sort(1, descending=True).values[:, :k].mean(1))
    assert (got <= pool_regions(pixels, regions)).all()
    torch.testing.assert_close(pool_clip(pixels, 1.0), pixels.mean((-2, -1)))
    torch.testing.assert_close(pool_clip(pixels, 0.0), pixels.amax((-2, -1)))
