"""The words the compiler adds around a script's own cues, per language.

A script can replace any of them under `phrases:`; a clinic keeps its own wording that way.
"""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    "session_intro": "{title}. {level} session.",
    "safety_intro": "Before we begin, a word on safety.",
    "exercise_intro": "Exercise {n} of {total}: {name}.",
    "dose_reps": "{n} reps",
    "dose_one_rep": "one rep",
    "dose_sets": "in {n} sets",
    "dose_hold": "holding each for {time}",
    "dose_breath": "breathing in for {inhale} and out for {exhale}",
    "dose_each_side": "on each side",
    "dose_alternating": "alternating sides",
    "get_ready": "Get ready.",
    "rep": "Rep {n} of {total}.",
    "rep_side": "Rep {n} of {total}, {side} side.",
    "last_rep": "Last one.",
    "last_rep_side": "Last one, {side} side.",
    "hold": "Hold.",
    "release": "And relax.",
    "rest": "Rest.",
    "set": "Set {n} of {total}.",
    "set_rest": "Rest now. Set {n} of {total} is next.",
    "side_first": "Start with your {side} side.",
    "side_switch": "Now the {side} side.",
    "left": "left",
    "right": "right",
    "inhale": "Breathe in.",
    "exhale": "Breathe out.",
    "exercise_done": "Good work.",
    "session_end": "That is the end of the session. Well done.",
    "seconds": "{n} seconds",
    "one_second": "one second",
}

PHRASES: dict[str, dict[str, str]] = {"en": ENGLISH}
PHRASE_KEYS: tuple[str, ...] = tuple(ENGLISH)


class Phrases:
    """Fills phrase templates for one language, with a script's overrides on top."""

    def __init__(self, language: str = "en", overrides: dict[str, str] | None = None) -> None:
        base = PHRASES.get(language.split("-")[0].lower())
        if base is None:
            raise KeyError(language)
        self.table = {**base, **(overrides or {})}

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**values)

    def seconds(self, ms: int) -> str:
        if ms == 1000:
            return self("one_second")
        n = ms // 1000 if ms % 1000 == 0 else round(ms / 1000, 1)
        return self("seconds", n=n)


def supported_languages() -> list[str]:
    return sorted(PHRASES)
