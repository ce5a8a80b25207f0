"""Per-language coaching phrases: complete tables, numbers in words, and no English mixed in."""

from __future__ import annotations

import string

import pytest
from click.testing import CliRunner

from audioroutine.cli import cli
from audioroutine.compiler import compile_level
from audioroutine.phrases import ENGLISH, PHRASE_KEYS, PHRASES, Phrases
from audioroutine.script import load_script
from audioroutine.timeline import Say, Window


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("language", sorted(PHRASES))
def test_every_table_has_every_phrase_with_the_same_placeholders(language: str) -> None:
    table = PHRASES[language]
    assert tuple(table) == PHRASE_KEYS
    for key, template in table.items():
        assert fields(template) == fields(ENGLISH[key]), key


def test_counts_are_words_except_in_english() -> None:
    assert Phrases("en")("rep", n=1, total=10) == "Rep 1 of 10."
    assert Phrases("es")("rep", n=1, total=10) == "Repetición uno de diez."
    assert Phrases("es-MX")("rep_side", n=2, total=12, side=Phrases("es")("left")) == \
        "Repetición dos de doce, lado izquierdo."
    assert Phrases("de")("set", n=2, total=3) == "Satz zwei von drei."
    assert Phrases("de").seconds(15000) == "fünfzehn Sekunden"
    assert Phrases("de").seconds(1000) == "eine Sekunde"
    assert Phrases("es").seconds(1500) == "uno punto cinco segundos"
    assert Phrases("en").seconds(1500) == "1.5 seconds"


SPANISH_MINI = """
id: mini_es
title: Mini
language: es
voice: {engine: fake}
levels: [basico]
exercises:
  - name: Prensa
    hold: Mantén.
    dosage:
      reps: 2
      sets: 2
      hold: 4s
      rest: 2s
      countdown: 2
      sides: each
"""


def spoken(program) -> list[str]:
    out = []
    for chapter in program.chapters:
        for step in chapter.steps:
            if isinstance(step, Say):
                out.append(step.text)
            elif isinstance(step, Window):
                out += [cue.text for cue in step.cues] + [cue.text for _, cue in step.timed]
    return out


def test_a_spanish_routine_says_nothing_in_english(write_script) -> None:
    texts = spoken(compile_level(load_script(write_script(SPANISH_MINI)), "basico"))
    assert texts[:2] == ["Mini. Sesión: Basico.", "Ejercicio uno de uno: Prensa."]
    assert "Dos repeticiones, en dos series, manteniendo cada una cuatro segundos, por cada lado." in texts
    assert "Empieza por el lado derecho." in texts and "Ahora el lado izquierdo." in texts
    assert "Serie uno de dos. Prepárate." in texts
    assert "Repetición uno de dos. Mantén." in texts
    assert texts.count("dos") == 8 and texts.count("uno") == 8     # countdowns in words
    english = {value for value in ENGLISH.values() if "{" not in value}
    assert not english & set(texts)


@pytest.mark.parametrize(
    ("language", "where_and_what"),
    [
        ("fr", "language: no coaching phrases for language 'fr'"),
        ("fr\nphrases: {rest: Repos.}", "phrases.session_intro: no 'session_intro' phrase for language 'fr'"),
    ],
    ids=["no-table", "missing-phrase"],
)
def test_missing_phrases_are_a_validation_error(write_script, language: str, where_and_what: str) -> None:
    path = write_script(SPANISH_MINI.replace("language: es", f"language: {language}"))
    result = CliRunner(mix_stderr=False).invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: {where_and_what} "
                             "(languages with phrases: de, en, es; or give every phrase under 'phrases:')\n")


def test_a_language_without_a_table_works_when_the_script_gives_every_phrase(write_script) -> None:
    french = {key: f"fr-{key}" + (" {" + "} {".join(sorted(fields(t))) + "}" if fields(t) else "")
              for key, t in ENGLISH.items()}
    block = "\n".join(f"  {key}: \"{value}\"" for key, value in french.items())
    path = write_script(SPANISH_MINI.replace("language: es", f"language: fr\nphrases:\n{block}"))
    texts = spoken(compile_level(load_script(path), "basico"))
    assert "fr-rep un deux Mantén." in texts          # the script's words, numbers by num2words in French
    assert "fr-session_end" in texts
