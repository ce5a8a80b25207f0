"""Every word a patient meets is in the patient's language: for each shipped language, a
session, a programme and a prescription (with its handout) are built and the folder is
published; every text a patient hears, reads or has read to them is extracted from the files
themselves (spoken text in the .vtt/.lrc and the ID3 lyrics, tags, chapters, the M3U8, page
text and aria-labels, the handout PDF and HTML, the feed) and no word may belong to another
shipped language's table without belonging to this one's.

Addresses and file names are left out: they are made of the ids a clinic chooses (and a
programme's `week-3`), not words to read.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioroutine import lang
from audioroutine.cli import cli

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
URL = re.compile(r"https?://\S+")


def words(text: str) -> set[str]:
    return {w.casefold() for w in WORD.findall(URL.sub(" ", text))}


def vocabulary(language: lang.Language) -> set[str]:
    """Every word of a language's tables (placeholders removed)."""
    texts = [*language.phrases.values(), *language.labels.values(), *language.encouragements,
             *(wording for wordings in language.wordings.values() for wording in wordings)]
    return set().union(*(words(re.sub(r"\{[^}]*\}", " ", text)) for text in texts))


def foreign_words(text: str, code: str) -> set[str]:
    """Words of `text` found in another shipped language's tables and not in `code`'s."""
    own = vocabulary(lang.languages()[code])
    others = set().union(*(vocabulary(other) for c, other in lang.languages().items() if c != code))
    return words(text) & (others - own)


class _Text(HTMLParser):
    """The text of a page as a patient or a screen reader meets it: the text, and the
    aria-label, alt, title and label attributes; the `lang` of <html>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.lang: str | None = None
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag in ("script", "style"):
            self.skip += 1
        self.parts += [v for k, v in attrs if k in ("aria-label", "alt", "title", "label") and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def page_text(path: Path) -> tuple[str, str | None]:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(parser.parts), parser.lang


FEED_TEXTS = {"title", "description", "summary", "subtitle", "author", "name", "copyright"}


def feed_text(path: Path) -> str:
    """What a podcast app shows of a feed: titles, descriptions, author, owner, copyright
    (not the codes: language, dates, explicit, type)."""
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    return " ".join(el.text or "" for el in root.iter() if isinstance(el.tag, str)
                    and etree.QName(el).localname in FEED_TEXTS)


# The routine's own words, written in each language (a clinic writes them).
CONTENT = {
    "en": {"title": "Knee care", "name": "Knee press", "setup": "Sit on a chair with your leg long.",
           "safety": "Stop if it hurts.", "hold": "Press down.", "frequency": "twice a day"},
    "es": {"title": "Cuidado de la rodilla", "name": "Presión de rodilla", "setup": "Siéntate en una silla.",
           "safety": "Para si te duele.", "hold": "Presiona.", "frequency": "dos veces al día"},
    "de": {"title": "Kniepflege", "name": "Knie drücken", "setup": "Setz dich auf einen Stuhl.",
           "safety": "Hör auf, wenn es weh tut.", "hold": "Drück nach unten.", "frequency": "zweimal täglich"},
    "fr": {"title": "Soin du genou", "name": "Pression du genou", "setup": "Asseyez-vous sur une chaise.",
           "safety": "Arrêtez en cas de douleur.", "hold": "Appuyez.", "frequency": "deux fois par jour"},
}

SCRIPT = """id: knee_{code}
title: {title}
language: {code}
voice: {{engine: fake}}
safety: {safety}
exercises:
  - id: press
    name: {name}
    setup: {setup}
    hold: {hold}
    dosage:
      reps: 2
      sets: 2
      rest: 1s
      set_rest: 2s
      sides: each
      beginner: {{hold: 2s}}
      progressed: {{hold: 4s}}
"""


def test_the_check_catches_english_in_a_spanish_session() -> None:
    """The control: the words issue 20 found would fail it."""
    assert foreign_words("Cuidado de la rodilla. Sesión: Week 2.", "es") == {"week"}
    assert foreign_words("Saltar? Skip to content · Transcript", "es") >= {"skip", "content", "transcript"}
    assert foreign_words("Einheit: Semana 2. Wiederholung eins von zwei.", "de") == {"semana"}
    assert not foreign_words("Répétition un sur deux. Tenez.", "fr")


@pytest.mark.parametrize("code", [code if code == "es" else pytest.param(code, marks=pytest.mark.slow)
                                  for code in lang.shipped()])   # one non-English language in the default suite
def test_every_word_a_patient_meets_is_in_their_language(code: str, tmp_path: Path) -> None:
    content = CONTENT[code]
    script = tmp_path / f"knee_{code}.yaml"
    script.write_text(SCRIPT.format(code=code, **content), encoding="utf-8")
    (tmp_path / "programme.yaml").write_text(
        f"id: knee-{code}-weeks\nscript: {script.name}\nweeks: 2\nfrequency: {content['frequency']}\n", encoding="utf-8")
    (tmp_path / "rx.yaml").write_text(
        f"clinician: M. Martin\ndate: 2026-12-01\nfrequency: {content['frequency']}\n"
        f"patients:\n  - ref: P-0001\n    script: {script.name}\n    level: beginner\n", encoding="utf-8")
    out, site = tmp_path / "out", tmp_path / "site"
    runner = CliRunner(mix_stderr=False)
    for args in (["build", str(script), "--level", "beginner", "--out", str(out / "knee1")],   # folders: the clinic's ids
                 ["programme", str(tmp_path / "programme.yaml"), "--out", str(out / "knee2"),
                  "--base-url", "https://clinic.example/site/knee2/"],
                 ["prescribe", str(tmp_path / "rx.yaml"), "--out", str(out / "rx"),
                  "--base-url", "https://clinic.example/site/rx/"],
                 ["publish", str(out), "--base-url", "https://clinic.example/site/", "--to", str(site)]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args[0], result.stderr)

    texts: dict[str, str] = {}
    mp3s = sorted(out.rglob("*.mp3"))
    assert len(mp3s) == 1 + 2 + 1
    for mp3 in mp3s:
        tags = ID3(mp3)
        frames = [str(frame) for key in ("TIT2", "TALB", "TCON", "TPE1", "TPE2", "COMM::" + tags["TLAN"].text[0])
                  for frame in tags.getall(key.split("::")[0])]
        frames += [str(f.text) for f in tags.getall("USLT")] + [t for f in tags.getall("SYLT") for t, _ in f.text]
        frames += [str(sub) for chap in tags.getall("CHAP") for sub in chap.sub_frames.values()]
        frames += [str(sub) for toc in tags.getall("CTOC") for sub in toc.sub_frames.values()]
        assert tags["TLAN"].text == [lang.languages()[code].iso639_2]
        texts[f"{mp3.name} tags"] = " ".join(frames)
        texts[f"{mp3.name} .vtt"] = re.sub(r"[\d:.]+ --> [\d:.]+", " ", mp3.with_suffix(".vtt").read_text("utf-8"))
        texts[f"{mp3.name} .lrc"] = re.sub(r"\[[^\]]*\]", " ", mp3.with_suffix(".lrc").read_text("utf-8"))
    for playlist in out.rglob("*.m3u8"):
        texts[playlist.name] = " ".join(line for line in playlist.read_text("utf-8").splitlines() if line.startswith("#"))
    pypdf = pytest.importorskip("pypdf")
    handouts = sorted(out.rglob("*.pdf"))
    assert len(handouts) == 3          # two programme weeks, one prescription
    for pdf in handouts:
        texts[pdf.name] = " ".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)
        text, page_lang = page_text(pdf.with_suffix(".html"))
        texts[f"{pdf.stem} handout.html"] = text
        assert page_lang == code
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 4 + 4          # player pages; top, session, programme, rx and P-0001 indexes
    for page in pages:
        text, page_lang = page_text(page)
        texts[str(page.relative_to(site))] = text
        assert page_lang == code, page
    for feed in site.rglob("feed.xml"):
        texts[str(feed.relative_to(site))] = feed_text(feed)

    found = {where: sorted(foreign_words(text, code)) for where, text in texts.items()}
    assert {where: bad for where, bad in found.items() if bad} == {}
    # and the check saw the language's own words, so it read what it should
    everything = " ".join(texts.values())
    own = lang.languages()[code]
    for key in ("rep_side", "chapter_intro", "level_week"):
        sample = re.sub(r"\{[^}]*\}", "", own.phrases[key]).split()[0].strip(".,:")
        assert sample.casefold() in everything.casefold(), (key, sample)
    for key in ("skip", "transcript", "tick", "clinician"):
        assert own.labels[key] in everything, key
    assert content["frequency"] in texts[next(k for k in texts if k.endswith(".pdf"))]
