"""Picture libraries (styles, roles, partial coverage) and photographic backgrounds."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pixelsound import backgrounds, pictures
from pixelsound.instruments import CATEGORIES, INSTRUMENTS

ALL_PICTURES = [(i.emoji, i.fluent) for i in INSTRUMENTS]


def test_roles_split_the_libraries():
    roles = {s.name: s.role for s in pictures.STYLES.values()}
    with pytest.raises(ValueError, match="twice"):  # a second style of one name would hide the first
        pictures._by_name((pictures.STYLES["fluent"], pictures.STYLES["fluent"]))
    assert set(roles.values()) == set(pictures.ROLES)
    assert pictures.HELD_OUT_STYLES == ("openmoji", "openmoji-line")
    assert len(pictures.FAR_STYLES) >= 3 and {"openclipart", "game-icons"} <= set(pictures.FAR_STYLES)
    train = pictures.role_styles("train")
    assert not set(train) & set(pictures.FAR_STYLES) and not set(train) & set(pictures.HELD_OUT_STYLES)
    assert set(pictures.TRAIN_STYLES) < set(train)  # the full-coverage ones, and partial libraries besides
    for style in pictures.TRAIN_STYLES:
        assert all(pictures.covers(style, c) for c in CATEGORIES)
    for c in CATEGORIES:  # every instrument has a far picture and several training ones
        assert pictures.role_styles("far", c) and len(pictures.role_styles("train", c)) >= 7
    assert pictures.role_styles("train", "violin") != pictures.role_styles("train", "banjo")
    with pytest.raises(ValueError, match="unknown role"):
        pictures.role_styles("test")


def test_iconify_libraries_are_declared_with_their_licence():
    deps = json.loads((Path(__file__).parent.parent / "deps" / "package.json").read_text())["dependencies"]
    for name, s in pictures.STYLES.items():
        if s.kind not in ("iconify", "glyph"):
            continue
        npm, licence = re.fullmatch(r"(\S+) \((\S+)\)", s.package).groups()
        info = json.loads((pictures.assets_dir() / npm / "info.json").read_text())
        assert npm in deps and licence == info["license"]["spdx"], name
        assert set(pictures.ICONS[name]) <= set(CATEGORIES), name
    banned = ("openclipart", "emojione", "game-icons", "openmoji", "gcompris", "tuxpaint")
    assert not [n for n in pictures.role_styles("train") if n.startswith(banned)]
    colour = [n for n in pictures.role_styles("train", "accordion") if pictures.STYLES[n].kind == "iconify"]
    assert colour  # a colour drawing of the accordion besides the full emoji sets


def test_fluent_3d_draws_every_instrument_shaded():
    assert "fluent-3d" in pictures.TRAIN_STYLES
    for c in CATEGORIES:
        img = pictures.picture("fluent-3d", c, 64)
        rgb, alpha = np.asarray(img)[..., :3], np.asarray(img.getchannel("A"))
        assert img.size == (64, 64) and (alpha > 127).mean() > 0.1, c
        shades = len(np.unique(rgb[alpha > 250] // 8, axis=0))  # a 3-D render: many shades, not a flat fill
        assert shades > 120, (c, shades)  # flat Fluent: 16 shades on its bell, Twemoji 1


def test_every_covered_picture_renders_as_a_square_sprite():
    pictures.check_styles(tuple(pictures.STYLES), ALL_PICTURES)
    for style, s in pictures.STYLES.items():
        if s.kind not in ("iconify", "glyph", "clipart"):
            continue
        for c in CATEGORIES:
            for v in range(pictures.variants(style, c)):
                img = pictures.picture(style, c, 48, v)
                alpha = np.asarray(img.getchannel("A"))
                assert img.size == (48, 48) and img.mode == "RGBA"
                assert (alpha > 127).mean() > 0.02, (style, c, v)  # something is drawn (a thin sax: 3 %)
                edges = alpha[0].max(), alpha[-1].max(), alpha[:, 0].max(), alpha[:, -1].max()
                assert max(edges) > 8  # content touches the square's border (cropped, then centred)


def test_uncovered_instruments_are_refused_and_skipped_by_the_check():
    assert not pictures.covers("tabler", "violin") and pictures.variants("tabler", "violin") == 0
    with pytest.raises(pictures.PictureError, match="no picture of 'violin'"):
        pictures.picture("tabler", "violin")
    pictures.check_styles(("tabler",), ALL_PICTURES)  # only bell and piano are checked
    assert pictures.covers("noto", "banjo") and pictures.variants("noto", "banjo") == 1


def test_glyphs_are_tinted_and_clip_sprites_repeat_by_seed():
    black = pictures.picture("mdi", "violin", 64)
    rgb = np.asarray(black)[..., :3][np.asarray(black.getchannel("A")) > 200]
    assert rgb.max() < 40  # drawn black
    looks = [np.asarray(pictures.dress("mdi", black, np.random.default_rng(s))) for s in range(8)]
    colours = {tuple(x[..., :3][x[..., 3] > 200].mean(0).round()) for x in looks}
    assert len(colours) == 8 and max(max(c) for c in colours) > 60
    areas = [(x[..., 3] > 127).sum() for x in looks]
    assert min(areas) < (np.asarray(black.getchannel("A")) > 127).sum() < max(areas)  # outlines, borders
    emoji = pictures.picture("fxemoji", "violin", 64)
    assert pictures.dress("fxemoji", emoji, np.random.default_rng(0)) is emoji
    a = pictures.draw_sprite("game-icons", "drum", np.random.default_rng(5), 64)
    b = pictures.draw_sprite("game-icons", "drum", np.random.default_rng(5), 64)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and a.size == (64, 64)
    drawn = {np.asarray(pictures.draw_sprite("game-icons", "drum", np.random.default_rng(s), 64)).tobytes()
             for s in range(4)}  # fmt: skip
    assert len(drawn) == 4


def test_the_old_sprite_call_still_draws_by_emoji():
    violin = next(i for i in INSTRUMENTS if i.name == "violin")
    assert pictures.sprite("emojione", violin.emoji, violin.fluent, 32) is pictures.picture(
        "emojione", "violin", 32
    )


def test_missing_assets_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PIXELSOUND_ASSETS", str(tmp_path))
    pictures._iconify.cache_clear()
    try:
        with pytest.raises(
            pictures.PictureError, match=r"npm package @iconify-json/fxemoji.*PIXELSOUND_ASSETS"
        ):
            pictures.check_styles(("fxemoji",), ALL_PICTURES)
    finally:
        pictures._iconify.cache_clear()
    monkeypatch.setattr(pictures, "CLIPART_DIR", tmp_path / "openclipart")
    with pytest.raises(pictures.PictureError, match="apt-get install openclipart-svg"):
        pictures.check_styles(("openclipart",), ALL_PICTURES)
    monkeypatch.setitem(backgrounds.PHOTO_SETS, "far", ("gnome-backgrounds", tmp_path))
    with pytest.raises(pictures.PictureError, match="apt-get install gnome-backgrounds"):
        backgrounds.photo(np.random.default_rng(0), 8, 8, "far")


def test_photos_are_random_crops_from_each_roles_own_package():
    train, far = backgrounds.photo_files("train"), backgrounds.photo_files("far")
    assert len(train) >= 10 and len(far) >= 5 and not set(train) & set(far)
    assert backgrounds.photo_files("held_out") == train
    a = backgrounds.photo(np.random.default_rng(1), 40, 56, "far")
    assert a.shape == (40, 56, 3) and a.dtype == np.uint8 and a.std() > 1
    assert np.array_equal(a, backgrounds.photo(np.random.default_rng(1), 40, 56, "far"))
    crops = {backgrounds.photo(np.random.default_rng(s), 16, 16, "train").tobytes() for s in range(6)}
    assert len(crops) == 6
