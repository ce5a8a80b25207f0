"""Script: a routine in YAML → a validated `Routine`. Strict: unknown keys are errors.

Every error names the file, the line, the key path and, where it applies, the exercise.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml

from .durations import format_hms, parse_duration_ms
from .engines import engine_names
from .errors import ScriptError, key_hint
from .files import StrPath, decode_input, read_input
from .limits import (
    MAX_COUNT,
    MAX_DEPTH,
    MAX_DURATION_MS,
    MAX_EXERCISES,
    MAX_LEVELS,
    MAX_SESSION_MS,
    MAX_SESSION_REPS,
    MAX_TEXT_CHARS,
    MAX_VALUES,
)
from .loudness_settings import LoudnessSettings
from .names import name_problem
from .phrases import PHRASE_KEYS, check_template
from .sounds import DEFAULTS as DEFAULT_SOUNDS
from .sounds import EVENTS as SOUND_EVENTS
from .sounds import SOUNDS, SoundSettings
from .texts import text_problem

DEFAULT_LEVELS = ("beginner", "progressed")
Choice = TypeVar("Choice", bound=str)
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


@dataclass(frozen=True)
class Exercise:
    id: str
    cues: Cues
    variants: dict[str, Cues]
    dosage: dict[str, Dosage]
    line: int

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
    music: Any = None             # a music bed (music.Music) or "none"; None: not said (music.music_for)
    path: str = "<script>"
    sha256: str = ""

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


# --- loading -----------------------------------------------------------------------------

class _Reader:
    """Walks composed YAML nodes, so every value keeps its line number."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.exercise: str | None = None
        self._constructor = yaml.SafeLoader("")

        self.origin: dict[int, str] = {}     # id(node) -> library file, for nodes read from a library

    def fail(self, node: yaml.Node | None, key: str, message: str, hint: str | None = None) -> ScriptError:
        line = node.start_mark.line + 1 if node is not None else None
        file = self.origin.get(id(node), self.path) if node is not None else self.path
        if file != self.path:
            hint = f"{hint}; used by {self.path}" if hint else f"used by {self.path}"
        return ScriptError(message, file=file, line=line, key=key, exercise=self.exercise, hint=hint)

    def mapping(self, node: yaml.Node, key: str, allowed: tuple[str, ...] | None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, "expected a mapping of keys to values")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(name, str):
                raise self.fail(key_node, key, "keys must be plain names")
            if name in out:
                raise self.fail(key_node, f"{key}.{name}" if key else name, f"key '{name}' appears twice")
            out[name] = value_node
        if allowed is not None:
            self.check_keys(node, key, allowed)
        return out

    def check_keys(self, node: yaml.MappingNode, key: str, allowed: tuple[str, ...]) -> None:
        for key_node, _ in node.value:
            name = key_node.value
            if name not in allowed:
                name = name if len(name) <= 40 else name[:40] + "…"   # a 1 MB key stays a short line
                raise self.fail(key_node, f"{key}.{name}" if key else name, f"unknown key '{name}'",
                                key_hint(name, allowed))

    def scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, key, "expected a single value")
        if len(node.value) > MAX_TEXT_CHARS:
            raise self.fail(node, key, f"value is longer than {MAX_TEXT_CHARS} characters ({len(node.value)})")
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError):
            raise self.fail(node, key, f"cannot read the value {node.value!r}") from None

    def text(self, node: yaml.Node, key: str) -> str:
        value = self.scalar(node, key)
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
            raise self.fail(node, key, "expected some text")
        problem = text_problem(str(value))
        if problem:
            raise self.fail(node, key, problem)
        return " ".join(str(value).split())

    def texts(self, node: yaml.Node, key: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (self.text(node, key),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, key, "expected a line of text or a list of lines")
        return tuple(self.text(item, f"{key}[{i}]") for i, item in enumerate(node.value))

    def integer(self, node: yaml.Node, key: str, minimum: int, maximum: int = MAX_COUNT) -> int:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(node, key, f"expected a whole number, got {value!r}")
        if value < minimum:
            raise self.fail(node, key, f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise self.fail(node, key, f"must be at most {maximum}, got {value}")
        return value

    def number(self, node: yaml.Node, key: str, low: float, high: float) -> float:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self.fail(node, key, f"expected a number from {low} to {high}, got {value!r}")
        return float(value)

    def duration(self, node: yaml.Node, key: str) -> int:
        value = self.scalar(node, key)
        try:
            ms = parse_duration_ms(value)
        except ValueError as err:
            raise self.fail(node, key, str(err)) from None
        if ms > MAX_DURATION_MS:
            raise self.fail(node, key, f"must be at most {MAX_DURATION_MS // 60000} minutes, got {value!r}")
        return ms

    def choice(self, node: yaml.Node, key: str, options: tuple[Choice, ...]) -> Choice:
        value = self.scalar(node, key)
        for option in options:
            if value == option:
                return option
        raise self.fail(node, key, f"expected one of {', '.join(options)}, got {value!r}")

    def boolean(self, node: yaml.Node, key: str) -> bool:
        value = self.scalar(node, key)
        if not isinstance(value, bool):
            raise self.fail(node, key, f"expected true or false, got {value!r}")
        return value

    def identifier(self, node: yaml.Node, key: str) -> str:
        value = self.text(node, key)
        if not value.replace("_", "").replace("-", "").isalnum():
            raise self.fail(node, key, f"use letters, digits, '-' and '_' only, got {value!r}")
        return value

    def file_name(self, node: yaml.Node, key: str) -> str:
        """A name that becomes part of a file name (routine id, level): see names.py."""
        value = self.scalar(node, key)
        problem = name_problem(value)
        if problem:
            raise self.fail(node, key, problem)
        return str(value)

    def engine(self, node: yaml.Node, key: str) -> str:
        value = self.scalar(node, key)
        if value not in engine_names():
            raise self.fail(node, key, f"unknown engine {value!r}: choose one of {', '.join(engine_names())}")
        return str(value)


ROUTINE_KEYS = (
    "id", "title", "description", "language", "author", "clinic", "safety", "warmup",
    "intro", "outro", "voice", "levels", "exercises", "phrases", "get_ready", "gap",
    "transition", "circuits", "sounds", "loudness", "libraries", "music",
)
LIBRARY_KEYS = ("library", "exercises")
CIRCUIT_KEYS = ("name", "exercises", "rounds", "rest")
EXERCISE_CUE_KEYS = ("name", "setup", "movement", "hold", "release", "rep", "inhale", "exhale", "caution")
EXERCISE_KEYS = ("id",) + EXERCISE_CUE_KEYS + ("variants", "dosage")
USE_KEYS = ("use", "dosage") + EXERCISE_CUE_KEYS
DOSAGE_KEYS = (
    "reps", "sets", "hold", "rest", "set_rest", "side_rest", "rep_time", "work", "move",
    "transition", "sides", "count", "breath", "countdown", "halfway", "variant", "skip",
)


def load_script(path: StrPath, libraries: dict[Path, Library] | None = None) -> Routine:
    """Read and validate a script file. `libraries` caches the exercise libraries read, by
    resolved path: pass one dict to every script of a build to read each library once."""
    path = Path(path)
    raw = read_input(path)
    return parse_script(decode_input(raw, str(path)), str(path), hashlib.sha256(raw).hexdigest(), libraries)


def parse_script(
    text: str, path: str = "<script>", sha256: str = "", libraries: dict[Path, Library] | None = None
) -> Routine:
    """Validate a script given as text. Library paths are relative to `path`'s folder."""
    reader = _Reader(path)
    root = _compose(text, path)
    if root is None:
        raise ScriptError("the script is empty", file=path, hint="run 'audioroutine example' for a template")
    top = reader.mapping(root, "", ROUTINE_KEYS)
    for required in ("id", "title", "exercises"):
        if required not in top:
            raise reader.fail(root, required, "missing required key")

    levels = _levels(reader, top.get("levels"))
    level_ids = tuple(level.id for level in levels)
    phrases = {}
    if "phrases" in top:
        for name, node in reader.mapping(top["phrases"], "phrases", PHRASE_KEYS).items():
            phrases[name] = reader.text(node, f"phrases.{name}")
            problem = check_template(name, phrases[name])
            if problem:
                raise reader.fail(node, f"phrases.{name}", problem)

    ex_node = top["exercises"]
    if not isinstance(ex_node, yaml.SequenceNode) or not ex_node.value:
        raise reader.fail(ex_node, "exercises", "expected a list with at least one exercise")
    if len(ex_node.value) > MAX_EXERCISES:
        raise reader.fail(ex_node, "exercises", f"at most {MAX_EXERCISES} exercises, got {len(ex_node.value)}")
    library = _libraries(reader, top["libraries"], libraries) if "libraries" in top else {}
    exercises = []
    seen: set[str] = set()
    used: list[tuple[str, str]] = []    # (id, the library exercise's YAML) of every `use:`
    for index, node in enumerate(ex_node.value):
        if isinstance(node, yaml.MappingNode) and any(k.value == "use" for k, _ in node.value):
            exercise, source = _used_exercise(reader, node, f"exercises[{index}]", level_ids, library)
            used.append(source)
        else:
            exercise = _exercise(reader, node, f"exercises[{index}]", level_ids)
        if exercise.id in seen:
            raise reader.fail(node, f"exercises[{index}].id", f"duplicate exercise id '{exercise.id}'")
        seen.add(exercise.id)
        exercises.append(exercise)
    reader.exercise = None

    def opt(key: str, conv: Callable[[yaml.Node, str], Any], default: Any = None) -> Any:
        return conv(top[key], key) if key in top else default

    routine = Routine(
        id=reader.file_name(top["id"], "id"),
        title=reader.text(top["title"], "title"),
        description=opt("description", reader.text, ""),
        language=opt("language", reader.identifier, "en"),
        author=opt("author", reader.text),
        clinic=opt("clinic", reader.text),
        safety=opt("safety", reader.texts, ()),
        warmup=opt("warmup", reader.text),
        intro=opt("intro", reader.text),
        outro=opt("outro", reader.text),
        voice=_voice(reader, top["voice"]) if "voice" in top else VoiceSettings(),
        levels=levels,
        exercises=tuple(exercises),
        phrases=phrases,
        get_ready_ms=opt("get_ready", reader.duration, 3000),
        gap_ms=opt("gap", reader.duration, 600),
        transition_ms=opt("transition", reader.duration, 0),
        circuits=_circuits(reader, top["circuits"], tuple(exercises), levels) if "circuits" in top else (),
        sounds=_sounds(reader, top["sounds"]) if "sounds" in top else SoundSettings(),
        loudness=_loudness(reader, top["loudness"]) if "loudness" in top else LoudnessSettings(),
        music=_music(reader, top["music"], path) if "music" in top else None,
        path=path,
        sha256=_with_libraries(sha256 or hashlib.sha256(text.encode()).hexdigest(), used),
    )
    _check_size(reader, routine)
    return routine


_SAFE_TAGS = {"!"} | {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}


def _compose(text: str, path: str) -> yaml.Node | None:
    """The YAML node tree, after `_scan` has bounded its size; every YAML error is a ScriptError."""
    _scan(text, path)
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:       # libyaml: ~10x faster on a large script
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass               # PyYAML's composer below gives the error messages users see
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = err.problem or err.context or "invalid YAML"
        raise ScriptError(
            f"YAML syntax error: {problem}",
            file=path,
            line=mark.line + 1 if mark else None,
            hint="check indentation and quoting",
        ) from None
    except yaml.reader.ReaderError as err:   # a character YAML does not allow
        line = text[:err.position].count("\n") + 1
        raise ScriptError(f"control character U+{err.character:04X} is not allowed", file=path, line=line) from None
    except RecursionError:    # _scan stops deep nesting first; this is the safety net
        raise ScriptError(f"nested more than {MAX_DEPTH} levels deep", file=path) from None


def _scan(text: str, path: str) -> None:
    """Check nesting depth, the number of values and tags on the event stream (not recursive)
    before the recursive composer runs: with libyaml when present (fast), and again with
    PyYAML's own parser when libyaml stops at an error, since libyaml scans ahead and fails
    deep nesting before our limit is seen. Syntax errors are left to the composer, whose
    messages are the ones users see."""
    for loader in dict.fromkeys([getattr(yaml, "CSafeLoader", yaml.SafeLoader), yaml.SafeLoader]):
        try:
            _scan_events(yaml.parse(text, Loader=loader), path)
            return
        except yaml.YAMLError:
            continue


def _scan_events(events: Iterator[yaml.Event], path: str) -> None:
    """Raise at the first event past MAX_DEPTH or MAX_VALUES, or with a tag outside _SAFE_TAGS."""
    depth = values = 0

    def fail(event: yaml.Event, message: str) -> ScriptError:
        return ScriptError(message, file=path, line=event.start_mark.line + 1)

    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise fail(event, f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            values += 1
            if values > MAX_VALUES:
                raise fail(event, f"more than {MAX_VALUES:,} values")
        tag = getattr(event, "tag", None)
        if tag and tag not in _SAFE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise fail(event, f"unsupported YAML tag '{shown}'")


def _circuits(reader: _Reader, node: yaml.Node, exercises: tuple[Exercise, ...],
              levels: tuple[Level, ...]) -> tuple[Circuit, ...]:
    """`circuits:` a list of {name, exercises: [ids], rounds: N or {level: N}, rest}. The
    exercises of a circuit must follow each other in the script; none is in two circuits."""
    if not isinstance(node, yaml.SequenceNode):
        raise reader.fail(node, "circuits", "expected a list of circuits")
    order = [exercise.id for exercise in exercises]
    used: set[str] = set()
    out = []
    for index, item in enumerate(node.value):
        key = f"circuits[{index}]"
        keys = reader.mapping(item, key, CIRCUIT_KEYS)
        for required in ("name", "exercises", "rounds"):
            if required not in keys:
                raise reader.fail(item, f"{key}.{required}", "missing required key")
        ids_node = keys["exercises"]
        if not isinstance(ids_node, yaml.SequenceNode) or not ids_node.value:
            raise reader.fail(ids_node, f"{key}.exercises", "expected a list of exercise ids")
        ids = tuple(reader.identifier(n, f"{key}.exercises[{i}]") for i, n in enumerate(ids_node.value))
        for i, ex_id in enumerate(ids):
            if ex_id not in order:
                raise reader.fail(ids_node.value[i], f"{key}.exercises[{i}]", f"no exercise with id '{ex_id}'",
                                  key_hint(ex_id, tuple(order)))
            if ex_id in used or ids.count(ex_id) > 1:
                raise reader.fail(ids_node.value[i], f"{key}.exercises[{i}]", f"exercise '{ex_id}' is in two circuits")
        start = order.index(ids[0])
        if tuple(order[start:start + len(ids)]) != ids:
            raise reader.fail(ids_node, f"{key}.exercises", "a circuit's exercises must follow each other in the "
                              "script, in the same order", f"exercises in order: {', '.join(order)}")
        used.update(ids)
        rounds_node = keys["rounds"]
        if isinstance(rounds_node, yaml.MappingNode):
            level_ids = tuple(level.id for level in levels)
            given = reader.mapping(rounds_node, f"{key}.rounds", level_ids)
            rounds = {name: reader.integer(n, f"{key}.rounds.{name}", 1) for name, n in given.items()}
        else:
            count = reader.integer(rounds_node, f"{key}.rounds", 1)
            rounds = {level.id: count for level in levels}
        rest = reader.duration(keys["rest"], f"{key}.rest") if "rest" in keys else 0
        out.append(Circuit(reader.text(keys["name"], f"{key}.name"), ids, rounds, rest, item.start_mark.line + 1))
    return tuple(out)


def rounds_of(routine: Routine, exercise_id: str, level: str) -> int:
    """How many times an exercise is done at a level: its circuit's rounds, else once."""
    for circuit in routine.circuits:
        if exercise_id in circuit.exercises:
            return circuit.rounds_for(level)
    return 1


def _check_size(reader: _Reader, routine: Routine) -> None:
    """Reject a session that would be too long, from its dosage alone (no speech yet): at
    most MAX_SESSION_REPS reps, and holds, breaths and rep times adding up to at most
    MAX_SESSION_MS. The compiled session is checked again with speech (build.plan)."""
    for level in routine.levels:
        reps = floor = 0
        for exercise in routine.exercises:
            dose = exercise.dosage[level.id]
            if dose.skip:
                continue
            sides = 2 if dose.sides == "each" else 1
            count = dose.sets * dose.reps * sides * rounds_of(routine, exercise.id, level.id)
            breath = dose.breath.inhale_ms + dose.breath.exhale_ms if dose.breath else 0
            reps += count
            each = dose.hold_ms or breath or dose.rep_ms or dose.work_ms
            floor += count * each + (dose.sets - 1) * dose.set_rest_ms
            if reps > MAX_SESSION_REPS or floor > MAX_SESSION_MS:
                reader.exercise = exercise.cues_for(level.id).name
                what = f"has {reps} reps" if reps > MAX_SESSION_REPS else f"lasts at least {format_hms(floor)}"
                limit = MAX_SESSION_REPS if reps > MAX_SESSION_REPS else format_hms(MAX_SESSION_MS)
                raise ScriptError(f"level '{level.id}' {what} by here: the limit is {limit}", file=routine.path,
                                  line=exercise.line, exercise=reader.exercise)


def _voice(reader: _Reader, node: yaml.Node) -> VoiceSettings:
    keys = reader.mapping(node, "voice", ("engine", "voice", "rate"))
    return VoiceSettings(
        engine=reader.engine(keys["engine"], "voice.engine") if "engine" in keys else None,
        voice=reader.text(keys["voice"], "voice.voice") if "voice" in keys else None,
        rate=reader.number(keys["rate"], "voice.rate", 0.5, 2.0) if "rate" in keys else 1.0,
    )


def _sounds(reader: _Reader, node: yaml.Node) -> SoundSettings:
    """`sounds: true|false`, or per event (hold_start, hold_end, exercise): a sound name or true|false."""
    if isinstance(node, yaml.ScalarNode):
        return SoundSettings.all_defaults() if reader.boolean(node, "sounds") else SoundSettings()
    chosen: dict[str, str | None] = {}
    for event, value in reader.mapping(node, "sounds", SOUND_EVENTS).items():
        key = f"sounds.{event}"
        raw = reader.scalar(value, key)
        if isinstance(raw, bool):
            chosen[event] = DEFAULT_SOUNDS[event] if raw else None
        elif raw in SOUNDS:
            chosen[event] = str(raw)
        else:
            raise reader.fail(value, key, f"expected true, false or one of {', '.join(SOUNDS)}, got {raw!r}")
    return SoundSettings(**chosen)


def _loudness(reader: _Reader, node: yaml.Node) -> LoudnessSettings:
    """`loudness: false`, or `{target: LUFS, true_peak: dBTP}`."""
    if isinstance(node, yaml.ScalarNode):
        if reader.boolean(node, "loudness"):
            return LoudnessSettings()
        return LoudnessSettings(enabled=False)
    keys = reader.mapping(node, "loudness", ("target", "true_peak"))
    default = LoudnessSettings()
    return LoudnessSettings(
        target=reader.number(keys["target"], "loudness.target", -30.0, -10.0) if "target" in keys else default.target,
        true_peak=reader.number(keys["true_peak"], "loudness.true_peak", -9.0, 0.0)
        if "true_peak" in keys else default.true_peak,
    )


def _music(reader: _Reader, node: yaml.Node, path: str) -> Any:
    """`music: none`, a built-in bed, an audio file (relative to the script), or
    `{source: ..., level: -20, duck: 12}` (music.py)."""
    from .music_settings import MusicError, parse_music

    if isinstance(node, yaml.ScalarNode):
        value: Any = reader.scalar(node, "music")
    else:
        value = {name: reader.scalar(sub, f"music.{name}")
                 for name, sub in reader.mapping(node, "music", ("source", "level", "duck")).items()}
    try:
        return parse_music(value, str(Path(path).parent)) or "none"
    except MusicError as err:
        raise reader.fail(node, "music", str(err)) from None


def _levels(reader: _Reader, node: yaml.Node | None) -> tuple[Level, ...]:
    if node is None:
        return tuple(Level(id=name, title=name.capitalize()) for name in DEFAULT_LEVELS)
    if isinstance(node, yaml.SequenceNode):
        names = [reader.file_name(item, f"levels[{i}]") for i, item in enumerate(node.value)]
        entries = [(name, None, item) for name, item in zip(names, node.value)]
    else:
        entries = [(name, value, value) for name, value in reader.mapping(node, "levels", None).items()]
    if len(entries) > MAX_LEVELS:
        raise reader.fail(node, "levels", f"at most {MAX_LEVELS} levels, got {len(entries)}")
    levels = []
    for name, value, at in entries:
        key = f"levels.{name}"
        problem = name_problem(name)
        if problem:
            raise reader.fail(at, "levels", problem)
        if name in DOSAGE_KEYS:
            raise reader.fail(at, key, f"'{name}' is a dosage key and cannot name a level")
        title, rate, named = name.capitalize(), 1.0, False
        if value is not None and not (isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")):
            fields = reader.mapping(value, key, ("title", "rate"))
            title = reader.text(fields["title"], f"{key}.title") if "title" in fields else title
            rate = reader.number(fields["rate"], f"{key}.rate", 0.5, 2.0) if "rate" in fields else rate
            named = "title" in fields
        levels.append(Level(id=name, title=title, rate=rate, named=named))
    if not levels:
        raise reader.fail(node, "levels", "name at least one level")
    if len({level.id for level in levels}) != len(levels):
        raise reader.fail(node, "levels", "level names must be unique")
    return tuple(levels)


def _cues(reader: _Reader, keys: dict[str, yaml.Node], key: str, base: Cues | None) -> Cues:
    def get(name: str, conv: Callable[[yaml.Node, str], Any]) -> Any:
        if name in keys:
            return conv(keys[name], f"{key}.{name}")
        return getattr(base, name) if base else (() if name in ("setup", "movement") else None)

    if base is None and "name" not in keys:
        raise reader.fail(None, f"{key}.name", "missing required key")
    return Cues(
        name=get("name", reader.text),
        setup=get("setup", reader.texts),
        movement=get("movement", reader.texts),
        hold=get("hold", reader.text),
        release=get("release", reader.text),
        rep=get("rep", reader.text),
        inhale=get("inhale", reader.text),
        exhale=get("exhale", reader.text),
        caution=get("caution", reader.text),
    )


def _exercise(reader: _Reader, node: yaml.Node, key: str, level_ids: tuple[str, ...]) -> Exercise:
    reader.exercise = None
    keys = reader.mapping(node, key, None)
    if "name" in keys:
        reader.exercise = reader.text(keys["name"], f"{key}.name")
    assert isinstance(node, yaml.MappingNode)   # reader.mapping() has checked it: for the type checker
    reader.check_keys(node, key, EXERCISE_KEYS)
    if "name" not in keys:
        raise reader.fail(node, f"{key}.name", "missing required key")
    if "dosage" not in keys:
        raise reader.fail(node, f"{key}.dosage", "missing required key", "give reps, hold, sets... per level")
    ex_id = reader.identifier(keys["id"], f"{key}.id") if "id" in keys else _slug(reader.exercise or "")
    cues = _cues(reader, keys, key, None)
    variants: dict[str, Cues] = {}
    if "variants" in keys:
        for name, vnode in reader.mapping(keys["variants"], f"{key}.variants", None).items():
            vkey = f"{key}.variants.{name}"
            variants[name] = _cues(reader, reader.mapping(vnode, vkey, EXERCISE_CUE_KEYS), vkey, cues)
    dosage_key = next(k for k, _ in node.value if k.value == "dosage")
    dosage = _dosage_per_level(reader, keys["dosage"], dosage_key, f"{key}.dosage", level_ids, variants)
    return Exercise(id=ex_id, cues=cues, variants=variants, dosage=dosage, line=node.start_mark.line + 1)


@dataclass(frozen=True)
class Library:
    """An exercise library file: exercises (as YAML nodes, checked when a routine uses them,
    since only the routine knows its levels) by id."""

    path: str
    name: str
    exercises: dict[str, yaml.MappingNode]


def _load_library(path: Path, shown: str) -> Library:
    """Read a library file with the same limits and strictness as a script."""
    text = decode_input(read_input(path, "library"), shown)
    reader = _Reader(shown)
    root = _compose(text, shown)
    if root is None:
        raise ScriptError("the library is empty", file=shown)
    top = reader.mapping(root, "", LIBRARY_KEYS)
    for required in LIBRARY_KEYS:
        if required not in top:
            raise reader.fail(root, required, "missing required key",
                              "a library file has 'library: NAME' and 'exercises:'")
    name = reader.text(top["library"], "library")
    ex_node = top["exercises"]
    if not isinstance(ex_node, yaml.SequenceNode) or not ex_node.value:
        raise reader.fail(ex_node, "exercises", "expected a list with at least one exercise")
    if len(ex_node.value) > MAX_EXERCISES:
        raise reader.fail(ex_node, "exercises", f"at most {MAX_EXERCISES} exercises, got {len(ex_node.value)}")
    exercises: dict[str, yaml.MappingNode] = {}
    for index, node in enumerate(ex_node.value):
        key = f"exercises[{index}]"
        keys = reader.mapping(node, key, EXERCISE_KEYS)
        assert isinstance(node, yaml.MappingNode)
        if "name" not in keys:
            raise reader.fail(node, f"{key}.name", "missing required key")
        ex_id = reader.identifier(keys["id"], f"{key}.id") if "id" in keys else _slug(reader.text(keys["name"], key))
        if ex_id in exercises:
            raise reader.fail(node, f"{key}.id", f"duplicate exercise id '{ex_id}'")
        exercises[ex_id] = node
    return Library(path=shown, name=name, exercises=exercises)


def _libraries(
    reader: _Reader, node: yaml.Node, cache: dict[Path, Library] | None
) -> dict[str, tuple[Library, yaml.MappingNode]]:
    """`libraries: [file, ...]`, relative to the script's folder → exercise id → (library, node)."""
    cache = {} if cache is None else cache
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if isinstance(node, yaml.MappingNode):
        raise reader.fail(node, "libraries", "expected a file name or a list of file names")
    base = Path(reader.path).parent
    out: dict[str, tuple[Library, yaml.MappingNode]] = {}
    for index, item in enumerate(items):
        key = f"libraries[{index}]" if isinstance(node, yaml.SequenceNode) else "libraries"
        entry = reader.text(item, key)
        if Path(entry).is_absolute():
            raise reader.fail(item, key, f"library path {entry!r} is absolute",
                              "give it relative to the script's folder")
        path = base / entry
        try:
            resolved = path.resolve()
            found = resolved.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise reader.fail(item, key, f"library {entry!r} not found ({path})", "check the path")
        if resolved not in cache:
            cache[resolved] = _load_library(resolved, str(path))
        library = cache[resolved]
        for ex_id, ex_node in library.exercises.items():
            if ex_id in out and out[ex_id][0] is not library:
                raise reader.fail(item, key, f"exercise id '{ex_id}' is in two libraries: "
                                             f"{out[ex_id][0].path} and {library.path}")
            out[ex_id] = (library, ex_node)
    return out


def _register(reader: _Reader, node: yaml.Node, file: str) -> None:
    """Errors about `node` and everything under it name `file` (a library), not the script."""
    reader.origin[id(node)] = file
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _register(reader, item, file)
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            _register(reader, key_node, file)
            _register(reader, value_node, file)


def _merged(over: yaml.MappingNode, base: yaml.MappingNode, levels: tuple[str, ...]) -> yaml.MappingNode:
    """`base`'s pairs with `over`'s keys replacing them; level blocks present in both are
    merged key by key the same way. Carries `over`'s marks (the routine's line)."""
    pairs = {k.value: (k, v) for k, v in base.value}
    for k, v in over.value:
        old = pairs.get(k.value)
        if (k.value in levels and old is not None
                and isinstance(v, yaml.MappingNode) and isinstance(old[1], yaml.MappingNode)):
            v = _merged(v, old[1], ())
        pairs[k.value] = (k, v)
    return yaml.MappingNode("tag:yaml.org,2002:map", list(pairs.values()), over.start_mark, over.end_mark)


def _used_exercise(
    reader: _Reader, node: yaml.MappingNode, key: str, level_ids: tuple[str, ...],
    library: dict[str, tuple[Library, yaml.MappingNode]],
) -> tuple[Exercise, tuple[str, str]]:
    """`- use: ID` with optional `dosage:` (merged over the library's) and cue overrides."""
    reader.exercise = None
    keys = reader.mapping(node, key, USE_KEYS)
    use_node = keys["use"]
    ex_id = reader.identifier(use_node, f"{key}.use")
    if ex_id not in library:
        if not library:
            raise reader.fail(use_node, f"{key}.use", f"no exercise '{ex_id}': the script names no 'libraries'")
        raise reader.fail(use_node, f"{key}.use", f"no exercise '{ex_id}' in the libraries",
                          key_hint(ex_id, sorted(library)))
    lib, lib_node = library[ex_id]
    _register(reader, lib_node, lib.path)
    pairs = {k.value: (k, v) for k, v in lib_node.value}
    for k, v in node.value:
        if k.value == "use":
            continue
        if k.value == "dosage" and "dosage" in pairs:
            base = pairs["dosage"][1]
            if isinstance(v, yaml.MappingNode) and isinstance(base, yaml.MappingNode):
                v = _merged(v, base, level_ids)
        pairs[k.value] = (k, v)
    merged = yaml.MappingNode("tag:yaml.org,2002:map", list(pairs.values()), node.start_mark, node.end_mark)
    exercise = _exercise(reader, merged, key, level_ids)
    exercise = Exercise(id=ex_id, cues=exercise.cues, variants=exercise.variants, dosage=exercise.dosage,
                        line=exercise.line)
    return exercise, (ex_id, yaml.serialize(lib_node))


def _with_libraries(sha256: str, used: list[tuple[str, str]]) -> str:
    """The script's hash, extended by the source of exactly the library exercises it uses:
    editing one library exercise changes the hash of the routines using it, and no other."""
    if not used:
        return sha256
    digest = hashlib.sha256(sha256.encode())
    for ex_id, source in used:
        digest.update(f"\0{ex_id}\0{source}".encode())
    return digest.hexdigest()


def _dosage_per_level(
    reader: _Reader, node: yaml.Node, key_node: yaml.Node, key: str, level_ids: tuple[str, ...],
    variants: dict[str, Cues],
) -> dict[str, Dosage]:
    fields = reader.mapping(node, key, DOSAGE_KEYS + level_ids)
    common = {name: value for name, value in fields.items() if name in DOSAGE_KEYS}
    out = {}
    for level in level_ids:
        merged = dict(common)
        if level in fields:
            merged.update(reader.mapping(fields[level], f"{key}.{level}", DOSAGE_KEYS))
        at = fields.get(level, key_node)
        out[level] = _dosage(reader, merged, f"{key}.{level}" if level in fields else key, at, variants)
    return out


def _dosage(
    reader: _Reader, f: dict[str, yaml.Node], key: str, at: yaml.Node, variants: dict[str, Cues]
) -> Dosage:
    def k(name: str) -> str:
        return f"{key}.{name}"

    breath = None
    if "breath" in f:
        b = reader.mapping(f["breath"], k("breath"), ("in", "out"))
        for part in ("in", "out"):
            if part not in b:
                raise reader.fail(f["breath"], f"{k('breath')}.{part}", "missing required key")
        breath = Breath(reader.duration(b["in"], k("breath.in")), reader.duration(b["out"], k("breath.out")))
        if not breath.inhale_ms or not breath.exhale_ms:
            raise reader.fail(f["breath"], k("breath"), "breaths must last longer than zero")
    variant = reader.text(f["variant"], k("variant")) if "variant" in f else None
    if variant is not None and variant not in variants:
        known = ", ".join(variants) or "none defined"
        raise reader.fail(f["variant"], k("variant"), f"unknown variant '{variant}'", f"variants: {known}")
    dosage = Dosage(
        reps=reader.integer(f["reps"], k("reps"), 1) if "reps" in f else 1,
        sets=reader.integer(f["sets"], k("sets"), 1) if "sets" in f else 1,
        hold_ms=reader.duration(f["hold"], k("hold")) if "hold" in f else 0,
        rest_ms=reader.duration(f["rest"], k("rest")) if "rest" in f else 0,
        set_rest_ms=reader.duration(f["set_rest"], k("set_rest")) if "set_rest" in f else 30000,
        side_rest_ms=reader.duration(f["side_rest"], k("side_rest")) if "side_rest" in f else None,
        rep_ms=reader.duration(f["rep_time"], k("rep_time")) if "rep_time" in f else 0,
        work_ms=reader.duration(f["work"], k("work")) if "work" in f else 0,
        move_ms=reader.duration(f["move"], k("move")) if "move" in f else 0,
        transition_ms=reader.duration(f["transition"], k("transition")) if "transition" in f else None,
        sides=reader.choice(f["sides"], k("sides"), SIDES) if "sides" in f else "none",
        count=reader.choice(f["count"], k("count"), COUNTS) if "count" in f else "total",
        breath=breath,
        countdown=_countdown(reader, f, k("countdown")),
        halfway=reader.boolean(f["halfway"], k("halfway")) if "halfway" in f else False,
        variant=variant,
        skip=reader.boolean(f["skip"], k("skip")) if "skip" in f else False,
        line=at.start_mark.line + 1,
    )
    kinds = [name for name in ("hold", "breath", "rep_time", "work") if name in f]
    if len(kinds) > 1:
        raise reader.fail(at, key, f"give only one of 'hold', 'breath', 'rep_time' or 'work', not both "
                                   f"'{kinds[0]}' and '{kinds[1]}'")
    if not dosage.skip and not kinds:
        raise reader.fail(at, key, "say how long a rep lasts", "give 'hold', 'breath', 'rep_time' or 'work'")
    for name, value in (("countdown", dosage.countdown), ("halfway", dosage.halfway), ("move", dosage.move_ms)):
        if value and not dosage.hold_ms:
            raise reader.fail(f[name], k(name), f"'{name}' needs a 'hold'")
    if dosage.countdown and dosage.countdown * 1000 >= dosage.hold_ms:
        raise reader.fail(f["countdown"], k("countdown"), "the countdown must be shorter than the hold")
    if dosage.halfway and dosage.hold_ms // 2 + HALFWAY_ROOM_MS > dosage.hold_ms - dosage.countdown * 1000:
        room = "the countdown" if dosage.countdown else "the end of the hold"
        raise reader.fail(f["halfway"], k("halfway"),
                          f"'halfway' at {dosage.hold_ms / 2000:g} s would collide with {room}",
                          "lengthen the hold or shorten the countdown")
    if "count" in f and dosage.sides != "alternating":
        raise reader.fail(f["count"], k("count"), "'count' applies to 'sides: alternating' only")
    if "side_rest" in f and dosage.sides != "each":
        raise reader.fail(f["side_rest"], k("side_rest"), "'side_rest' applies to 'sides: each' only")
    return dosage


def _countdown(reader: _Reader, f: dict[str, yaml.Node], key: str) -> int:
    """`countdown: N` speaks the last N seconds of each hold; `true` means the last 3
    (or, for holds of 3 s or less, every whole second but the first)."""
    if "countdown" not in f:
        return 0
    node = f["countdown"]
    if isinstance(reader.scalar(node, key), bool):
        if not reader.boolean(node, key):
            return 0
        if "hold" not in f:
            raise reader.fail(node, key, "a countdown needs a 'hold'")
        hold_ms = reader.duration(f["hold"], key.rsplit(".", 1)[0] + ".hold")
        return min(DEFAULT_COUNTDOWN, (hold_ms - 1) // 1000)
    return reader.integer(node, key, 0)


def _slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "exercise"
