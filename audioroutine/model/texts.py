"""Text that ends up spoken, in tags, transcripts and playlists: what is allowed in it."""

from __future__ import annotations

import unicodedata

from ..core.limits import MAX_TEXT_CHARS

_WHITESPACE = "\t\n\r"


def text_problem(value: str) -> str | None:
    """Why `value` cannot be used as text, or None when it can. Control characters (from YAML
    escapes such as "\\x1b" or "\\0") would reach tags and transcripts; text without a letter
    or digit is spoken as silence."""
    if len(value) > MAX_TEXT_CHARS:
        return f"text is longer than {MAX_TEXT_CHARS} characters ({len(value)})"
    for char in value:
        if char not in _WHITESPACE and unicodedata.category(char) in ("Cc", "Cs"):
            return f"control character U+{ord(char):04X} is not allowed in text"
    if not any(char.isalnum() for char in value):
        return f"text must contain a letter or digit to be spoken, got {value!r}"
    return None
