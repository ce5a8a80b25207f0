"""The language layer: every word a patient hears, reads or has read to them comes from here.

One module per language (`en.py`, `es.py`, ...) defines `LANGUAGE`, a `Language` with two
tables: `phrases`, the words spoken and written into a session (cues, chapter and level
names, tags; a script may replace any of them under `phrases:`), and `labels`, the words of
the pages, handouts and feeds made from a session. A module found in this package is a
shipped language: adding one is one file (plus its tests). This is the lowest layer: it
imports nothing else from audioroutine.

Coaching that varies (issue 23): `wordings` gives the cues a session says over and over
(`VARIED`: rep, hold, release, rest) several wordings each, the first being the phrase
itself; the compiler chooses among them (compile/wording.py). `encouragements` are the
short lines a script can have said inside long holds (`encourage: true`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # Every wording of a VARIED phrase, the phrase itself first; `rep` and `rep_side` in step.
    wordings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    encouragements: tuple[str, ...] = ()      # said inside long holds when a script asks (`encourage: true`)

    def wordings_of(self, key: str) -> tuple[str, ...]:
        """The wordings of phrase `key`: its own first, then the table's alternatives."""
        return self.wordings.get(key) or (self.phrases[key],)

    def label(self, key: str, **values: object) -> str:
        """A label filled in; a phrase of the same key too (chapters, level names)."""
        return (self.labels[key] if key in self.labels else self.phrases[key]).format(**values)


# The phrases said again and again in a session, which have several wordings in each table.
# `rep_side` takes turns with `rep` (one choice for both counts); `last_rep` is said once a set.
VARIED: tuple[str, ...] = ("rep", "rep_side", "hold", "release", "rest")


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


def voice_language(engine: str, voice: str | None) -> str | None:
    """The language a voice speaks, as far as its name tells: an espeak code ("fr", "en-us"),
    gTTS's LANG[:TLD] ("es:com.mx"), a Piper file ("de_DE-thorsten-medium.onnx"). None when
    no voice is named (each engine's default follows the routine's language, or refuses it)
    or the name does not tell."""
    if voice is None:
        return None
    name = voice.replace("\\", "/").rsplit("/", 1)[-1]
    if engine == "piper":
        head = name.split("-", 1)[0]
        return base_language(head) if "_" in head and head.split("_")[0].isalpha() else None
    if engine == "gtts":
        name = name.split(":", 1)[0]
    if engine in ("espeak", "gtts"):
        code = base_language(name)
        return code if code.isalpha() and 2 <= len(code) <= 3 else None
    return None


def mismatch(language: str, voice: str | None) -> str | None:
    """Why a session in `language` spoken by a voice of `voice`'s language is refused, or None."""
    if voice is None or base_language(voice) == base_language(language):
        return None
    return f"the voice speaks {name(voice)} but the routine's words are {name(language)}"


def name(code: str) -> str:
    """A language's name in English, for error messages: 'es' → 'Spanish'."""
    names = {"en": "English", "es": "Spanish", "de": "German", "fr": "French", "it": "Italian", "pt": "Portuguese",
             "nl": "Dutch"}
    return names.get(base_language(code), f"'{code}'")
