"""The words the compiler adds around a script's own cues, per language.

A script can replace any of them under `phrases:`; a clinic keeps its own wording that way,
and can speak a language without a table here by giving every phrase. Numbers in the
phrases are spelled out with num2words for every language but English (Piper and espeak
read English digits well, and English cache keys stay as they were).
"""

from __future__ import annotations

from string import Formatter

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
    "dose_single_hold": "one hold of {time}",
    "dose_reps_total": "{n} reps in total",
    "dose_reps_per_side": "{n} reps on each side",
    "dose_rep_time": "{time} each",
    "dose_intervals": "{n} intervals",
    "dose_work": "{work} of work and {rest} of rest each",
    "dose_work_only": "{work} of work each",
    "hold_for": "Hold for {time}.",
    "interval": "Interval {n} of {total}. Go.",
    "last_interval": "Last interval. Go.",
    "side_rest": "Rest before the {side} side.",
    "halfway": "Halfway.",
    "begin": "Begin.",
    "circuit_intro": "{name}: {n} rounds.",
    "round": "Round {n} of {total}: {name}.",
    "round_rest": "Rest now. Round {n} of {total} is next.",
    "round_chapter": "{name}, round {n}",
    "seconds": "{n} seconds",
    "one_second": "one second",
    # Words written into chapters, tags and sidecars; the rest speak numbers in clinic text.
    "chapter_intro": "Introduction",
    "chapter_closing": "Closing",
    "chapters": "Chapters",
    "level_beginner": "Beginner",
    "level_progressed": "Progressed",
    "programme": "Exercise programme",
    "genre": "Fitness",
    "plus": "plus",
    "clock": "{hour} {minute}",
    "clock_hour": "{hour} o'clock",
    "clock_early": "{hour} oh {minute}",
}

SPANISH: dict[str, str] = {
    "session_intro": "{title}. Sesión: {level}.",
    "safety_intro": "Antes de empezar, unas palabras sobre seguridad.",
    "exercise_intro": "Ejercicio {n} de {total}: {name}.",
    "dose_reps": "{n} repeticiones",
    "dose_one_rep": "una repetición",
    "dose_sets": "en {n} series",
    "dose_hold": "manteniendo cada una {time}",
    "dose_breath": "inspirando durante {inhale} y espirando durante {exhale}",
    "dose_each_side": "por cada lado",
    "dose_alternating": "alternando los lados",
    "get_ready": "Prepárate.",
    "rep": "Repetición {n} de {total}.",
    "rep_side": "Repetición {n} de {total}, lado {side}.",
    "last_rep": "La última.",
    "last_rep_side": "La última, lado {side}.",
    "hold": "Mantén.",
    "release": "Y relaja.",
    "rest": "Descansa.",
    "set": "Serie {n} de {total}.",
    "set_rest": "Descansa ahora. Sigue la serie {n} de {total}.",
    "side_first": "Empieza por el lado {side}.",
    "side_switch": "Ahora el lado {side}.",
    "left": "izquierdo",
    "right": "derecho",
    "inhale": "Inspira.",
    "exhale": "Espira.",
    "exercise_done": "Buen trabajo.",
    "session_end": "Aquí termina la sesión. Muy bien.",
    "dose_single_hold": "una sola vez, manteniendo {time}",
    "dose_reps_total": "{n} repeticiones en total",
    "dose_reps_per_side": "{n} repeticiones por cada lado",
    "dose_rep_time": "de {time} cada una",
    "dose_intervals": "{n} intervalos",
    "dose_work": "{work} de trabajo y {rest} de descanso cada uno",
    "dose_work_only": "{work} de trabajo cada uno",
    "hold_for": "Mantén durante {time}.",
    "interval": "Intervalo {n} de {total}. Vamos.",
    "last_interval": "Último intervalo. Vamos.",
    "side_rest": "Descansa antes del lado {side}.",
    "halfway": "Vas por la mitad.",
    "begin": "Empieza.",
    "circuit_intro": "{name}: {n} rondas.",
    "round": "Ronda {n} de {total}: {name}.",
    "round_rest": "Descansa ahora. Sigue la ronda {n} de {total}.",
    "round_chapter": "{name}, ronda {n}",
    "seconds": "{n} segundos",
    "one_second": "un segundo",
    "chapter_intro": "Introducción",
    "chapter_closing": "Cierre",
    "chapters": "Capítulos",
    "level_beginner": "Principiante",
    "level_progressed": "Avanzado",
    "programme": "Programa de ejercicios",
    "genre": "Fitness",
    "plus": "más",
    "clock": "{hour} y {minute}",
    "clock_hour": "{hour} en punto",
    "clock_early": "{hour} y {minute}",
}

# Sides are adverbs ("rechts", "links") so that no template has to inflect them.
GERMAN: dict[str, str] = {
    "session_intro": "{title}. Einheit: {level}.",
    "safety_intro": "Bevor wir beginnen, ein Wort zur Sicherheit.",
    "exercise_intro": "Übung {n} von {total}: {name}.",
    "dose_reps": "{n} Wiederholungen",
    "dose_one_rep": "eine Wiederholung",
    "dose_sets": "in {n} Sätzen",
    "dose_hold": "jede {time} halten",
    "dose_breath": "{inhale} einatmen und {exhale} ausatmen",
    "dose_each_side": "auf jeder Seite",
    "dose_alternating": "abwechselnd rechts und links",
    "get_ready": "Mach dich bereit.",
    "rep": "Wiederholung {n} von {total}.",
    "rep_side": "Wiederholung {n} von {total}, {side}.",
    "last_rep": "Die letzte.",
    "last_rep_side": "Die letzte, {side}.",
    "hold": "Halten.",
    "release": "Und entspannen.",
    "rest": "Pause.",
    "set": "Satz {n} von {total}.",
    "set_rest": "Jetzt Pause. Als Nächstes Satz {n} von {total}.",
    "side_first": "Zuerst {side}.",
    "side_switch": "Jetzt {side}.",
    "left": "links",
    "right": "rechts",
    "inhale": "Einatmen.",
    "exhale": "Ausatmen.",
    "exercise_done": "Gut gemacht.",
    "session_end": "Das ist das Ende der Einheit. Gut gemacht.",
    "dose_single_hold": "einmal {time} halten",
    "dose_reps_total": "{n} Wiederholungen insgesamt",
    "dose_reps_per_side": "{n} Wiederholungen pro Seite",
    "dose_rep_time": "je {time}",
    "dose_intervals": "{n} Intervalle",
    "dose_work": "je {work} Belastung und {rest} Pause",
    "dose_work_only": "je {work} Belastung",
    "hold_for": "{time} halten.",
    "interval": "Intervall {n} von {total}. Los.",
    "last_interval": "Letztes Intervall. Los.",
    "side_rest": "Pause, dann {side}.",
    "halfway": "Halbzeit.",
    "begin": "Los.",
    "circuit_intro": "{name}: {n} Runden.",
    "round": "Runde {n} von {total}: {name}.",
    "round_rest": "Jetzt Pause. Als Nächstes Runde {n} von {total}.",
    "round_chapter": "{name}, Runde {n}",
    "seconds": "{n} Sekunden",
    "one_second": "eine Sekunde",
    "chapter_intro": "Einleitung",
    "chapter_closing": "Abschluss",
    "chapters": "Kapitel",
    "level_beginner": "Anfänger",
    "level_progressed": "Fortgeschritten",
    "programme": "Übungsprogramm",
    "genre": "Fitness",
    "plus": "plus",
    "clock": "{hour} Uhr {minute}",
    "clock_hour": "{hour} Uhr",
    "clock_early": "{hour} Uhr {minute}",
}

PHRASES: dict[str, dict[str, str]] = {"en": ENGLISH, "es": SPANISH, "de": GERMAN}
PHRASE_KEYS: tuple[str, ...] = tuple(ENGLISH)


class PhraseError(Exception):
    """A language lacks a phrase; `key` names it (None: the language has no table at all)."""

    def __init__(self, message: str, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.key, self.hint = message, key, hint


def base_language(language: str) -> str:
    """'es-MX' → 'es'."""
    return language.replace("_", "-").split("-")[0].lower()


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

    def __call__(self, key: str, **values: object) -> str:
        return self.table[key].format(**{k: self.number(v) for k, v in values.items()})

    def number(self, value: object) -> str:
        """A count as this language says it: digits in English, words elsewhere."""
        if self.language == "en" or isinstance(value, bool) or not isinstance(value, (int, float)):
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


def placeholders(template: str) -> set[str]:
    """The `{names}` a template uses; ValueError for unbalanced braces."""
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


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
