"""Numbers in clinic text as a receptionist says them: phone numbers and codes digit by
digit in their groups, clock times in words, small counts left alone."""

from __future__ import annotations

import re

import pytest

from audioroutine.compile.spoken import speak_numbers
from audioroutine.model.phrases import Phrases


@pytest.mark.parametrize(("language", "text", "spoken"), [
    ("en", "Call 555 0142.", "Call 5 5 5, 0 1 4 2."),
    ("en", "Call 01234 567890 or (01234) 567-891.", "Call 0 1 2 3 4, 5 6 7 8 9 0 or 0 1 2 3 4, 5 6 7, 8 9 1."),
    ("en", "Ring +44 20 7946 0958.", "Ring plus 4 4, 2 0, 7 9 4 6, 0 9 5 8."),
    ("en", "Open 9:30 to 17:00, Sat 8:05.", "Open nine thirty to seventeen o'clock, Sat eight oh five."),
    ("en", "Door code 4021, room 12, 3 floors up.", "Door code 4 0 2 1, room 12, 3 floors up."),
    ("es", "Llame al 555 0142 a las 9:30.", "Llame al cinco cinco cinco, cero uno cuatro dos a las nueve y treinta."),
    ("es", "Sala 12.", "Sala doce."),
    ("de", "Rufen Sie 030 1234 an, ab 8:00.", "Rufen Sie null drei null, eins zwei drei vier an, ab acht Uhr."),
], ids=lambda value: value if len(value) < 4 else None)
def test_numbers_are_spoken_the_way_a_receptionist_says_them(language: str, text: str, spoken: str) -> None:
    assert speak_numbers(text, Phrases(language)) == spoken


@pytest.mark.parametrize("language", ["en", "es", "de"])
def test_no_long_digit_run_reaches_the_engine(language: str) -> None:
    contact = "Questions? Call 0800 123 4567 (24 hours) or +49 30 901820, code 99871, 7:45-16:30."
    said = speak_numbers(contact, Phrases(language))
    runs = [len(run) for run in re.findall(r"\d+", said)]
    assert max(runs, default=0) <= (2 if language == "en" else 0)    # only the English count "24" keeps digits
    assert "24" in said if language == "en" else not runs


def test_text_without_numbers_is_unchanged() -> None:
    text = "Bring any questions to your next appointment."
    assert speak_numbers(text, Phrases("en")) == text
