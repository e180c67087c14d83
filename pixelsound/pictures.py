"""Pictures of instruments from several picture libraries: styles, their roles, drawing one sprite.

One concern, the picture libraries (their tables make it long); the frames in which the sprites move with the
music are :mod:`pixelsound.staging`.

Styles (see STYLES), each with a role: the Noto Color Emoji font (Debian fonts-noto-color-emoji, drawn by
Pillow); emoji sets installed from npm into ``deps/node_modules`` (``./dev setup`` runs ``npm install --prefix
deps``): SVG sets rendered with cairosvg (Twemoji, Fluent as 3D-like, flat and high-contrast silhouettes,
OpenMoji as colour and black line art), 64-px PNG sets (Apple's and Facebook's emoji from
emoji-datasource) and Fluent's 3D renders (256-px WebP, shaded like photographs of toys); Iconify sets
(``@iconify-json/*``): colour emoji and icon sets (Streamline's freehand, ultimate, cyber and kameleon colour
drawings, IconPark) and monochrome glyph sets (Material Design, Phosphor, Tabler, WebHostingHub, MingCute,
Lucide, Font Awesome, TDesign, Hugeicons, Arcticons line art, Fluent system icons...), drawn black and tinted
per clip (:func:`dress`); and detailed drawings from Debian's openclipart-svg (``CLIPART``).

Roles: "train"; "held_out" (OpenMoji, the visual-shift split test_style); "far" (whole libraries never used in
training or tuning: openclipart, EmojiOne in both versions, game-icons). Emoji sets draw every instrument;
Iconify sets and openclipart only some (:func:`covers`, the ``ICONS`` and ``CLIPART`` tables).

"""

from __future__ import annotations

import functools
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont

from pixelsound.errors import UserError
from pixelsound.instruments import INSTRUMENTS

NOTO_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
NOTO_SIZE = 109  # the only size of Noto Color Emoji's bitmap strikes


class PictureError(UserError, RuntimeError):
    """A drawing style's files (or its renderer) are missing; the message says what to install."""


@dataclass(frozen=True)
class Style:
    """A drawing style (one picture library, or one rendering of it).

    Attributes:
        name: style name used in sidecars and indexes.
        kind: how pictures are found and drawn: "font" (Noto Color Emoji), "svg" / "png" (a file per emoji,
            ``pattern``; "png" is any raster Pillow reads, e.g. Fluent 3D's WebP renders), "iconify" (a
            colour Iconify set, ``pattern`` its icons.json), "glyph" (a monochrome Iconify set, drawn black
            and tinted by :func:`dress`), "clipart" (Debian's openclipart-svg, files in ``CLIPART``).
        pattern: for "svg" / "png", the file path under node_modules with ``{cp}`` (upper-case code point),
            ``{cpl}`` (lower case) or ``{fluent}`` (Fluent file name); for Iconify sets, the icons.json path
            under node_modules; "" otherwise.
        package: the npm package (or Debian package) that provides it, and its licence.
        role: "train" (training data), "held_out" (split test_style: kept out of training, same kind of
            pictures) or "far" (whole libraries never used for training or tuning).
    """

    name: str
    kind: str
    pattern: str
    package: str
    role: str = "train"

    @property
    def held_out(self) -> bool:
        return self.role == "held_out"


def _by_name(styles: tuple[Style, ...]) -> dict[str, Style]:
    """Styles keyed by name; two styles of one name are a mistake (the second would hide the first)."""
    names = [s.name for s in styles]
    if len(set(names)) < len(names):
        raise ValueError(f"style names used twice: {sorted({n for n in names if names.count(n) > 1})}")
    return {s.name: s for s in styles}


_ICONIFY = "@iconify-json/{}/icons.json"
STYLES: dict[str, Style] = _by_name(
    (
        Style("noto", "font", "", "fonts-noto-color-emoji (Debian; OFL-1.1)"),
        Style("twemoji", "svg", "@twemoji/svg/{cpl}.svg", "@twemoji/svg (CC-BY-4.0)"),
        Style("fluent", "svg", "fluentui-emoji/icons/modern/{fluent}.svg", "fluentui-emoji (MIT)"),
        Style("fluent-flat", "svg", "fluentui-emoji/icons/flat/{fluent}.svg", "fluentui-emoji (MIT)"),
        Style(
            "fluent-mono", "svg", "fluentui-emoji/icons/high-contrast/{fluent}.svg", "fluentui-emoji (MIT)"
        ),
        Style("apple", "png", "emoji-datasource-apple/img/apple/64/{cpl}.png", "emoji-datasource-apple"),
        Style(
            "facebook",
            "png",
            "emoji-datasource-facebook/img/facebook/64/{cpl}.png",
            "emoji-datasource-facebook",
        ),
        Style(
            "fluent-3d", "png", "@lobehub/fluent-emoji-3d/assets/{cpl}.webp", "@lobehub/fluent-emoji-3d (MIT)"
        ),
        Style("fxemoji", "iconify", _ICONIFY.format("fxemoji"), "@iconify-json/fxemoji (Apache-2.0)"),
        Style("noto-v1", "iconify", _ICONIFY.format("noto-v1"), "@iconify-json/noto-v1 (Apache-2.0)"),
        Style(
            "streamline-emojis",
            "iconify",
            _ICONIFY.format("streamline-emojis"),
            "@iconify-json/streamline-emojis (CC-BY-4.0)",
        ),
        Style("mdi", "glyph", _ICONIFY.format("mdi"), "@iconify-json/mdi (Apache-2.0)"),
        Style("ph", "glyph", _ICONIFY.format("ph"), "@iconify-json/ph (MIT)"),
        Style("tabler", "glyph", _ICONIFY.format("tabler"), "@iconify-json/tabler (MIT)"),
        Style(
            "icon-park-outline",
            "glyph",
            _ICONIFY.format("icon-park-outline"),
            "@iconify-json/icon-park-outline (Apache-2.0)",
        ),
        *(
            Style(n, "iconify", _ICONIFY.format(n), f"@iconify-json/{n} ({lic})")
            for n, lic in (
                ("streamline-freehand-color", "CC-BY-4.0"),
                ("streamline-ultimate-color", "CC-BY-4.0"),
                ("streamline-cyber-color", "CC-BY-4.0"),
                ("streamline-kameleon-color", "CC-BY-4.0"),
                ("icon-park", "Apache-2.0"),
            )
        ),
        *(
            Style(n, "glyph", _ICONIFY.format(n), f"@iconify-json/{n} ({lic})")
            for n, lic in (
                ("whh", "OFL-1.1"),
                ("mingcute", "Apache-2.0"),
                ("lucide", "ISC"),
                ("fa6-solid", "CC-BY-4.0"),
                ("tdesign", "MIT"),
                ("hugeicons", "MIT"),
                ("arcticons", "CC-BY-SA-4.0"),
            )
        ),
        Style("fluent-system", "glyph", _ICONIFY.format("fluent"), "@iconify-json/fluent (MIT)"),
        Style("openmoji", "svg", "openmoji/color/svg/{cp}.svg", "openmoji (CC-BY-SA-4.0)", "held_out"),
        Style("openmoji-line", "svg", "openmoji/black/svg/{cp}.svg", "openmoji (CC-BY-SA-4.0)", "held_out"),
        Style("openclipart", "clipart", "", "openclipart-svg (Debian; public domain)", "far"),
        Style(
            "emojione", "iconify", _ICONIFY.format("emojione"), "@iconify-json/emojione (CC-BY-4.0)", "far"
        ),
        Style(
            "emojione-v1",
            "iconify",
            _ICONIFY.format("emojione-v1"),
            "@iconify-json/emojione-v1 (CC-BY-SA-4.0)",
            "far",
        ),
        Style(
            "game-icons",
            "glyph",
            _ICONIFY.format("game-icons"),
            "@iconify-json/game-icons (CC-BY-3.0)",
            "far",
        ),
    )
)

# The icons that draw each instrument in each Iconify set (several: one is picked per clip). Read from the
# sets' icons.json; an instrument missing here has no picture in that set.
_EMOJI7 = {"violin": ("violin",), "guitar": ("guitar",), "trumpet": ("trumpet",), "saxophone": ("saxophone",),
           "bell": ("bell",), "piano": ("musical-keyboard",)}  # fmt: skip
ICONS: dict[str, dict[str, tuple[str, ...]]] = {
    "fxemoji": {**_EMOJI7, "piano": ("musicalkeyboard",)},
    "noto-v1": {**_EMOJI7, "drum": ("drum",)},
    "streamline-emojis": _EMOJI7,
    "emojione": {**_EMOJI7, "drum": ("drum",)},
    "emojione-v1": _EMOJI7,
    "mdi": {**_EMOJI7, "guitar": ("guitar-acoustic", "guitar-electric"), "piano": ("piano",)},
    "ph": {
        "guitar": ("guitar", "guitar-fill", "guitar-bold"),
        "bell": ("bell", "bell-fill", "bell-bold"),
        "piano": ("piano-keys", "piano-keys-fill", "piano-keys-bold"),
    },
    "tabler": {"bell": ("bell", "bell-filled"), "piano": ("piano",)},
    "icon-park-outline": {"bell": ("bell-ring",), "piano": ("piano",)},
    "streamline-freehand-color": {
        "accordion": ("instrument-accordian",),
        "guitar": ("modern-music-bass-guitar",),
        "saxophone": ("instrument-saxophone",),
        "piano": ("instrument-electronic-keyboard",),
        "drum": ("modern-music-drums",),
    },
    "streamline-ultimate-color": {
        "guitar": ("modern-music-electric-guitar",),
        "piano": ("instrument-classical-piano",),
        "bell": ("alarm-bell-ring",),
    },
    "streamline-cyber-color": {"guitar": ("guitar",), "piano": ("piano-1", "piano-3"), "drum": ("drum-2",)},
    "streamline-kameleon-color": {"drum": ("drum", "drum-duo")},
    "icon-park": {"piano": ("piano",)},
    "whh": {
        "guitar": ("guitar",),
        "violin": ("violin",),
        "trumpet": ("trumpet",),
        "piano": ("piano",),
        "bell": ("bell",),
    },
    "mingcute": {
        "guitar": ("guitar-fill", "guitar-line"),
        "bell": ("bell-ringing-fill", "bell-ringing-line"),
    },
    "lucide": {"guitar": ("guitar",), "piano": ("piano",), "bell": ("bell", "bell-ring"), "drum": ("drum",)},
    "fa6-solid": {"guitar": ("guitar",), "bell": ("bell",), "drum": ("drum",)},
    "tdesign": {"guitar": ("guitar", "guitar-filled"), "piano": ("piano", "piano-filled")},
    "hugeicons": {"guitar": ("guitar",), "bell": ("bell",), "drum": ("drum",)},
    "arcticons": {
        "accordion": ("accordion", "emoji-accordion"),
        "piano": ("emoji-musical-keyboard",),
        "bell": ("emoji-bell",),
    },
    "fluent-system": {"guitar": ("guitar-24-filled", "guitar-24-regular")},
    "game-icons": {
        "accordion": ("accordion",),
        "guitar": ("guitar",),
        "violin": ("violin",),
        "trumpet": ("trumpet",),
        "saxophone": ("saxophone",),
        "flute": ("flute",),
        "piano": ("piano-keys", "grand-piano"),
        "banjo": ("banjo",),
        "bell": ("ringing-bell",),
        "drum": ("drum", "drum-kit"),
        "maracas": ("maracas",),
    },
}

# Detailed drawings of instruments in Debian's openclipart-svg (public domain), under CLIPART_DIR.
CLIPART_DIR = Path("/usr/share/openclipart/svg")
_MUSIC = "recreation/music/"
CLIPART: dict[str, tuple[str, ...]] = {
    "violin": ("violin_colour_ganson.svg", "violin_ganson.svg", "violin_mo_01.svg"),
    "guitar": (
        "guitar_ganson.svg",
        "guitar_jarno_vasamaa1.svg",
        "guitar_jarno_vasamaa2.svg",
        "guitar_profile_philippe__01.svg",
    ),
    "trumpet": (
        "trumpet_b_flat_colour_ganso.svg",
        "trumpet_b_flat__ganson.svg",
        "trumpet_pocket_colour_ganso.svg",
    ),
    "saxophone": ("saxophone_jarno_vasamaa_.svg",),
    "drum": ("africandrum_benji_park2.svg", "djambf_ganson.svg", "drums_jarno_vasamaa_.svg"),
    "bell": ("../../computer/icons/flat-theme/applications/bell.svg",),
    "piano": ("piano_geraint_luff_01.svg", "piano_keys_jonathan_diet_01.svg"),
    "flute": ("flute_ganson.svg",),
    "maracas": ("maracas_ganson.svg",),
}
_BY_EMOJI = {i.emoji.upper(): i.name for i in INSTRUMENTS}


def covers(style: str, category: str) -> bool:
    """Whether ``style`` has a picture of the instrument ``category`` (emoji sets draw every instrument)."""
    kind = STYLES[style].kind
    if kind in ("iconify", "glyph"):
        return category in ICONS[style]
    if kind == "clipart":
        return category in CLIPART
    return True


def variants(style: str, category: str) -> int:
    """How many different pictures ``style`` has of ``category`` (0 when it has none)."""
    kind = STYLES[style].kind
    if kind in ("iconify", "glyph"):
        return len(ICONS[style].get(category, ()))
    if kind == "clipart":
        return len(CLIPART.get(category, ()))
    return 1


ROLES = ("train", "held_out", "far")


def role_styles(role: str, category: str | None = None) -> tuple[str, ...]:
    """The styles of a role ("train", "held_out", "far"), only those that draw ``category`` when given."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    return tuple(n for n, s in STYLES.items() if s.role == role and (category is None or covers(n, category)))


# TRAIN_STYLES draw every instrument (any pairing works); role_styles("train", c) adds the partial libraries.
TRAIN_STYLES = tuple(n for n in role_styles("train") if all(covers(n, i.name) for i in INSTRUMENTS))
HELD_OUT_STYLES = role_styles("held_out")
FAR_STYLES = role_styles("far")


def assets_dir() -> Path:
    """The npm install folder: $PIXELSOUND_ASSETS, else the repository's deps/node_modules."""
    env = os.environ.get("PIXELSOUND_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "deps" / "node_modules"


def style_file(style: str, emoji: str, fluent: str) -> Path:
    """Path of the file that draws ``emoji`` in ``style`` ("svg", "png"; for Iconify sets their JSON)."""
    pattern = STYLES[style].pattern
    return assets_dir() / pattern.format(cp=emoji.upper(), cpl=emoji.lower(), fluent=fluent)


def clipart_file(category: str, variant: int = 0) -> Path:
    """Path of an openclipart drawing of ``category`` (variant taken modulo the drawings there are)."""
    names = CLIPART[category]
    return (CLIPART_DIR / _MUSIC / names[variant % len(names)]).resolve()


@functools.lru_cache(maxsize=32)
def _iconify(style: str) -> dict:
    """An Iconify set's icons.json (read once per process)."""
    path = style_file(style, "", "")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PictureError(
            f"{path}: {err}; style {style!r} needs the npm package {STYLES[style].package.split()[0]}: run "
            "./dev setup (npm install --prefix deps), or point $PIXELSOUND_ASSETS at a node_modules with it"
        ) from None


def iconify_svg(style: str, name: str) -> str:
    """A whole SVG document for icon ``name`` of an Iconify set (its body in an <svg viewBox>).

    Raises:
        PictureError: the set has no such icon.
    """
    data = _iconify(style)
    icon, seen = data["icons"].get(name), name
    while icon is None and seen in data.get("aliases", {}):  # an alias names its parent icon
        seen = data["aliases"][seen]["parent"]
        icon = data["icons"].get(seen)
    if icon is None:
        raise PictureError(f"{style_file(style, '', '')}: no icon {name!r} in style {style!r}")
    left, top = icon.get("left", data.get("left", 0)), icon.get("top", data.get("top", 0))
    w, h = icon.get("width", data.get("width", 16)), icon.get("height", data.get("height", 16))
    body = icon["body"].replace("currentColor", "#000000")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{left} {top} {w} {h}" width="{w}" height="{h}">{body}</svg>'
    )


def _check_renderer(style: str) -> None:
    """cairosvg imports (every style but the font and PNG ones renders SVG)."""
    try:
        import cairosvg  # noqa: F401  (optional at run time: needs libcairo2; ~200 ms)
    except (ImportError, OSError) as err:
        raise PictureError(
            f"style {style!r} needs cairosvg ({err}): pip install cairosvg; Debian package libcairo2"
        ) from None


def _check_style(style: str, categories: list[str], files: list[Path]) -> None:
    """Check one style: its renderer, and the pictures of the categories it covers."""
    s = STYLES[style]
    if s.kind == "font":
        if not NOTO_FONT.is_file():
            raise PictureError(f"{NOTO_FONT} not found: install the Debian package 'fonts-noto-color-emoji'")
        return
    if s.kind != "png":
        _check_renderer(style)
    if s.kind in ("iconify", "glyph"):
        for c in categories:
            for name in ICONS[style].get(c, ()):
                iconify_svg(style, name)
        return
    for path in files:
        if not path.is_file():
            what = f"the npm package {s.package.split()[0]}; run ./dev setup (npm install --prefix deps)"
            if s.kind == "clipart":
                what = "the Debian package openclipart-svg (apt-get install openclipart-svg)"
            raise PictureError(f"{path} not found: style {style!r} needs {what}")


def check_styles(styles: tuple[str, ...], pictures: list[tuple[str, str]]) -> None:
    """Check that every (emoji, fluent name) picture can be drawn in every style that covers it.

    A style that covers only some instruments (see :func:`covers`) is checked on those only.

    Raises:
        PictureError: naming the missing file and what to install.
    """
    for style in styles:
        if style not in STYLES:
            raise PictureError(f"unknown style {style!r} (known: {', '.join(STYLES)})")
        kind = STYLES[style].kind
        categories = [_BY_EMOJI.get(e.upper(), "") for e, _ in pictures]
        if kind == "clipart":
            files = [
                clipart_file(c, v) for c in categories if covers(style, c) for v in range(variants(style, c))
            ]
        else:
            files = [style_file(style, e, f) for e, f in pictures]
        _check_style(style, categories, files)


def _square(img: Image.Image) -> Image.Image:
    """Crop an RGBA image to its visible content and pad it to a centred square."""
    box = img.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    img = img.crop(box) if box else img
    side = max(img.size)
    out = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    out.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return out


def _svg(px: int, url: str | None = None, text: str | None = None) -> Image.Image:
    """Render an SVG file or document at ``px`` wide (its aspect kept). -> RGBA."""
    import cairosvg  # optional at run time (needs libcairo2): only SVG styles import it

    data = cairosvg.svg2png(url=url, bytestring=text.encode() if text else None, output_width=px)
    return Image.open(io.BytesIO(data)).convert("RGBA")


@functools.lru_cache(maxsize=512)
def picture(style: str, category: str, px: int = 256, variant: int = 0) -> Image.Image:
    """The picture of one instrument in one style: RGBA, square, content touching the borders, ``px`` wide.

    Glyph styles come out black (:func:`dress` tints them).

    Args:
        style: a name in STYLES.
        category: instrument name (pixelsound.instruments.CATEGORIES); the style must cover it.
        px: side of the returned image.
        variant: which of the style's pictures of the instrument (modulo :func:`variants`).

    Raises:
        PictureError: the style does not draw this instrument, or its files are missing.
    """
    s = STYLES[style]
    if not covers(style, category):
        raise PictureError(f"style {style!r} has no picture of {category!r} (see pictures.covers)")
    inst = next(i for i in INSTRUMENTS if i.name == category)
    if s.kind == "font":
        font = ImageFont.truetype(str(NOTO_FONT), NOTO_SIZE)
        img = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
        ImageDraw.Draw(img).text((8, 8), chr(int(inst.emoji, 16)), font=font, embedded_color=True)
    elif s.kind == "png":
        with Image.open(style_file(style, inst.emoji, inst.fluent)) as image:
            img = image.convert("RGBA")
    elif s.kind == "svg":
        img = _svg(px, url=str(style_file(style, inst.emoji, inst.fluent)))
    elif s.kind == "clipart":
        img = _svg(px, url=str(clipart_file(category, variant)))
    else:
        names = ICONS[style][category]
        img = _svg(px, text=iconify_svg(style, names[variant % len(names)]))
    return _square(img).resize((px, px), Image.Resampling.LANCZOS)


def sprite(style: str, emoji: str, fluent: str, px: int = 256) -> Image.Image:
    """The picture of one emoji's instrument in one style (see :func:`picture`; ``fluent`` is unused)."""
    return picture(style, _BY_EMOJI[emoji.upper()], px)


def dress(style: str, img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Tint a glyph style's black picture: a random colour fill, sometimes a border or only the outline.

    Other styles are returned unchanged (without drawing from ``rng``).
    """
    if STYLES[style].kind != "glyph":
        return img
    alpha = img.getchannel("A")
    fill, edge = (tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    look, width = rng.random(), 6 * int(rng.integers(1, 4)) + 3  # border width in px at 256: 9..21
    width = max(3, round(width * img.width / 256)) | 1
    grown = alpha.filter(ImageFilter.MaxFilter(width))
    if look < 0.25:  # outline only
        return _solid(edge, ImageChops.subtract(grown, alpha.filter(ImageFilter.MinFilter(width))))
    out = _solid(edge, grown) if look < 0.6 else Image.new("RGBA", img.size, edge + (0,))  # with a border
    out.alpha_composite(_solid(fill, alpha))
    return out


def _solid(colour: tuple[int, ...], alpha: Image.Image) -> Image.Image:
    """A picture of one colour with the given alpha."""
    img = Image.new("RGBA", alpha.size, tuple(colour) + (0,))
    img.putalpha(alpha)
    return img


def draw_sprite(style: str, category: str, rng: np.random.Generator, px: int = 256) -> Image.Image:
    """One clip's sprite of an instrument: a random variant of the picture, tinted (glyphs) and jittered.

    Args:
        style: a name in STYLES that covers ``category``.
        category: instrument name.
        rng: the clip's generator.
        px: side of the returned image.

    Returns:
        RGBA image (px, px).
    """
    variant = int(rng.integers(0, max(variants(style, category), 1)))
    return jitter(dress(style, picture(style, category, px, variant), rng), rng)


def jitter(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Colour jitter of an RGBA sprite: brightness, contrast, saturation and a small hue shift."""
    alpha = img.getchannel("A")
    rgb = img.convert("RGB")
    rgb = ImageEnhance.Brightness(rgb).enhance(rng.uniform(0.8, 1.2))
    rgb = ImageEnhance.Contrast(rgb).enhance(rng.uniform(0.8, 1.2))
    rgb = ImageEnhance.Color(rgb).enhance(rng.uniform(0.7, 1.3))
    hsv = np.asarray(rgb.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-10, 11))) % 256
    rgb = Image.fromarray(hsv, "HSV").convert("RGB")
    rgb.putalpha(alpha)
    return rgb
