"""Per-language coaching phrases: complete tables, numbers in words, and no English mixed in."""

from __future__ import annotations

import re
import string

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioroutine import lang
from audioroutine.cli import cli
from audioroutine.compile.compiler import compile_level
from audioroutine.compile.timeline import Say, Window
from audioroutine.model.phrases import ENGLISH, PHRASE_KEYS, PHRASES, Phrases
from audioroutine.model.script import load_script
from audioroutine.model.settings import load_settings
from audioroutine.output.tags import read_tags
from audioroutine.run.pipeline import BuildOptions, build, plan


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
        ("it", "language: no coaching phrases for language 'it'"),
        ("it\nphrases: {rest: Riposo.}", "phrases.session_intro: no 'session_intro' phrase for language 'it'"),
    ],
    ids=["no-table", "missing-phrase"],
)
def test_missing_phrases_are_a_validation_error(write_script, language: str, where_and_what: str) -> None:
    path = write_script(SPANISH_MINI.replace("language: es", f"language: {language}"))
    result = CliRunner(mix_stderr=False).invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"error: {path}: {where_and_what} "
                             "(languages with phrases: de, en, es, fr; or give every phrase under 'phrases:')\n")


def test_a_language_without_a_table_works_when_the_script_gives_every_phrase(write_script) -> None:
    italian = {key: f"it-{key}" + (" {" + "} {".join(sorted(fields(t))) + "}" if fields(t) else "")
              for key, t in ENGLISH.items()}
    block = "\n".join(f"  {key}: \"{value}\"" for key, value in italian.items())
    path = write_script(SPANISH_MINI.replace("language: es", f"language: it\nphrases:\n{block}"))
    texts = spoken(compile_level(load_script(path), "basico"))
    assert "it-rep uno due Mantén." in texts          # the script's words, numbers by num2words in Italian
    assert "it-session_end" in texts


# --- every word the tool adds is in the routine's language -------------------------------

ROUTINE = """
id: {id}
title: {title}
language: {language}
author: {author}
voice: {{engine: fake}}
exercises:
  - name: {first}
    dosage: {{reps: 2, hold: 4s, rest: 2s, sides: {sides}, countdown: 2}}
  - name: {second}
    dosage: {{reps: 1, breath: {{in: 4s, out: 4s}}, sets: 2, set_rest: 5s}}
"""

# script, clinic settings, and the contact line as the engine must receive it
ROUTINES = {
    "es": (ROUTINE.format(id="cobra_mini", title="Espalda", language="es", author="Clínica Sol", first="Cobra",
                          sides="alternating", second="Gato"),
           'contact = "Llame al 555 0142, de 9:30 a 14:00."\nintro = "Hola."\n',
           "Llame al cinco cinco cinco, cero uno cuatro dos, de nueve y treinta a catorce en punto."),
    "de": (ROUTINE.format(id="ruecken", title="Rücken", language="de", author="Praxis Sonne", first="Kobra",
                          sides="each", second="Katze"),
           'contact = "Rufen Sie 030 1234 5678 an."\noutro = "Tschüss."\n',
           "Rufen Sie null drei null, eins zwei drei vier, fünf sechs sieben acht an."),
}


def words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[^\W\d_]+", text)}


def table_words(table: dict[str, str]) -> set[str]:
    return words(" ".join(re.sub(r"\{\w+\}", " ", value) for value in table.values()))


def language_words(code: str) -> set[str]:
    """Every word a language's tables can say: its phrases, every wording of the varied
    ones and its encouragements."""
    language = lang.languages()[code]
    spoken = [*language.phrases.values(), *(w for ws in language.wordings.values() for w in ws),
              *language.encouragements]
    return words(" ".join(re.sub(r"\{\w+\}", " ", text) for text in spoken))


def everything_written(tmp_path, result) -> str:
    """Every text a build puts in front of a listener or reader: speech, chapter titles and
    subtitles, text tags, lyrics, and the .vtt/.lrc sidecars (format keywords removed)."""
    out = []
    for session in result.sessions:
        tags = read_tags(session.path)
        out += [str(tags[k]) for k in ("title", "artist", "album_artist", "album", "genre", "comment", "lyrics") if tags[k]]
        out += [f"{c['title']} {c['subtitle'] or ''}" for c in tags["chapters"]]
        toc = ID3(str(session.path)).getall("CTOC")[0]
        out.append(str(toc.sub_frames["TIT2"].text[0]))
        vtt = session.path.with_suffix(".vtt").read_text(encoding="utf-8")
        out += [line for line in vtt.splitlines()[1:] if "-->" not in line]
        lrc = session.path.with_suffix(".lrc").read_text(encoding="utf-8")
        out += [re.sub(r"^\[(?:ti|ar|al|length|[\d:.]+):?", "", line).rstrip("]") for line in lrc.splitlines()]
    return "\n".join(out)


@pytest.mark.parametrize("language", ["es", "de"])
def test_no_english_word_anywhere_in_a_non_english_build(write_script, tmp_path, language) -> None:
    script_text, settings_text, contact = ROUTINES[language]
    script = write_script(script_text)
    (tmp_path / "audioroutine.toml").write_text(settings_text, encoding="utf-8")
    routine = load_script(script)
    options = BuildOptions(out_dir=tmp_path / "out", settings=load_settings(tmp_path / "audioroutine.toml"))
    result = build(routine, options)
    timeline = plan(routine, "beginner", options)
    speech = [e.text for e in timeline.events if e.kind == "speech"]
    assert contact in speech                               # the phone number digit by digit, in words
    assert not re.search(r"\d", " ".join(speech))          # no digit reaches the engine at all
    written = everything_written(tmp_path, result) + "\n" + "\n".join(speech)
    given = words(script_text + settings_text)             # the script's and the clinic's own words
    added = words(written) - given
    english_only = language_words("en") - language_words(language)
    assert not added & english_only, sorted(added & english_only)
    numbers = words(" ".join(Phrases(language).words(n) for n in range(61)))
    assert added <= language_words(language) | numbers, sorted(added - language_words(language) - numbers)
    # the words that used to be English, now from the table
    beginner = PHRASES[language]["level_beginner"]
    assert read_tags(result.sessions[0].path)["title"] == f"{routine.title} — {beginner}"
    assert [c["title"] for c in read_tags(result.sessions[0].path)["chapters"]][::3] == [
        PHRASES[language]["chapter_intro"], PHRASES[language]["chapter_closing"]]
    assert speech[0] == Phrases(language)("session_intro", title=routine.title, level=beginner)


def test_a_level_title_the_script_gives_is_kept_in_every_language(write_script) -> None:
    path = write_script(SPANISH_MINI.replace("levels: [basico]", "levels: {beginner: {title: Suave}, progressed: {}}"))
    routine = load_script(path)
    assert spoken(compile_level(routine, "beginner"))[0] == "Mini. Sesión: Suave."
    assert spoken(compile_level(routine, "progressed"))[0] == "Mini. Sesión: Avanzado."
    assert spoken(compile_level(routine, "PROGRESSED"))[0] == "Mini. Sesión: Avanzado."   # any letter case
