"""The font of covers and handouts comes from PyPI and has every letter of every shipped
language: checked in the font's character map, and by drawing each letter and comparing it
with the font's .notdef box (what a missing glyph prints as)."""

from __future__ import annotations

import io

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw, ImageFont

from audioroutine import lang
from audioroutine.lang.fonts import font_path
from audioroutine.output.cover import generate_cover
from audioroutine.prescribe.handout import Handout, HandoutExercise, pdf_bytes

SPECIAL = "é è ç à ñ ü ö ä ß œ « » ¿ ¡ … — ’ „ “ ”".split()


def needed(language: lang.Language) -> set[str]:
    """Every character beyond ASCII the language's letters and tables use."""
    text = language.letters + "".join(language.phrases.values()) + "".join(language.labels.values())
    return {c for c in text if ord(c) > 127 and not c.isspace()}


def drawn(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    image = Image.new("L", (80, 80), 0)
    ImageDraw.Draw(image).text((10, 5), char, font=font, fill=255)
    return image


@pytest.mark.parametrize("weight", ["regular", "bold"])
@pytest.mark.parametrize("code", lang.shipped())
def test_the_font_has_every_letter_of_every_shipped_language(code: str, weight: str) -> None:
    path = font_path(weight)
    assert "site-packages" in str(path) or "font_source_sans_pro" in str(path)   # from PyPI, not the system
    cmap = TTFont(path).getBestCmap()
    letters = needed(lang.languages()[code]) | set(SPECIAL)
    assert sorted(c for c in letters if ord(c) not in cmap) == []
    font = ImageFont.truetype(str(path), 48)
    notdef = drawn(font, "\uffff")          # not in the font: drawn as .notdef
    assert notdef.getbbox() is not None      # the control: a missing glyph draws a visible box
    for char in sorted(letters):
        image = drawn(font, char)
        assert image.getbbox() is not None, char
        assert ImageChops.difference(image, notdef).getbbox() is not None, f"{char!r} draws as .notdef"


def test_a_cover_with_every_special_letter_is_drawn_in_the_shipped_font() -> None:
    title = " ".join(SPECIAL)
    data = generate_cover(f"Oberer Rücken {title}", "Semaine 3", 1, "Fisioterapia del Río")
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (1400, 1400)
        assert len(image.convert("RGB").getcolors(1 << 24) or ()) > 4   # drawn letters, anti-aliased


def test_a_handout_prints_every_special_letter() -> None:
    pypdf = pytest.importorskip("pypdf")
    letters = "".join(sorted(set().union(*(needed(language) for language in lang.languages().values()))))
    handout = Handout(f"Título {letters}", "Séance", (HandoutExercise("Übung ß œ", "¿Repetición? ¡Sí!", (("Reps", "3"),),
                                                                    ("Posición «inicial»",), (), None),),
                      ("Vorsicht …",), 60.0, language="fr")
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf_bytes(handout))).pages)
    for char in letters:
        assert char in text, char
