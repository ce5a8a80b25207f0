"""Filling in the words the compiler adds around a script's own cues (the tables are in
`audioroutine.lang`, one module per language).

A script can replace any of them under `phrases:`; a clinic keeps its own wording that way,
and can speak a language without a table here by giving every phrase. Numbers in the
phrases are spelled out with num2words for every language but English (Piper and espeak
read English digits well, and English cache keys stay as they were).
"""

from __future__ import annotations

from .. import lang
from ..lang import VARIED, base_language, placeholders

ENGLISH: dict[str, str] = dict(lang.english().phrases)
PHRASES: dict[str, dict[str, str]] = {code: dict(language.phrases) for code, language in lang.languages().items()}
PHRASE_KEYS: tuple[str, ...] = tuple(ENGLISH)


class PhraseError(Exception):
    """A language lacks a phrase; `key` names it (None: the language has no table at all)."""

    def __init__(self, message: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.key, self.hint = message, key, hint


class Phrases:
    """Fills phrase templates for one language, with a script's overrides on top.
    Every phrase must exist in that language: English is never mixed in."""

    def __init__(self, language: str = "en", overrides: dict[str, str] | None = None) -> None:
        self.language = base_language(language)
        base = PHRASES.get(self.language)
        hint = f"languages with phrases: {', '.join(supported_languages())}; or give every phrase under 'phrases:'"
        if base is None and not overrides:
            raise PhraseError(f"no coaching phrases for language '{language}'", hint=hint)
        self.table = {**(base or {}), **(overrides or {})}
        for key in PHRASE_KEYS:
            if key not in self.table:
                raise PhraseError(f"no '{key}' phrase for language '{language}'", key=f"phrases.{key}", hint=hint)
        # The wordings the compiler varies among (compile/wording.py): the table's, unless the
        # script gives its own wording of that phrase, which is then the only one.
        table = lang.get(self.language)
        self.wordings: dict[str, tuple[str, ...]] = {
            key: (self.table[key],) if key in (overrides or {}) or table is None else table.wordings_of(key)
            for key in VARIED
        }
        self.encouragements: tuple[str, ...] = table.encouragements if table else ()

    def __call__(self, key: str, **values: object) -> str:
        return self.fill(self.table[key], **values)

    def fill(self, template: str, **values: object) -> str:
        """`template` (one of a phrase's wordings) filled in as `__call__` fills a phrase."""
        return template.format(**{k: self.number(v) for k, v in values.items()})

    def number(self, value: object) -> str:
        """A count as this language says it: digits in English, words elsewhere."""
        language = lang.get(self.language)
        if (language is not None and language.digits) or isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return self.words(value)

    def words(self, value: float) -> str:
        """A number in words in every language, English included (clock times)."""
        from num2words import num2words  # imported when first needed: it loads every language (~40 ms)

        try:
            return str(num2words(value, lang=self.language))
        except NotImplementedError:   # a language num2words does not know: digits
            return str(value)

    def seconds(self, ms: int) -> str:
        if ms == 1000:
            return self("one_second")
        n = ms // 1000 if ms % 1000 == 0 else round(ms / 1000, 1)
        return self("seconds", n=n)


def check_template(key: str, text: str) -> str | None:
    """Why a script's wording for phrase `key` cannot be filled in, or None if it can."""
    known = placeholders(ENGLISH[key])
    try:
        used = placeholders(text)
    except ValueError as err:
        return f"bad braces in phrase: {err} (write {{{{ and }}}} for literal braces)"
    unknown = sorted(used - known)
    if unknown:
        offer = ", ".join(f"{{{name}}}" for name in sorted(known)) or "none"
        return f"unknown placeholder '{{{unknown[0]}}}' (this phrase knows: {offer})"
    return None


def supported_languages() -> list[str]:
    return sorted(PHRASES)
