"""Cover art: a generated PNG with the routine title and level (a clinic's own PNG/JPEG is
read and checked in `model.cover_image`).

The generated cover is deterministic (same inputs → same bytes), so rebuilds stay identical.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from functools import lru_cache

import PIL
from PIL import Image, ImageDraw, ImageFont

from ..core.files import sealed, unsealed
from ..lang.fonts import font_path
from ..model.cover_image import image_mime as image_mime  # defined there: still importable from here
from ..model.cover_image import load_cover as load_cover

SIZE = 1400
VERSION = 1          # of the drawing: a change makes new cached covers
MAGIC = b"ARCOVER1"
LEVEL_COLOURS = [(38, 90, 120), (120, 62, 38), (52, 110, 70), (96, 60, 120)]   # by level position


@lru_cache(maxsize=32)   # every patient of a routine and level gets the same cover: drawn once
def generate_cover(title: str, level: str, level_index: int = 0, footer: str | None = None) -> bytes:
    """A SIZE×SIZE PNG (1400 px: podcast directories ask 1400 to 3000 px, square): the title
    (wrapped), the level below it, an optional footer line, in a font that has every shipped
    language's letters."""
    background = LEVEL_COLOURS[level_index % len(LEVEL_COLOURS)]
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    unit = SIZE / 600      # the layout was drawn on 600 px
    draw.rectangle((round(24 * unit), round(24 * unit), SIZE - round(25 * unit), SIZE - round(25 * unit)),
                   outline=(255, 255, 255), width=round(4 * unit))
    big, mid = (_font("bold", round(size * unit)) for size in (54, 40))
    small = _font("regular", round(26 * unit))
    lines = textwrap.wrap(title, width=18)[:5]
    y = (150 - 16 * (len(lines) - 1)) * unit
    for line in lines:
        _centred(draw, y, line, big, (255, 255, 255))
        y += 66 * unit
    _centred(draw, y + 30 * unit, level, mid, (235, 225, 180))
    if footer:
        _centred(draw, SIZE - 80 * unit, textwrap.shorten(footer, width=40, placeholder="…"), small, (220, 220, 220))
    out = io.BytesIO()   # 32 colours keep the anti-aliased letters and a third of the bytes (about 30 KB)
    image.quantize(colors=32).save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


@lru_cache(maxsize=32)
def cover_key(title: str, level: str, level_index: int = 0, footer: str | None = None) -> str:
    """The name of `generate_cover`'s PNG in a cache: its arguments, the drawing's VERSION,
    Pillow's version and the font files' digests (the same name, the same bytes)."""
    fonts = [hashlib.sha256(font_path(weight).read_bytes()).hexdigest() for weight in ("regular", "bold")]
    blob = repr((VERSION, title, level, level_index, footer, PIL.__version__, fonts))
    return hashlib.sha256(blob.encode()).hexdigest()


def cover_entry(png: bytes) -> bytes:
    """A cached cover: MAGIC, the PNG's sha256, the PNG (core.files.sealed)."""
    return sealed(MAGIC, png)


def read_cover_entry(data: bytes) -> bytes | None:
    """The PNG of a cached cover; None unless it verifies."""
    png = unsealed(MAGIC, data)
    return bytes(png) if png else None


@lru_cache(maxsize=8)
def _font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(weight)), size)


def _centred(draw: ImageDraw.ImageDraw, y: float, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
             fill: tuple[int, int, int]) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((SIZE - width) / 2, y), text, font=font, fill=fill)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
