"""Timeline: plain typed data that says what sounds when, in samples. No audio here.

A compiled `Program` is a list of steps per chapter (say this, pause that long, fill this
window exactly). `layout()` turns it into a `Timeline` once speech lengths are known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from ..model.durations import format_ms

# --- program: what the compiler emits ------------------------------------------------------

# What a cue or a stretch of silence is for: cue sheets, transcripts, chapter subtitles and
# the tests read it. A new role goes here first (mypy then checks every use).
Role = Literal[
    "title",
    "intro",
    "safety_intro",
    "disclaimer",
    "contact",
    "safety",
    "caution",
    "announce",
    "setup",
    "movement",
    "warmup",
    "dosage",
    "circuit",
    "round_rest",
    "get_ready",
    "side",
    "rep",
    "work",
    "hold",
    "hold_end",
    "release",
    "rest",
    "set_rest",
    "side_rest",
    "halfway",
    "encourage",           # a line said inside a long hold (`encourage:`)
    "countdown",
    "breath_in",
    "breath_out",
    "transition",
    "exercise_done",
    "done",
    "outro",
    "session_end",
    "tail",
    "gap",
    "move",                # time to get into position before a window (`lead_ms`)
    "hold_start_sound",
    "hold_end_sound",
    "exercise_sound",
]


@dataclass(frozen=True)
class Say:
    """Speech that lasts as long as the voice takes. `wording`: which of a varied phrase's
    wordings it says ("release 2/4", compile/wording.py), for `plan`; "" for any other."""

    text: str
    role: Role
    wording: str = ""


@dataclass(frozen=True)
class Pause:
    """Silence of a fixed length."""

    ms: int
    role: Role = "gap"


@dataclass(frozen=True)
class Sound:
    """A synthesized tone (see sounds.py) of a fixed length; `name` picks the tone."""

    name: str
    ms: int
    role: Role

    @property
    def text(self) -> str:
        return f"[{self.name}]"


Cue = Say | Sound


@dataclass(frozen=True)
class Window:
    """A timed window of exactly `ms`, in the listener's terms: its opening `cues` are spoken
    first, then `lead_ms` of movement time, then the window starts (when the cues end) and
    lasts `ms` until the next cue starts. Inside it only the `timed` cues sound, each
    starting exactly `offset_ms` after the window's start (countdown numbers, the
    hold-start sound at 0, "halfway"); silence fills the rest."""

    ms: int
    role: Role                                   # hold, rest, set_rest, breath_in, get_ready...
    cues: tuple[Cue, ...] = ()
    timed: tuple[tuple[int, Cue], ...] = ()     # (offset_ms, cue), e.g. a countdown
    lead_ms: int = 0                            # time to get into position before the window

    def all_cues(self) -> tuple[Cue, ...]:
        return (*self.cues, *(cue for _, cue in self.timed))


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
    wordings: tuple[tuple[str, tuple[str, ...]], ...] = ()   # each varied phrase used: its wordings

    def texts(self) -> list[str]:
        """Every distinct phrase, in order of first use."""
        seen: dict[str, None] = {}
        for chapter in self.chapters:
            for step in chapter.steps:
                if isinstance(step, Say):
                    seen.setdefault(step.text)
                elif isinstance(step, Window):
                    for cue in step.all_cues():
                        if isinstance(cue, Say):
                            seen.setdefault(cue.text)
        return list(seen)


# --- timeline: what the renderer plays -----------------------------------------------------


@dataclass(frozen=True)
class Event:
    start: int                                  # samples from the session start
    length: int                                 # samples
    kind: Literal["speech", "silence", "sound"]
    role: Role
    text: str = ""                              # the words, or the sound's name
    wording: str = ""                           # which wording of a varied phrase ("rest 2/4")

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True)
class Span:
    """A timed window as laid out: exactly `length` samples from `start`, which is where its
    opening cues end (`cue_end`, plus any movement time); `cue_start` is where they begin."""

    start: int
    length: int
    role: Role
    chapter: int
    cue_start: int = 0
    cue_end: int = 0

    @property
    def end(self) -> int:
        return self.start + self.length


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
    wordings: tuple[tuple[str, tuple[str, ...]], ...] = ()   # the program's varied phrases and their wordings

    @property
    def total(self) -> int:
        return self.events[-1].end if self.events else 0

    def pad_end(self, n: int) -> None:
        """Add `n` samples of silence at the very end (to the last chapter)."""
        if n > 0:
            self.events.append(Event(self.total, n, "silence", "tail"))
            if self.chapters:
                last = self.chapters[-1]
                self.chapters[-1] = Chapter(last.title, last.start, last.end + n)

    def ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate

    def seconds(self, samples: int) -> float:
        return samples / self.sample_rate

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
                "start": self.seconds(event.start),
                "end": self.seconds(event.end),
                "start_sample": event.start,
                "end_sample": event.end,
                "length_sample": event.length,
                "chapter": self.chapters[chapter_index].title if self.chapters else "",
                "kind": event.kind,
                "role": event.role,
                "text": event.text,
                "wording": event.wording,
            })
        return rows

    def window_sheet(self) -> list[dict[str, object]]:
        """One row per timed window with both edges of its opening cue and of the window."""
        return [
            {"role": s.role, "chapter": self.chapters[s.chapter].title,
             "cue_start": self.seconds(s.cue_start), "cue_end": self.seconds(s.cue_end),
             "start": self.seconds(s.start), "end": self.seconds(s.end),
             "cue_start_sample": s.cue_start, "cue_end_sample": s.cue_end,
             "start_sample": s.start, "end_sample": s.end, "length_sample": s.length}
            for s in self.spans
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "routine": self.routine_id,
            "level": self.level,
            "sample_rate": self.sample_rate,
            "total_samples": self.total,
            "total_seconds": self.seconds(self.total),
            "estimated_phrases": self.estimated,
            "chapters": [
                {"title": c.title, "start": self.seconds(c.start), "start_sample": c.start,
                 "end_sample": c.end}
                for c in self.chapters
            ],
            "spans": self.window_sheet(),
            "events": self.cue_sheet(),
            "wordings": self.wording_sheet(),
        }

    def wording_sheet(self) -> dict[str, list[dict[str, object]]]:
        """Each varied phrase (and `encourage`): its wordings, each with how often it is said."""
        uses: dict[str, int] = {}
        for event in self.events:
            for worded in filter(None, event.wording.split(", ")):
                uses[worded] = uses.get(worded, 0) + 1
        return {key: [{"wording": text, "uses": uses.get(f"{key} {i}/{len(texts)}", 0)}
                      for i, text in enumerate(texts, 1)]
                for key, texts in self.wordings}

    def format_wordings(self) -> str:
        """The wording summary `plan` prints under the cue sheet: each varied phrase's wordings,
        how often each is said; chosen in turn, never the same twice in a row."""
        lines = []
        for key, rows in self.wording_sheet().items():
            for i, row in enumerate(rows, 1):
                lines.append(f"  {key + ' ' + str(i) + '/' + str(len(rows)):<14} x{row['uses']:<3}  {row['wording']}")
        return "wordings (never the same twice in a row):\n" + "\n".join(lines) if lines else ""

    def format_sheet(self, silences: bool = False) -> str:
        """Cue sheet text, a line per cue with its start and end, and a line per timed
        window, `0:42.120  0:47.120  ...  == hold 5.000 s ==`, placed where the window
        starts: after the cue that opens it."""
        def at(sample: int) -> str:
            return format_ms(sample * 1000 // self.sample_rate)

        windows: dict[int, list[Span]] = {}
        for span in self.spans:
            windows.setdefault(span.start, []).append(span)
        lines = []
        for chapter_index, event in self.events_by_chapter():
            chapter = (self.chapters[chapter_index].title if self.chapters else "")[:24]
            for span in windows.pop(event.start, []):
                seconds = f"{span.length / self.sample_rate:.3f} s"
                lines.append(f"{at(span.start)}  {at(span.end)}  {chapter:<24}  == {span.role} {seconds} ==")
            if event.kind == "silence" and not silences:
                continue
            if event.kind == "silence":
                text = f"({event.length * 1000 // self.sample_rate} ms silence)"
            elif event.kind == "sound":
                text = f"[{event.text} sound]"
            else:
                text = event.text
            lines.append(f"{at(event.start)}  {at(event.end)}  {chapter:<24}  {event.role:<10}  {text}")
        return "\n".join(lines)


class FitError(Exception):
    """Speech does not fit in its window; the compiler turns this into a ScriptError."""

    def __init__(self, chapter: ChapterPlan, message: str) -> None:
        super().__init__(message)
        self.chapter = chapter
        self.message = message


def frame_samples(sample_rate: int) -> int:
    """Samples in one MP3 frame at `sample_rate`: 576 at 24 kHz and below, 1152 above."""
    return 1152 if sample_rate > 24000 else 576


def mp3_safe_extra(total: int, sample_rate: int) -> int:
    """Samples of silence to add to a session of `total` samples so that its MP3 decodes back
    to exactly `total + extra`. Measured with ffmpeg's LAME and decoder: a length that ends
    1-46 samples into an MP3 frame (576 samples at 24 kHz and below, 1152 above) decodes
    47 - r samples too long; every other length decodes exactly."""
    r = total % frame_samples(sample_rate)
    return 47 - r if 1 <= r <= 46 else 0


def ms_to_samples(ms: int, rate: int) -> int:
    return ms * rate // 1000 if (ms * rate) % 1000 == 0 else round(ms * rate / 1000)


def layout(program: Program, measure: Callable[[str], int], sample_rate: int) -> Timeline:
    """Place every step at an exact sample position. `measure(text)` gives a phrase's length
    in samples at `sample_rate`. A window starts where its opening cues end (plus its
    movement time) and lasts exactly its length. A pause between free-standing sentences
    (role "gap", `gap:` in a script) is lengthened by less than one MP3 frame (26 ms at
    22,050 Hz) so that the cue after it starts on the frame grid: everything after it then
    sits on the grid where it sat before, whatever an edit did to the cues before it, and
    the MP3's segments there are found in the cache (audio/segments.py). Raises FitError
    where a timed cue inside a window would run into the next one or past the window's end."""
    timeline = Timeline(program.routine_id, program.level, sample_rate, wordings=program.wordings)
    events = timeline.events
    cursor = 0

    def speak(cue: Cue) -> None:
        nonlocal cursor
        if isinstance(cue, Sound):
            n = ms_to_samples(cue.ms, sample_rate)
            events.append(Event(cursor, n, "sound", cue.role, cue.name))
        else:
            n = measure(cue.text)
            events.append(Event(cursor, n, "speech", cue.role, cue.text, cue.wording))
        cursor += n

    def silence(n: int, role: Role) -> None:
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
                n = ms_to_samples(step.ms, sample_rate)
                if step.role == "gap" and n:    # the next cue starts on the MP3 frame grid (`gap: 0` stays 0)
                    n += -(cursor + n) % frame_samples(sample_rate)
                silence(n, step.role)
            else:
                cue_start = cursor
                for cue in step.cues:
                    speak(cue)
                cue_end = cursor
                if step.lead_ms:
                    move = ms_to_samples(step.lead_ms, sample_rate)
                    silence(move, "move")
                    timeline.spans.append(Span(cue_end, move, "move", index, cue_start, cue_end))
                start, length = cursor, ms_to_samples(step.ms, sample_rate)
                previous: Cue | None = None
                for offset_ms, cue in step.timed:
                    offset = ms_to_samples(offset_ms, sample_rate)
                    if previous is not None and cursor > start + offset:
                        over = (cursor - start - offset) * 1000 // sample_rate
                        raise FitError(chapter, (
                            f"the cue '{previous.text}' runs {over} ms into the timed cue '{cue.text}' "
                            f"of its {step.ms / 1000:g} s {_name(step)}: shorten the cue or the countdown"))
                    silence(start + offset - cursor, step.role)
                    speak(cue)
                    previous = cue
                if previous is not None and cursor > start + length:
                    raise FitError(chapter, _overrun(previous, step, cursor - start - length, sample_rate))
                silence(start + length - cursor, step.role)
                timeline.spans.append(Span(start, length, step.role, index, cue_start, cue_end))
        timeline.chapters.append(Chapter(chapter.title, chapter_start, cursor))
    timeline.pad_end(mp3_safe_extra(timeline.total, sample_rate))
    return timeline


def _name(window: Window) -> str:
    return window.role.replace("_", " ")


def _overrun(cue: Cue, window: Window, over: int, rate: int) -> str:
    return (
        f"the cue '{cue.text}' runs {over * 1000 // rate} ms past the end of its "
        f"{window.ms / 1000:g} s {_name(window)}: shorten the cue or lengthen the {_name(window)}"
    )
