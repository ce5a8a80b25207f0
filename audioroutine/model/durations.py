"""Durations as written in scripts ("3s", "1m30s", "500ms", 4, 2.5) → whole milliseconds."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|seconds?|secs?|s|minutes?|mins?|m)(?![a-z])")


def parse_duration_ms(value: object) -> int:
    """Parse a duration; raise ValueError with a message meant for the user."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 5s or 1m30s, got {value!r}")
    if isinstance(value, (int, float)):
        ms = _whole_ms(value, 1000, value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            ms = _whole_ms(float(text), 1000, value)
        else:
            if text.startswith("-"):
                raise ValueError(f"duration must not be negative, got {value!r}")
            pos, ms = 0, 0
            for match in _PART.finditer(text):
                if text[pos:match.start()].strip():
                    break
                amount, unit = float(match.group(1)), match.group(2)
                ms += _whole_ms(amount, 1 if unit == "ms" else 60000 if unit.startswith("m") else 1000, value)
                pos = match.end()
            if pos == 0 or text[pos:].strip():
                raise ValueError(f"expected a duration like 5s, 1m30s or 500ms, got {value!r}")
    else:
        raise ValueError(f"expected a duration like 5s or 1m30s, got {value!r}")
    if ms < 0:
        raise ValueError(f"duration must not be negative, got {value!r}")
    return ms


def _whole_ms(amount: float, factor: int, value: object) -> int:
    """`amount` × `factor` rounded; infinite or absurdly large amounts are user errors, not
    OverflowError (limits.MAX_DURATION_MS then bounds what is accepted)."""
    ms = float(amount) * factor
    if not math.isfinite(ms) or abs(ms) > 1e15:
        raise ValueError(f"expected a duration like 5s or 1m30s, got {value!r}")
    return round(ms)


def format_ms(ms: int) -> str:
    """Milliseconds as m:ss.mmm for cue sheets."""
    minutes, rest = divmod(ms, 60000)
    return f"{minutes}:{rest // 1000:02d}.{rest % 1000:03d}"


def format_clock(ms: int) -> str:
    """Milliseconds as a player shows them (rounded down): m:ss under an hour, else h:mm:ss.
    What patients read on pages and handouts; publish/static/player.js writes the same."""
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else format_hms(ms)


def format_hms(ms: int) -> str:
    """Milliseconds as h:mm:ss (rounded down) for long spans."""
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
