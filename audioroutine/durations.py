"""Durations as written in scripts ("3s", "1m30s", "500ms", 4, 2.5) → whole milliseconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|seconds?|secs?|s|minutes?|mins?|m)(?![a-z])")


def parse_duration_ms(value: object) -> int:
    """Parse a duration; raise ValueError with a message meant for the user."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s or 1m30s, got {value!r}")
    if isinstance(value, (int, float)):
        ms = round(value * 1000)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            ms = round(float(text) * 1000)
        else:
            if text.startswith("-"):
                raise ValueError(f"duration must not be negative, got {value!r}")
            pos, ms = 0, 0
            for match in _PART.finditer(text):
                if text[pos:match.start()].strip():
                    break
                amount, unit = float(match.group(1)), match.group(2)
                ms += round(amount * (1 if unit == "ms" else 60000 if unit.startswith("m") else 1000))
                pos = match.end()
            if pos == 0 or text[pos:].strip():
                raise ValueError(f"expected a duration like 5s, 1m30s or 500ms, got {value!r}")
    else:
        raise ValueError(f"expected a duration like 5s or 1m30s, got {value!r}")
    if ms < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return ms


def format_ms(ms: int) -> str:
    """Milliseconds as m:ss.mmm for cue sheets."""
    minutes, rest = divmod(ms, 60000)
    return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"
