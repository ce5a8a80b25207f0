"""Cover art: a generated PNG with the routine title and level (a clinic's own PNG/JPEG is
read and checked in `model.cover_image`).

The generated cover is deterministic (same inputs → same bytes), so rebuilds stay identical.
"""

from __future__ import annotations

import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

from ..model.cover_image import image_mime as image_mime  # defined there: still importable from here
from ..model.cover_image import load_cover as load_cover

SIZE = 600
LEVEL_COLOURS = [(38, 90, 120), (120, 62, 38), (52, 110, 70), (96, 60, 120)]   # by level position


def generate_cover(title: str, level: str, level_index: int = 0, footer: str | None = None) -> bytes:
    """A 600×600 PNG: the title (wrapped), the level below it, an optional footer line."""
    background = LEVEL_COLOURS[level_index % len(LEVEL_COLOURS)]
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((24, 24, SIZE - 25, SIZE - 25), outline=(255, 255, 255), width=4)
    big, mid, small = (ImageFont.load_default(size) for size in (54, 40, 26))
    lines = textwrap.wrap(title, width=18)[:5]
    y = 150 - 16 * (len(lines) - 1)
    for line in lines:
        _centred(draw, y, line, big, (255, 255, 255))
        y += 66
    _centred(draw, y + 30, level, mid, (235, 225, 180))
    if footer:
        _centred(draw, SIZE - 80, textwrap.shorten(footer, width=40, placeholder="…"), small, (220, 220, 220))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def _centred(draw: ImageDraw.ImageDraw, y: int, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
             fill: tuple[int, int, int]) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((SIZE - width) / 2, y), text, font=font, fill=fill)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
