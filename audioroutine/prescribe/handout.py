"""A printable handout beside each session: PDF (fpdf2) and HTML, in the session's language.

What a physiotherapist hands over: the routine and session, its length, the reference,
clinician, date and how often to do it; each exercise in order with its full dosage (the
sentence the session speaks, and a table: repetitions, sets, hold, rests, sides), setup,
movement and caution lines; a table to tick the sessions done; the safety notes and contact;
and, given a base URL, a QR code (segno) that opens the session's player page. Every label
comes from the language layer (`audioroutine.lang`); body text is 12 pt, left-aligned, in a
font shipped from PyPI (`lang.fonts`), so every shipped language's letters print.
"""

from __future__ import annotations

import hashlib
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import lang
from ..compile.compiler import compile_level, level_title
from ..compile.timeline import Say
from ..core.guard import write_file
from ..lang.fonts import font_path, font_version, package_version
from ..model.durations import format_clock
from ..model.script import Dosage, Routine
from ..model.settings import Settings

if TYPE_CHECKING:
    from fpdf import FPDF

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)   # fixed creation date: the same handout, the same bytes
BODY_PT = 12
TICK_WEEKS = 4                              # rows of the tick table for one level's session


@dataclass(frozen=True)
class HandoutExercise:
    name: str
    dosage: str                               # the sentence the session speaks
    details: tuple[tuple[str, str], ...]      # (label, value): repetitions, sets, hold, rests, sides
    setup: tuple[str, ...]
    movement: tuple[str, ...]
    caution: str | None


@dataclass(frozen=True)
class Handout:
    title: str
    session: str
    exercises: tuple[HandoutExercise, ...]
    safety: tuple[str, ...]
    seconds: float
    clinic: str | None = None
    contact: str | None = None
    reference: str | None = None      # the patient's pseudonym, if any
    url: str | None = None            # the session's player page
    language: str = "en"
    frequency: str | None = None
    clinician: str | None = None
    date: str | None = None           # YYYY-MM-DD
    rows: tuple[str, ...] = ()        # rows of the tick table ("Week 1"... or a programme's week)


def handout_for(routine: Routine, level: str, settings: Settings, seconds: float,
                reference: str | None = None, url: str | None = None, clinician: str | None = None,
                date: str | None = None, weeks: int = TICK_WEEKS) -> Handout:
    """What the handout of one session says, from the compiled session (the spoken dosage).
    `weeks`: rows of the tick table; 1 for a programme's week (the row is named after it)."""
    program = compile_level(routine, level, settings)
    language = lang.labels_for(routine.language)
    dosages = {}
    for chapter in program.chapters:
        for step in chapter.steps:
            if isinstance(step, Say) and step.role == "dosage" and chapter.exercise:
                dosages[chapter.exercise] = step.text
    exercises = []
    for exercise in routine.exercises:
        dose = exercise.dosage[level]
        if dose.skip:
            continue
        cues = exercise.cues_for(level)
        exercises.append(HandoutExercise(cues.name, dosages.get(cues.name, ""), details(dose, language),
                                         cues.setup, cues.movement, cues.caution))
    safety = tuple(filter(None, (*routine.safety, settings.disclaimer)))
    session = level_title(routine, level)
    rows = (session,) if weeks == 1 else tuple(language.label("week_row", n=w) for w in range(1, weeks + 1))
    return Handout(routine.title, session, tuple(exercises), safety, seconds,
                   routine.clinic or settings.clinic, settings.contact, reference, url, language.code,
                   routine.frequency, clinician, date, rows)


def details(dose: Dosage, language: lang.Language) -> tuple[tuple[str, str], ...]:
    """A dosage as a clinician writes it down, one (label, value) per setting that applies."""
    t = language.label

    def s(ms: int) -> str:
        return t("seconds_short", n=f"{ms / 1000:g}")

    rows = [(t("reps"), str(dose.reps))]
    if dose.sets > 1:
        rows.append((t("sets"), str(dose.sets)))
    if dose.hold_ms:
        rows.append((t("hold"), s(dose.hold_ms)))
    if dose.breath:
        rows.append((t("breathing"), t("breath", inhale=s(dose.breath.inhale_ms), exhale=s(dose.breath.exhale_ms))))
    if dose.work_ms or dose.rep_ms:
        rows.append((t("work"), s(dose.work_ms or dose.rep_ms)))
    if dose.rest_ms and (dose.reps > 1 or dose.work_ms):
        rows.append((t("rest"), s(dose.rest_ms)))
    if dose.sets > 1 and dose.set_rest_ms:
        rows.append((t("set_rest"), s(dose.set_rest_ms)))
    if dose.sides != "none":
        rows.append((t("sides"), t("sides_each" if dose.sides == "each" else "sides_alternating")))
    return tuple(rows)


def qr_png(url: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=6, border=4)
    return buf.getvalue()


def _facts(handout: Handout) -> list[tuple[str, str]]:
    t = lang.labels_for(handout.language).label
    facts = [(t("length"), format_clock(int(handout.seconds * 1000)))]
    if handout.frequency:
        facts.append((t("how_often"), handout.frequency))
    if handout.reference:
        facts.append((t("reference"), handout.reference))
    if handout.clinician:
        facts.append((t("clinician"), handout.clinician))
    facts.append((t("date"), handout.date or ""))   # blank: the clinician writes it in
    return facts


def pdf_bytes(handout: Handout) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    t = lang.labels_for(handout.language).label
    pdf = FPDF(format="A4")
    pdf.set_creation_date(EPOCH)
    pdf.set_lang(handout.language)
    pdf.set_title(f"{handout.title} - {handout.session}")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=16)
    pdf.add_font("body", "", str(font_path("regular")))
    pdf.add_font("body", "B", str(font_path("bold")))
    pdf.add_page()
    line = BODY_PT * 0.5          # mm per line: 1.4 × the font size

    def para(value: str, size: float = BODY_PT, bold: bool = False, indent: float = 0, width: float = 0) -> None:
        pdf.set_font("body", "B" if bold else "", size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width or pdf.epw - indent, size * 0.5, value, align="L", new_x="LMARGIN", new_y="NEXT")

    head_width = pdf.epw
    if handout.url:
        side = 42
        x = pdf.w - pdf.r_margin - side
        pdf.image(io.BytesIO(qr_png(handout.url)), x=x, y=pdf.t_margin, w=side, h=side)
        pdf.set_font("body", "", 10)
        pdf.set_xy(x, pdf.t_margin + side)
        pdf.multi_cell(side, 4.5, t("scan_handout"), align="C")
        pdf.set_xy(pdf.l_margin, pdf.t_margin)
        head_width = pdf.epw - side - 6
    para(handout.title, 20, bold=True, width=head_width)
    para(handout.session, 15, bold=True, width=head_width)
    pdf.ln(2)
    for label, value in _facts(handout):
        pdf.set_font("body", "B", BODY_PT)
        pdf.cell(pdf.get_string_width(label + ": ") + 1, line, label + ":")
        pdf.set_font("body", "", BODY_PT)
        pdf.multi_cell(head_width - pdf.get_string_width(label + ": ") - 1, line,
                       value or "_" * 18, align="L", new_x="LMARGIN", new_y="NEXT")
    if handout.clinic:
        para(handout.clinic, width=head_width)
    if handout.url:
        pdf.set_y(max(pdf.get_y(), pdf.t_margin + 52))
        para(f"{t('audio')}: {handout.url}", 10)
    pdf.ln(4)
    grey = FontFace(fill_color=(235, 235, 235))
    for n, exercise in enumerate(handout.exercises, 1):
        if pdf.get_y() > pdf.h - 70:
            pdf.add_page()
        para(f"{n}. {exercise.name}", 15, bold=True)
        if exercise.dosage:
            para(exercise.dosage)
        pdf.ln(1)
        pdf.set_font("body", "", BODY_PT)
        with pdf.table(col_widths=(55, 85), width=140, align="LEFT", first_row_as_headings=False,
                       line_height=line + 1, padding=1, borders_layout="HORIZONTAL_LINES") as table:
            for label, value in exercise.details:
                row = table.row()
                row.cell(label, style=grey)
                row.cell(value)
        pdf.ln(1.5)
        for label, lines in ((t("setup"), exercise.setup), (t("movement"), exercise.movement),
                             (t("caution"), (exercise.caution,) if exercise.caution else ())):
            for text in lines:
                para(f"{label}: {text}", indent=2)
        pdf.ln(4)
    _tick_table(pdf, handout, t)
    if handout.safety:
        para(t("safety"), 15, bold=True)
        for note in handout.safety:
            para(note)
        pdf.ln(3)
    if handout.contact:
        para(t("contact"), 15, bold=True)
        para(handout.contact)
    return bytes(pdf.output())


def _tick_table(pdf: FPDF, handout: Handout, t: Callable[..., str]) -> None:
    days = t("days").split(",")
    if pdf.get_y() > pdf.h - 30 - len(handout.rows) * 10:
        pdf.add_page()
    pdf.set_font("body", "B", 15)
    pdf.multi_cell(pdf.epw, 7.5, t("tick"), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("body", "", BODY_PT)
    with pdf.table(col_widths=(3, *([2] * len(days))), line_height=9, text_align="CENTER",
                   first_row_as_headings=True) as table:
        row = table.row()
        row.cell("")
        for day in days:
            row.cell(day)
        for name in handout.rows:
            row = table.row()
            row.cell(name)
            for _ in days:
                row.cell("")
    pdf.ln(5)


CSS = """body{font-family:system-ui,sans-serif;font-size:1.125rem;line-height:1.5;max-width:42em;margin:0 auto;
padding:1rem;color:#111;background:#fff}
h1{font-size:1.6rem;margin:.2em 0}h2{font-size:1.3rem;margin:1.2em 0 .3em}
.qr{float:right;width:11rem;max-width:40%;margin:0 0 1rem 1rem;text-align:center;font-size:1rem}
.qr svg{width:100%;height:auto}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2em .8em}dl.facts dt{font-weight:bold}
dl.facts dd{margin:0}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #888;padding:.3em .5em;text-align:left}
table.dose th{background:#eee;font-weight:normal}
table.tick td{width:2.2em;height:2.2em}table.tick{width:100%;table-layout:fixed}
table.tick th:first-child{width:6em}
a{color:#0645ad;overflow-wrap:anywhere}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
@media (max-width:30em){.qr{float:none;margin:0 auto 1rem;max-width:60%}}
@media print{a{color:black}body{font-size:12pt}}"""


def html_text(handout: Handout) -> str:
    e = html.escape
    t = lang.labels_for(handout.language).label
    out = ["<!doctype html>", f'<html lang="{e(handout.language)}"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
           f"<title>{e(handout.title)} — {e(handout.session)}</title>", f"<style>{CSS}</style></head><body><main>"]
    if handout.url:
        import segno

        svg = segno.make(handout.url, error="m").svg_inline(scale=4, title=t("scan_handout"))
        out.append(f'<div class="qr">{svg}<p>{e(t("scan_handout"))}</p></div>')
    out.append(f"<h1>{e(handout.title)}</h1>")
    out.append(f"<p><strong>{e(handout.session)}</strong></p>")
    out.append('<dl class="facts">' + "".join(f"<dt>{e(label)}</dt><dd>{e(value) or '&nbsp;'}</dd>"
                                            for label, value in _facts(handout)) + "</dl>")
    if handout.clinic:
        out.append(f"<p>{e(handout.clinic)}</p>")
    if handout.url:
        out.append(f'<p>{e(t("audio"))}: <a href="{e(handout.url)}">{e(handout.url)}</a></p>')
    out.append("<ol>")
    for exercise in handout.exercises:
        out.append(f"<li><h2>{e(exercise.name)}</h2><p><strong>{e(exercise.dosage)}</strong></p>")
        out.append(f'<table class="dose"><caption class="visually-hidden">{e(t("dosage"))}</caption>'
                   + "".join(f'<tr><th scope="row">{e(label)}</th><td>{e(value)}</td></tr>'
                             for label, value in exercise.details) + "</table>")
        out += [f"<p>{e(t('setup'))}: {e(line)}</p>" for line in exercise.setup]
        out += [f"<p>{e(t('movement'))}: {e(line)}</p>" for line in exercise.movement]
        if exercise.caution:
            out.append(f"<p>{e(t('caution'))}: {e(exercise.caution)}</p>")
        out.append("</li>")
    out.append("</ol>")
    days = t("days").split(",")
    out.append(f"<h2>{e(t('tick'))}</h2>")
    out.append('<table class="tick"><tr><td></td>' + "".join(f'<th scope="col">{e(d)}</th>' for d in days) + "</tr>"
               + "".join(f'<tr><th scope="row">{e(name)}</th>' + "<td></td>" * len(days) + "</tr>"
                         for name in handout.rows) + "</table>")
    if handout.safety:
        out.append(f"<h2>{e(t('safety'))}</h2>" + "".join(f"<p>{e(note)}</p>" for note in handout.safety))
    if handout.contact:
        out.append(f"<h2>{e(t('contact'))}</h2><p>{e(handout.contact)}</p>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically, through the folder's guard (core/guard.py), unless the file
    already holds it; True when written."""
    return write_file(path, data, legacy=legacy_handout)


def legacy_handout(path: Path) -> bool:
    """A handout written before the guard's record: its HTML (or, for the PDF, the HTML
    beside it) starts with the `<!-- handout ... -->` mark this module writes."""
    try:
        with open(path.with_suffix(".html"), "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return head.startswith(b"<!doctype html>\n<!-- handout ")


def fingerprint(handout: Handout) -> str:
    """A hash of everything a handout shows and how the PDF is made (font, fpdf2 version),
    found without importing fpdf2 (a no-op rebuild renders no PDF)."""
    return hashlib.sha256(f"{handout!r}|{font_version()}|{package_version('fpdf2')}|{CSS}".encode()).hexdigest()[:16]


def handout_paths(mp3: Path) -> tuple[Path, Path]:
    """The handout of the session `mp3`: its PDF and its HTML, beside it."""
    return mp3.with_suffix(".pdf"), mp3.with_suffix(".html")


def write_handout(mp3: Path, handout: Handout) -> list[Path]:
    """`<session>.pdf` and `<session>.html` beside the MP3; the paths written (unchanged ones
    are not). The HTML carries the fingerprint of both, so an unchanged handout costs no PDF
    rendering (most of a no-op rebuild otherwise)."""
    page = html_text(handout).replace("<!doctype html>", f"<!doctype html>\n<!-- handout {fingerprint(handout)} -->", 1)
    pdf, html_path = handout_paths(mp3)
    if pdf.is_file() and html_path.is_file() and html_path.read_bytes() == page.encode("utf-8"):
        return []
    written = []
    for path, data in ((pdf, pdf_bytes(handout)), (html_path, page.encode("utf-8"))):
        if write_if_changed(path, data):
            written.append(path)
    return written
