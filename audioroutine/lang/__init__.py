"""The language layer: every word a patient hears, reads or has read to them comes from here.

One module per language (`en.py`, `es.py`, ...) defines `LANGUAGE`, a `Language` with two
tables: `phrases`, the words spoken and written into a session (cues, chapter and level
names, tags; a script may replace any of them under `phrases:`), and `labels`, the words of
the pages, handouts and feeds made from a session. A module found in this package is a
shipped language: adding one is one file (plus its tests). This is the lowest layer: it
imports nothing else from audioroutine.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from string import Formatter


@dataclass(frozen=True)
class Language:
    code: str                     # ISO 639-1, as scripts write it: "fr"
    iso639_2: str                 # ID3 TLAN and COMM/USLT language: "fra"
    name: str                     # in the language itself: "Français"
    voice: str                    # the espeak-ng voice
    digits: bool                  # counts spoken as digits (English), else in words (num2words)
    letters: str                  # the letters beyond ASCII its texts need (the font must have them)
    phrases: Mapping[str, str]
    labels: Mapping[str, str]

    def label(self, key: str, **values: object) -> str:
        return self.labels[key].format(**values)


def base_language(code: str) -> str:
    """'es-MX' → 'es'."""
    return code.replace("_", "-").split("-")[0].lower()


@cache
def languages() -> dict[str, Language]:
    """Every shipped language by code: each module of this package with a `LANGUAGE`."""
    found: dict[str, Language] = {}
    for module in pkgutil.iter_modules(__path__):
        language = getattr(importlib.import_module(f"{__name__}.{module.name}"), "LANGUAGE", None)
        if isinstance(language, Language):
            found[language.code] = language
    return dict(sorted(found.items()))


def shipped() -> list[str]:
    return list(languages())


def get(code: str) -> Language | None:
    """The shipped language for `code` ('es-MX' → Spanish), or None."""
    return languages().get(base_language(code))


def english() -> Language:
    return languages()["en"]


def labels_for(code: str) -> Language:
    """The language whose labels a page or handout in `code` uses: its own, or, for a
    language shipped without a table (a script gave every phrase), English."""
    return get(code) or english()


# Languages a script may speak by giving every phrase itself, for the ID3 language tag.
OTHER_ISO639_2 = {"it": "ita", "pt": "por", "nl": "nld", "pl": "pol", "sv": "swe", "da": "dan", "nb": "nob",
                  "fi": "fin", "ca": "cat", "cs": "ces", "tr": "tur", "el": "ell"}


def iso639_2(code: str) -> str:
    """'es' → 'spa' (ID3's language codes); 'und' for a language it does not know."""
    language = get(code)
    return language.iso639_2 if language else OTHER_ISO639_2.get(base_language(code), "und")


def from_iso639_2(code: str) -> str | None:
    """'spa' → 'es'; None for a code it does not know."""
    codes = {**OTHER_ISO639_2, **{lang.code: lang.iso639_2 for lang in languages().values()}}
    return next((two for two, three in codes.items() if three == code), None)


def placeholders(template: str) -> set[str]:
    """The `{names}` a template uses; ValueError for unbalanced braces."""
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}
