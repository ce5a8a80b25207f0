"""Timeline: plain typed data that says what sounds when, in samples. No audio here.

A compiled `Program` is a list of steps per chapter (say this, pause that long, fill this
window exactly). `layout()` turns it into a `Timeline` once speech lengths are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Literal

from .durations import format_ms

# --- program: what the compiler emits ------------------------------------------------------


@dataclass(frozen=True)
class Say:
    """Speech that lasts as long as the voice takes."""

    text: str
    role: str


@dataclass(frozen=True)
class Pause:
    """Silence of a fixed length."""

    ms: int
    role: str = "gap"


@dataclass(frozen=True)
class Sound:
    """A synthesized tone (see sounds.py) of a fixed length; `name` picks the tone."""

    name: str
    ms: int
    role: str

    @property
    def text(self) -> str:
        return f"[{self.name}]"


Cue = Say | Sound


@dataclass(frozen=True)
class Window:
    """A span of exactly `ms`: its cues are spoken from its start, one after another, and
    each timed cue starts exactly `offset_ms` in; silence fills the rest."""

    ms: int
    role: str                                   # hold, rest, set_rest, breath_in, get_ready...
    cues: tuple[Cue, ...] = ()
    timed: tuple[tuple[int, Say], ...] = ()     # (offset_ms, cue), e.g. a countdown


Step = Say | Sound | Pause | Window


@dataclass(frozen=True)
class ChapterPlan:
    title: str
    steps: tuple[Step, ...]
    exercise: str | None = None                 # exercise name, for error messages
    line: int | None = None                     # script line of the dosage behind the windows


@dataclass(frozen=True)
class Program:
    routine_id: str
    level: str
    rate: float                                 # speaking rate for this level
    chapters: tuple[ChapterPlan, ...]
    path: str = "<script>"

    def texts(self) -> list[str]:
        """Every distinct phrase, in order of first use."""
        seen: dict[str, None] = {}
        for chapter in self.chapters:
            for step in chapter.steps:
                if isinstance(step, Say):
                    seen.setdefault(step.text)
                elif isinstance(step, Window):
                    for cue in (*step.cues, *(cue for _, cue in step.timed)):
                        if isinstance(cue, Say):
                            seen.setdefault(cue.text)
        return list(seen)


# --- timeline: what the renderer plays -----------------------------------------------------


@dataclass(frozen=True)
class Event:
    start: int                                  # samples from the session start
    length: int                                 # samples
    kind: Literal["speech", "silence", "sound"]
    role: str
    text: str = ""                              # the words, or the sound's name

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Span:
    """A timed window as laid out: exactly `length` samples from `start`."""

    start: int
    length: int
    role: str
    chapter: int


@dataclass(frozen=True)
class Chapter:
    title: str
    start: int
    end: int


@dataclass
class Timeline:
    routine_id: str
    level: str
    sample_rate: int
    events: list[Event] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    estimated: int = 0                          # phrases whose length was estimated, not measured

    @property
    def total(self) -> int:
        return self.events[-1].end if self.events else 0

    def ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate

    def events_by_chapter(self) -> Iterator[tuple[int, Event]]:
        """Every event with the index of the chapter it falls in."""
        chapter = 0
        for event in self.events:
            while chapter + 1 < len(self.chapters) and event.start >= self.chapters[chapter + 1].start:
                chapter += 1
            yield chapter, event

    def cue_sheet(self) -> list[dict[str, object]]:
        """One row per event, for `plan` and `plan --json`."""
        rows: list[dict[str, object]] = []
        for chapter_index, event in self.events_by_chapter():
            rows.append({
                "start": event.start / self.sample_rate,
                "start_sample": event.start,
                "length_sample": event.length,
                "chapter": self.chapters[chapter_index].title if self.chapters else "",
                "kind": event.kind,
                "role": event.role,
                "text": event.text,
            })
        return rows

    def to_json(self) -> dict[str, object]:
        return {
            "routine": self.routine_id,
            "level": self.level,
            "sample_rate": self.sample_rate,
            "total_samples": self.total,
            "total_seconds": self.total / self.sample_rate,
            "estimated_phrases": self.estimated,
            "chapters": [
                {"title": c.title, "start": c.start / self.sample_rate, "start_sample": c.start,
                 "end_sample": c.end}
                for c in self.chapters
            ],
            "spans": [
                {"role": s.role, "start_sample": s.start, "length_sample": s.length,
                 "chapter": self.chapters[s.chapter].title}
                for s in self.spans
            ],
            "events": self.cue_sheet(),
        }

    def format_sheet(self, silences: bool = False) -> str:
        """Cue sheet text. Each timed window gets a line of its own, `== role N.NNN s ==`,
        with its exact length and the time it ends, before the cues it holds."""
        def at(sample: int) -> str:
            return format_ms(sample * 1000 // self.sample_rate)

        windows: dict[int, list[Span]] = {}
        for span in self.spans:
            windows.setdefault(span.start, []).append(span)
        lines = []
        for row in self.cue_sheet():
            start = int(row["start_sample"])  # type: ignore[call-overload]
            chapter = str(row["chapter"])[:24]
            for span in windows.pop(start, []):
                seconds = f"{span.length / self.sample_rate:.3f} s"
                lines.append(f"{at(start)}  {chapter:<24}  == {span.role} {seconds}, until {at(span.start + span.length)} ==")
            if row["kind"] == "silence" and not silences:
                continue
            length = int(row["length_sample"])  # type: ignore[call-overload]
            if row["kind"] == "silence":
                text = f"({length * 1000 // self.sample_rate} ms silence)"
            elif row["kind"] == "sound":
                text = f"[{row['text']} sound]"
            else:
                text = str(row["text"])
            lines.append(f"{at(start)}  {chapter:<24}  {row['role']:<10}  {text}")
        return "\n".join(lines)


class FitError(Exception):
    """Speech does not fit in its window; the compiler turns this into a ScriptError."""

    def __init__(self, chapter: ChapterPlan, message: str) -> None:
        super().__init__(message)
        self.chapter = chapter
        self.message = message


def ms_to_samples(ms: int, rate: int) -> int:
    return ms * rate // 1000 if (ms * rate) % 1000 == 0 else round(ms * rate / 1000)


def layout(program: Program, measure: Callable[[str], int], sample_rate: int) -> Timeline:
    """Place every step at an exact sample position. `measure(text)` gives a phrase's length
    in samples at `sample_rate`. Raises FitError where speech overruns its window."""
    timeline = Timeline(program.routine_id, program.level, sample_rate)
    events = timeline.events
    cursor = 0

    def speak(cue: Cue) -> None:
        nonlocal cursor
        if isinstance(cue, Sound):
            n = ms_to_samples(cue.ms, sample_rate)
            events.append(Event(cursor, n, "sound", cue.role, cue.name))
        else:
            n = measure(cue.text)
            events.append(Event(cursor, n, "speech", cue.role, cue.text))
        cursor += n

    def silence(n: int, role: str) -> None:
        nonlocal cursor
        if n > 0:
            events.append(Event(cursor, n, "silence", role))
            cursor += n

    for index, chapter in enumerate(program.chapters):
        chapter_start = cursor
        for step in chapter.steps:
            if isinstance(step, (Say, Sound)):
                speak(step)
            elif isinstance(step, Pause):
                silence(ms_to_samples(step.ms, sample_rate), step.role)
            else:
                start, length = cursor, ms_to_samples(step.ms, sample_rate)
                marks = [(ms_to_samples(off, sample_rate), cue) for off, cue in step.timed]
                for cue in step.cues:
                    speak(cue)
                for offset, cue in marks:
                    if cursor > start + offset:
                        over = (cursor - start - offset) * 1000 // sample_rate
                        raise FitError(chapter, (
                            f"the cue '{events[-1].text}' runs {over} ms into the timed cue '{cue.text}' "
                            f"of its {step.ms / 1000:g} s {step.role.replace('_', ' ')}: shorten the cue "
                            f"or the countdown"))
                    silence(start + offset - cursor, step.role)
                    speak(cue)
                if cursor > start + length:
                    last = (step.cues + tuple(c for _, c in step.timed))[-1]
                    raise FitError(chapter, _overrun(last, step, cursor - start - length, sample_rate))
                silence(start + length - cursor, step.role)
                timeline.spans.append(Span(start, length, step.role, index))
        timeline.chapters.append(Chapter(chapter.title, chapter_start, cursor))
    return timeline


def _overrun(cue: Cue, window: Window, over: int, rate: int) -> str:
    return (
        f"the cue '{cue.text}' runs {over * 1000 // rate} ms past the end of its "
        f"{window.ms / 1000:g} s {window.role.replace('_', ' ')}: shorten the cue or lengthen the {window.role.replace('_', ' ')}"
    )
