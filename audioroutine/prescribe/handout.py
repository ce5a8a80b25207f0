"""A printable handout beside each session: PDF (fpdf2) and HTML, one or two pages.

The exercises in order with their setup, movement and this session's dosage (the sentence
the session speaks), the safety notes, the clinic's contact, the session length and, given a
base URL, a QR code (segno) that opens the audio.
"""

from __future__ import annotations

import hashlib
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..compile.compiler import compile_level, level_title
from ..compile.timeline import Say
from ..core.guard import write_file
from ..model.durations import format_hms
from ..model.script import Routine
from ..model.settings import Settings

FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/TTF/DejaVuSans.ttf", "/Library/Fonts/DejaVuSans.ttf")
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)   # fixed creation date: the same handout, the same bytes


@dataclass(frozen=True)
class HandoutExercise:
    name: str
    dosage: str
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
    url: str | None = None


def handout_for(routine: Routine, level: str, settings: Settings, seconds: float,
                reference: str | None = None, url: str | None = None) -> Handout:
    """What the handout of one session says, from the compiled session (the spoken dosage)."""
    program = compile_level(routine, level, settings)
    dosages = {}
    for chapter in program.chapters:
        for step in chapter.steps:
            if isinstance(step, Say) and step.role == "dosage" and chapter.exercise:
                dosages[chapter.exercise] = step.text
    exercises = []
    for exercise in routine.exercises:
        if exercise.dosage[level].skip:
            continue
        cues = exercise.cues_for(level)
        exercises.append(HandoutExercise(cues.name, dosages.get(cues.name, ""), cues.setup, cues.movement,
                                         cues.caution))
    safety = tuple(filter(None, (*routine.safety, settings.disclaimer)))
    return Handout(routine.title, level_title(routine, level), tuple(exercises), safety, seconds,
                   routine.clinic or settings.clinic, settings.contact, reference, url)


def qr_png(url: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=6, border=4)
    return buf.getvalue()


def pdf_bytes(handout: Handout) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_creation_date(EPOCH)
    pdf.set_title(f"{handout.title} - {handout.session}")
    pdf.set_auto_page_break(True, margin=15)
    font = next((f for f in FONTS if Path(f).is_file()), None)
    if font:
        pdf.add_font("body", "", font)
        family = "body"

        def text(value: str) -> str:
            return value
    else:   # core fonts know Latin-1 only
        family = "Helvetica"

        def text(value: str) -> str:
            value = value.replace("—", "-").replace("–", "-").replace("’", "'").replace("“", '"').replace("”", '"')
            return value.encode("latin-1", "replace").decode("latin-1")
    pdf.add_page()
    width = pdf.epw

    def para(value: str, size: float = 10, height: float = 5, indent: float = 0) -> None:
        pdf.set_font(family, size=size)
        pdf.set_x(pdf.l_margin + indent)
        pdf.multi_cell(width - indent, height, text(value), new_x="LMARGIN", new_y="NEXT")

    if handout.url:
        pdf.image(io.BytesIO(qr_png(handout.url)), x=pdf.w - pdf.r_margin - 30, y=pdf.t_margin, w=30, h=30)
        width -= 34
    para(handout.title, 16, 8)
    para(f"{handout.session} - {format_hms(int(handout.seconds * 1000))}", 12, 7)
    if handout.reference:
        para(f"Reference: {handout.reference}", 9)
    if handout.clinic:
        para(handout.clinic, 9)
    if handout.url:
        para(f"Audio: {handout.url}", 8)
        pdf.set_y(max(pdf.get_y(), pdf.t_margin + 32))
    width = pdf.epw
    pdf.ln(3)
    for n, exercise in enumerate(handout.exercises, 1):
        para(f"{n}. {exercise.name}", 12, 6)
        para(exercise.dosage, 10, 5, 4)
        for line in exercise.setup:
            para(f"Setup: {line}", 9, 4.5, 4)
        for line in exercise.movement:
            para(f"Movement: {line}", 9, 4.5, 4)
        if exercise.caution:
            para(f"Caution: {exercise.caution}", 9, 4.5, 4)
        pdf.ln(2)
    if handout.safety:
        para("Safety", 12, 6)
        for note in handout.safety:
            para(note, 9, 4.5, 4)
        pdf.ln(2)
    if handout.contact:
        para("Contact", 12, 6)
        para(handout.contact, 9, 4.5, 4)
    return bytes(pdf.output())


def html_text(handout: Handout) -> str:
    e = html.escape
    out = ["<!doctype html>", '<html><head><meta charset="utf-8">',
           f"<title>{e(handout.title)} — {e(handout.session)}</title>",
           "<style>body{font-family:sans-serif;max-width:42em;margin:2em auto}"
           ".qr{float:right;width:8em}@media print{a{color:black}}</style></head><body>"]
    if handout.url:
        import segno

        out.append(f'<div class="qr">{segno.make(handout.url, error="m").svg_inline(scale=4)}</div>')
    out.append(f"<h1>{e(handout.title)}</h1>")
    out.append(f"<p><strong>{e(handout.session)}</strong> — {format_hms(int(handout.seconds * 1000))}</p>")
    if handout.reference:
        out.append(f"<p>Reference: {e(handout.reference)}</p>")
    if handout.clinic:
        out.append(f"<p>{e(handout.clinic)}</p>")
    if handout.url:
        out.append(f'<p>Audio: <a href="{e(handout.url)}">{e(handout.url)}</a></p>')
    out.append("<ol>")
    for exercise in handout.exercises:
        out.append(f"<li><h2>{e(exercise.name)}</h2><p><strong>{e(exercise.dosage)}</strong></p>")
        out += [f"<p>Setup: {e(line)}</p>" for line in exercise.setup]
        out += [f"<p>Movement: {e(line)}</p>" for line in exercise.movement]
        if exercise.caution:
            out.append(f"<p>Caution: {e(exercise.caution)}</p>")
        out.append("</li>")
    out.append("</ol>")
    if handout.safety:
        out.append("<h2>Safety</h2>" + "".join(f"<p>{e(note)}</p>" for note in handout.safety))
    if handout.contact:
        out.append(f"<h2>Contact</h2><p>{e(handout.contact)}</p>")
    out.append("</body></html>")
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
    """A hash of everything a handout shows and how the PDF is made (font, fpdf2 version)."""
    from fpdf import FPDF_VERSION

    font = next((f for f in FONTS if Path(f).is_file()), "core")
    return hashlib.sha256(f"{handout!r}|{font}|{FPDF_VERSION}".encode()).hexdigest()[:16]


def write_handout(mp3: Path, handout: Handout) -> list[Path]:
    """`<session>.pdf` and `<session>.html` beside the MP3; the paths written (unchanged ones
    are not). The HTML carries the fingerprint of both, so an unchanged handout costs no PDF
    rendering (most of a no-op rebuild otherwise)."""
    page = html_text(handout).replace("<!doctype html>", f"<!doctype html>\n<!-- handout {fingerprint(handout)} -->", 1)
    pdf, html_path = mp3.with_suffix(".pdf"), mp3.with_suffix(".html")
    if pdf.is_file() and html_path.is_file() and html_path.read_bytes() == page.encode("utf-8"):
        return []
    written = []
    for path, data in ((pdf, pdf_bytes(handout)), (html_path, page.encode("utf-8"))):
        if write_if_changed(path, data):
            written.append(path)
    return written
