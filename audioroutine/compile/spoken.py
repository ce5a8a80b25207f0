"""Spoken forms of numbers in free text, such as a clinic's contact line.

Read as written, "Call 01234 567890" comes out as one huge number. A receptionist says it
digit by digit, in its groups, with a breath between groups: "0 1 2 3 4, 5 6 7 8 9 0".
Clock times become words ("9:30" → "nine thirty"), and a small count ("Room 4", "24 hours")
stays a count. Digits and words come from the language's table (`Phrases.number`: digits in
English, num2words elsewhere), so the engine never sees a run of more than one digit except
an English count of one or two digits.
"""

from __future__ import annotations

import re

from ..model.phrases import Phrases

# A clock time: H:MM or HH:MM, not part of a longer number.
CLOCK = re.compile(r"(?<![\w:])([01]?\d|2[0-3]):([0-5]\d)(?![\w:])")
# A number in groups: digits, or digits in brackets, separated by a space, dash, dot or slash,
# optionally after a "+" (international prefix).
GROUP = r"(?:\(\d+\)|\d+)"
NUMBER = re.compile(rf"(?<![\w+])(?:\+\s?)?{GROUP}(?:[ \-./]?{GROUP})*(?!\w)")


def speak_numbers(text: str, say: Phrases) -> str:
    """`text` with clock times in words and phone numbers and codes digit by digit."""
    text = CLOCK.sub(lambda m: _clock(int(m.group(1)), int(m.group(2)), say), text)
    return NUMBER.sub(lambda m: _number(m.group(0), say), text)


def _clock(hour: int, minute: int, say: Phrases) -> str:
    if minute == 0:
        return say.table["clock_hour"].format(hour=say.words(hour))
    key = "clock_early" if minute < 10 else "clock"
    return say.table[key].format(hour=say.words(hour), minute=say.words(minute))


def _number(found: str, say: Phrases) -> str:
    plus = found.lstrip().startswith("+")
    groups = re.findall(r"\d+", found)
    if not plus and len(groups) == 1 and len(groups[0]) <= 2 and (groups[0] == "0" or groups[0][0] != "0"):
        return say.number(int(groups[0]))          # a count: "Room 4", "24 hours"
    spelled = ", ".join(" ".join(say.number(int(digit)) for digit in group) for group in groups)
    return f"{say('plus')} {spelled}" if plus else spelled
