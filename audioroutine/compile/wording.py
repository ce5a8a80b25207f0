"""Coaching that varies: which wording a cue said again and again gets, and where the
encouragements inside long holds go (issue 23; docs/script-format.md, "Coaching that varies").

The language tables (`audioroutine/lang`) give each phrase in `lang.VARIED` (rep, hold,
release, rest) several wordings, the phrase itself first. A `Coach` walks a level's cues in
order and chooses, per kind of cue (the rep count, the hold words, the release, the rest,
an encouragement): the first wording for the first cue of that kind in the session, then
for each later one any wording but the one before, picked by a hash of the routine's id,
the kind and the cue's number. sha256, not Python's `hash` (salted per process): the same
script gets the same words on every run and every machine, and never the same wording
twice in a row. A phrase the script words itself (`phrases:`) has that one wording.

Encouragements ("Keep breathing.") are off unless a script asks (`encourage:`); they go
only into holds of at least `HOLD_MS`, one in the middle of each stretch of quiet of at
least `STRETCH_MS` (more in a long stretch, one per `EVERY_MS`), with `ROOM_MS` of quiet
kept on either side, so they never meet the hold-start sound, "Halfway.", the countdown
or the end of the hold. Lengths here are the engines' estimates (on the long side, at the
level's rate), so the words and their marks do not depend on the engine; the layout then
checks the real lengths like any timed cue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import ScriptError
from ..engines import estimate_seconds
from ..model.phrases import Phrases
from ..model.routine import Encourage

HOLD_MS = 10000        # holds at least this long may carry encouragements
STRETCH_MS = 5000      # ... in each stretch of quiet at least this long
EVERY_MS = 15000       # one line per this much of a stretch (a 30 s stretch gets two)
ROOM_MS = 750          # quiet kept between an encouragement and any other sound of the hold

# The kind of cue each varied phrase is chosen as: "Rep 3 of 8, left side." is a rep count.
KIND = {"rep_side": "rep"}


@dataclass
class Coach:
    """The words of one level, chosen in order. `say` fills phrases; `seed` is the routine's
    id; `rate` the level's speaking rate (for the estimates of encouragements)."""

    say: Phrases
    seed: str
    rate: float = 1.0
    last: dict[str, int] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    used: dict[str, tuple[str, ...]] = field(default_factory=dict)   # key -> its wordings, in order of first use

    def pick(self, kind: str, options: int) -> int:
        """The index of the wording for the next cue of `kind` among `options` wordings."""
        number = self.count.get(kind, 0)
        self.count[kind] = number + 1
        previous = self.last.get(kind)
        if previous is None or options == 1:
            index = 0                               # the first of a kind: the phrase itself
        else:
            digest = hashlib.sha256(f"{self.seed}\0{kind}\0{number}".encode()).digest()
            if previous < options:
                index = int.from_bytes(digest[:8], "big") % (options - 1)
                index += index >= previous          # any wording but the one before
            else:                                   # other lines than the last cue's (another exercise's)
                index = int.from_bytes(digest[:8], "big") % options
        self.last[kind] = index
        return index

    def phrase(self, key: str, **values: object) -> tuple[str, str]:
        """A varied phrase filled in, and which wording it is ("release 2/4")."""
        wordings = self.say.wordings[key]
        index = self.pick(KIND.get(key, key), len(wordings))   # "Rep 3 of 8, left side." follows "Rep 2 of 8."
        self.used.setdefault(key, wordings)
        return self.say.fill(wordings[index], **values), tag(key, index, len(wordings))

    def own(self, key: str, wordings: tuple[str, ...]) -> tuple[str, str]:
        """The next of the script's own `wordings`, taking turns under `key` ("hold:cobra")."""
        index = self.pick(key, len(wordings))
        self.used.setdefault(key, wordings)
        return wordings[index], tag(key, index, len(wordings))

    def seconds(self, text: str) -> float:
        return estimate_seconds(text, self.rate)


def tag(key: str, index: int, total: int) -> str:
    return f"{key} {index + 1}/{total}"


def encouraged(own: Encourage | None, routine: Encourage | None) -> Encourage | None:
    """What encourages an exercise's holds: its own `encourage:`, else the routine's; None when
    it is off or neither says (the default)."""
    chosen = own if own is not None else routine
    return chosen if chosen is not None and chosen.on else None


def place_encouragements(
    coach: Coach, hold_ms: int, marks: list[tuple[int, int]], chosen: Encourage | None,
    refuse: Callable[[str], ScriptError], key: str = "encourage",
) -> list[tuple[int, str, str]]:
    """(offset_ms, text, wording) of the encouragements of one hold. `marks` are the hold's
    timed sounds as (offset_ms, estimated end ms), in order; `key` names the lines that take
    turns ("encourage" for the language's, "encourage:ID" for an exercise's own). The script's own lines must all
    fit every slot they may be said in: the longest that does not is refused
    (`refuse(message)`, an error at the `encourage:` line); a table line that does not fit a
    slot is left out of it."""
    lines = (chosen.lines or coach.say.encouragements) if chosen else ()
    if not lines or hold_ms < HOLD_MS:
        return []
    longest = max(lines, key=coach.seconds)
    placed = []
    free = 0
    for start, end in [*marks, (hold_ms, hold_ms)]:
        stretch = start - free
        if stretch >= STRETCH_MS:
            slots = max(1, stretch // EVERY_MS)
            for slot in range(slots):
                lo = free + stretch * slot // slots
                hi = free + stretch * (slot + 1) // slots
                if chosen is not None and chosen.lines and _ms(coach, longest) + 2 * ROOM_MS > hi - lo:
                    raise refuse(
                        f"the encouragement '{longest}' (about {_ms(coach, longest) / 1000:.1f} s said) does not fit "
                        f"in {(hi - lo) / 1000:g} s of quiet of a {hold_ms / 1000:g} s hold, with {ROOM_MS} ms of "
                        f"quiet on either side: shorten it")
                text, wording = coach.own(key, lines)
                need = _ms(coach, text)
                if need + 2 * ROOM_MS <= hi - lo:
                    placed.append(((lo + hi - need) // 2, text, wording))
        free = max(free, end)
    return placed


def _ms(coach: Coach, text: str) -> int:
    return round(coach.seconds(text) * 1000)
