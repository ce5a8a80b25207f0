"""QR codes for handouts: a PNG per page that a phone camera opens."""

from __future__ import annotations

import io

import segno


def qr_png(url: str) -> bytes:
    """The QR code of `url` as a PNG (error correction M; 8 px modules with the 4-module quiet zone)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
