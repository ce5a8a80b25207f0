"""A clinic's cover image (PNG or JPEG), read and checked like every other input file:
a corrupt, truncated, huge or foreign image is a ValueError here, not a broken MP3."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from ..core.limits import COVER_EDGE, MAX_COVER_BYTES, MAX_COVER_PIXELS


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
    from PIL import Image  # only when a cover is read: loading settings stays light

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
