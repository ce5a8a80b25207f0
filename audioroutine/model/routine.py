"""The routine model: plain, frozen data that a script (docs/script-format.md) becomes."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from ..core.errors import ScriptError
from .loudness_settings import LoudnessSettings
from .sounds import SoundSettings

DEFAULT_LEVELS = ("beginner", "progressed")
Sides = Literal["none", "each", "alternating"]
Count = Literal["total", "per_side"]     # with alternating sides: reps count in total, or per side
SIDES: tuple[Sides, ...] = get_args(Sides)
COUNTS: tuple[Count, ...] = get_args(Count)
HALFWAY_ROOM_MS = 1500        # "halfway" needs this much quiet before the countdown or the end
DEFAULT_COUNTDOWN = 3         # `countdown: true` counts the last 3 seconds (fewer if the hold is short)


@dataclass(frozen=True)
class Breath:
    """Breath pacing: each rep is one breath in then one breath out."""

    inhale_ms: int
    exhale_ms: int


@dataclass(frozen=True)
class Dosage:
    """How much of an exercise one level does."""

    reps: int = 1
    sets: int = 1
    hold_ms: int = 0
    rest_ms: int = 0              # between reps
    set_rest_ms: int = 30000      # between sets
    side_rest_ms: int | None = None   # between sides (sides: each); None: as rest_ms
    rep_ms: int = 0               # a timed rep (no hold, no breath) lasts this long
    work_ms: int = 0              # a work interval lasts this long (then `rest`)
    move_ms: int = 0              # time to get into position between a rep's cue and its hold
    transition_ms: int | None = None  # quiet after the exercise; None: the routine's `transition`
    sides: Sides = "none"
    count: Count = "total"        # alternating sides: reps in total or per side
    breath: Breath | None = None
    countdown: int = 0            # speak the last N seconds of each hold
    halfway: bool = False         # say "halfway" at the middle of each hold
    variant: str | None = None
    skip: bool = False
    line: int = 0


@dataclass(frozen=True)
class Encourage:
    """`encourage:` of a routine or an exercise: lines said inside long holds
    (compile/wording.py places them). `lines` empty: the language's own; `on` false: none."""

    lines: tuple[str, ...] = ()
    on: bool = True
    line: int = 0                 # the script line of the `encourage:` key, for errors
    file: str = ""                # the file it is in (a library's, for a used exercise)


@dataclass(frozen=True)
class Cues:
    """What is said for an exercise (or for one variant of it)."""

    name: str
    setup: tuple[str, ...] = ()
    movement: tuple[str, ...] = ()
    hold: str | None = None       # said at the start of each hold, after the rep count
    release: str | None = None    # said when a hold ends
    rep: str | None = None        # said at the start of each rep without a hold
    inhale: str | None = None
    exhale: str | None = None
    caution: str | None = None
    # `hold:` and `release:` given as a list: every wording, the first being `hold`/`release`
    # (the compiler takes them in turn, compile/wording.py)
    wordings: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def wordings_of(self, name: str) -> tuple[str, ...]:
        """Every wording of cue `name` ("hold", "release"): the list the script gave, else its one line."""
        own = getattr(self, name)
        return dict(self.wordings).get(name) or ((own,) if own else ())


@dataclass(frozen=True)
class Exercise:
    id: str
    cues: Cues
    variants: dict[str, Cues]
    dosage: dict[str, Dosage]
    line: int
    encourage: Encourage | None = None    # None: as the routine says

    def cues_for(self, level: str) -> Cues:
        variant = self.dosage[level].variant
        return self.variants[variant] if variant else self.cues


@dataclass(frozen=True)
class Circuit:
    """Consecutive exercises done one after another, the whole block repeated for a number
    of rounds (per level), with a rest between rounds."""

    name: str
    exercises: tuple[str, ...]    # exercise ids, consecutive and in script order
    rounds: dict[str, int]        # level id -> rounds
    rest_ms: int = 0              # between rounds
    line: int = 0

    def rounds_for(self, level: str) -> int:
        return self.rounds.get(level, 1)


@dataclass(frozen=True)
class Level:
    id: str
    title: str
    rate: float = 1.0             # speaking rate for this level (1.0 = the voice's own)
    named: bool = False           # the script gave `title`; else the language's word is used


@dataclass(frozen=True)
class VoiceSettings:
    engine: str | None = None
    voice: str | None = None
    rate: float = 1.0


@dataclass(frozen=True)
class Routine:
    id: str
    title: str
    description: str
    language: str
    author: str | None
    clinic: str | None
    safety: tuple[str, ...]
    warmup: str | None
    intro: str | None
    outro: str | None
    voice: VoiceSettings
    levels: tuple[Level, ...]
    exercises: tuple[Exercise, ...]
    phrases: dict[str, str] = field(default_factory=dict)
    get_ready_ms: int = 3000
    gap_ms: int = 600             # pause after free-standing speech (intro, setup lines)
    transition_ms: int = 0        # quiet between one exercise's "good work" and the next exercise
    circuits: tuple[Circuit, ...] = ()
    sounds: SoundSettings = SoundSettings()
    loudness: LoudnessSettings = LoudnessSettings()
    music: Any = None             # a music bed (music_settings.Music) or "none"; None: not said (run.options.music_for)
    path: str = "<script>"
    sha256: str = ""
    mixed_languages: bool = False     # the script says its voice may speak another language
    frequency: str | None = None      # how often to do the session (a programme or prescription says)
    lines: dict[str, int] = field(default_factory=dict, compare=False)   # key → line, for errors
    encourage: Encourage | None = None    # lines inside long holds; None: off (each exercise may say)

    def level(self, level_id: str) -> Level:
        """The level named `level_id`, by id or title, in any letter case."""
        for level in self.levels:
            if level.id == level_id:
                return level
        wanted = level_id.casefold()
        for level in self.levels:
            if wanted in (level.id.casefold(), level.title.casefold()):
                return level
        ids = {level.id.casefold(): level.id for level in self.levels}
        close = difflib.get_close_matches(wanted, list(ids), n=1)
        hint = f"levels: {', '.join(ids.values())}"
        raise ScriptError(f"no level '{level_id}' in this routine", file=self.path,
                          hint=f"did you mean '{ids[close[0]]}'? {hint}" if close else hint)


def rounds_of(routine: Routine, exercise_id: str, level: str) -> int:
    """How many times an exercise is done at a level: its circuit's rounds, else once."""
    for circuit in routine.circuits:
        if exercise_id in circuit.exercises:
            return circuit.rounds_for(level)
    return 1
