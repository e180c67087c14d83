"""Training views: appearance augmentation, side-by-side scenes, and the model's per-region clip vectors."""

import torch

from pixelsound import views
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
