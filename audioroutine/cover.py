"""Cover art: a clinic's own PNG/JPEG, or a generated PNG with the routine title and level.

The generated cover is deterministic (same inputs → same bytes), so rebuilds stay identical.
"""

from __future__ import annotations

import hashlib
import io
import textwrap
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .lang.fonts import font_path
from .limits import COVER_EDGE, MAX_COVER_BYTES, MAX_COVER_PIXELS

SIZE = 1400
LEVEL_COLOURS = [(38, 90, 120), (120, 62, 38), (52, 110, 70), (96, 60, 120)]   # by level position


def image_mime(head: bytes) -> str | None:
    """'image/png' or 'image/jpeg' from a file's first bytes, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def load_cover(path: Path) -> tuple[bytes, str]:
    """A clinic's cover, decoded and re-encoded (same format; at most COVER_EDGE pixels a
    side), so a corrupt, truncated or huge image is a ValueError here, not a broken MP3."""
    size = path.stat().st_size
    if size > MAX_COVER_BYTES:
        raise ValueError(f"cover image is larger than {MAX_COVER_BYTES:,} bytes")
    return _reencode(path.read_bytes())


@lru_cache(maxsize=4)
def _reencode(data: bytes) -> tuple[bytes, str]:
    mime = image_mime(data[:8])
    if mime is None:
        raise ValueError("cover image is not a PNG or JPEG")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_COVER_PIXELS:
                raise ValueError(f"cover image has more than {MAX_COVER_PIXELS:,} pixels "
                                 f"({image.width}x{image.height})")
            image.load()
            picture = image.convert("RGBA" if mime == "image/png" and image.mode in ("RGBA", "LA", "P") else "RGB")
    except ValueError:
        raise
    except Image.DecompressionBombError:
        raise ValueError(f"cover image has more than {MAX_COVER_PIXELS:,} pixels") from None
    except Exception:  # noqa: BLE001  Pillow raises OSError, SyntaxError, struct.error... on broken files
        raise ValueError("cover image is corrupt or truncated") from None
    picture.thumbnail((COVER_EDGE, COVER_EDGE))
    out = io.BytesIO()
    if mime == "image/png":
        picture.save(out, format="PNG", optimize=False, compress_level=9)
    else:
        picture.save(out, format="JPEG", quality=90)
    return out.getvalue(), mime


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


@lru_cache(maxsize=8)
def _font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(weight)), size)


def _centred(draw: ImageDraw.ImageDraw, y: float, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
             fill: tuple[int, int, int]) -> None:
    width = draw.textlength(text, font=font)
    draw.text(((SIZE - width) / 2, y), text, font=font, fill=fill)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]
