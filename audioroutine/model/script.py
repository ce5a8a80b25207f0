"""Script: a routine in YAML → a validated `Routine`. Strict: unknown keys are errors.

Every error names the file, the line, the key path and, where it applies, the exercise; the
errors of independent parts (two exercises, two top-level values) are all reported. The
routine types live in routine.py, dosage rules in dosage.py, exercises in exercises.py,
libraries in library.py; their public names are importable from here as before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ScriptError, key_hint
from ..core.files import StrPath
from ..core.limits import MAX_EXERCISES, MAX_LEVELS, MAX_SESSION_MS, MAX_SESSION_REPS
from ..core.reader import compose_yaml, read_text
from .dosage import DOSAGE_KEYS
from .durations import format_hms
from .exercises import EXERCISE_CUE_KEYS, EXERCISE_KEYS, USE_KEYS, read_encourage, read_exercise
from .fields import FieldReader
from .library import LIBRARY_KEYS, Library, read_libraries, used_exercise, with_libraries
from .loudness_settings import LoudnessSettings
from .music_settings import MusicError, parse_music
from .names import name_problem
from .phrases import PHRASE_KEYS, check_template
from .routine import (
    COUNTS,
    DEFAULT_COUNTDOWN,
    DEFAULT_LEVELS,
    HALFWAY_ROOM_MS,
    SIDES,
    Breath,
    Circuit,
    Count,
    Cues,
    Dosage,
    Exercise,
    Level,
    Routine,
    Sides,
    VoiceSettings,
    rounds_of,
)
from .sounds import DEFAULTS as DEFAULT_SOUNDS
from .sounds import EVENTS as SOUND_EVENTS
from .sounds import SOUNDS, SoundSettings

__all__ = [
    "COUNTS", "CIRCUIT_KEYS", "DEFAULT_COUNTDOWN", "DEFAULT_LEVELS", "DOSAGE_KEYS", "EXERCISE_CUE_KEYS",
    "EXERCISE_KEYS", "HALFWAY_ROOM_MS", "LIBRARY_KEYS", "ROUTINE_KEYS", "SIDES", "USE_KEYS", "Breath", "Circuit",
    "Count", "Cues", "Dosage", "Exercise", "Level", "Library", "Routine", "Sides", "VoiceSettings", "load_script",
    "parse_script", "rounds_of",
]

# --- loading -----------------------------------------------------------------------------

ROUTINE_KEYS = (
    "id", "title", "description", "language", "author", "clinic", "safety", "warmup",
    "intro", "outro", "voice", "levels", "exercises", "phrases", "get_ready", "gap",
    "transition", "circuits", "sounds", "loudness", "libraries", "mixed_languages",
    "music", "encourage",
)
CIRCUIT_KEYS = ("name", "exercises", "rounds", "rest")


def load_script(path: StrPath, libraries: dict[Path, Library] | None = None) -> Routine:
    """Read and validate a script file. `libraries` caches the exercise libraries read, by
    resolved path: pass one dict to every script of a build to read each library once."""
    path = Path(path)
    text, raw = read_text(path)
    return parse_script(text, str(path), hashlib.sha256(raw).hexdigest(), libraries)


def parse_script(
    text: str, path: str = "<script>", sha256: str = "", libraries: dict[Path, Library] | None = None
) -> Routine:
    """Validate a script given as text. Library paths are relative to `path`'s folder.
    Errors of independent parts (top-level keys, exercises, titles...) are all reported."""
    reader = FieldReader(path)
    root = compose_yaml(text, path)
    if root is None:
        raise ScriptError("the script is empty", file=path, hint="run 'audioroutine example' for a template")
    top = reader.top(root, ROUTINE_KEYS, "a routine script", keep_going=True)
    for required in ("id", "title", "exercises"):
        if required not in top:
            reader.errors.append(reader.fail(root, required, "missing required key"))
    try:
        levels = _levels(reader, top.get("levels"))
    except ScriptError as err:        # every dosage depends on the levels: stop here, with what was found
        reader.errors.append(err)
        reader.raise_errors()
        raise
    phrases: dict[str, str] = {}
    with reader.collect():
        phrases = _phrases(reader, top)
    exercises, used = _exercises(reader, top, tuple(level.id for level in levels), libraries)
    head = _head(reader, top)
    reader.raise_errors()
    routine = Routine(
        **head, levels=levels, exercises=tuple(exercises), phrases=phrases,
        circuits=_circuits(reader, top["circuits"], tuple(exercises), levels) if "circuits" in top else (),
        path=path, sha256=with_libraries(sha256 or hashlib.sha256(text.encode()).hexdigest(), used),
        lines=_lines(top),
    )
    _check_size(reader, routine)
    return routine


def _lines(top: dict[str, yaml.Node]) -> dict[str, int]:
    """Lines of the keys the language guard names in its errors."""
    lines: dict[str, int] = {key: top[key].start_mark.line + 1 for key in ("language", "voice", "mixed_languages")
                             if key in top}
    voice = top.get("voice")
    if isinstance(voice, yaml.MappingNode):
        lines.update({f"voice.{k.value}": v.start_mark.line + 1 for k, v in voice.value
                      if k.value in ("engine", "voice")})
    return lines


def _phrases(reader: FieldReader, top: dict[str, yaml.Node]) -> dict[str, str]:
    phrases = {}
    if "phrases" in top:
        for name, node in reader.mapping(top["phrases"], "phrases", PHRASE_KEYS).items():
            phrases[name] = reader.text(node, f"phrases.{name}")
            problem = check_template(name, phrases[name])
            if problem:
                raise reader.fail(node, f"phrases.{name}", problem)
    return phrases


def _exercises(reader: FieldReader, top: dict[str, yaml.Node], level_ids: tuple[str, ...],
               libraries: dict[Path, Library] | None) -> tuple[list[Exercise], list[tuple[str, str]]]:
    """The exercises, each checked on its own: the errors of every exercise are kept."""
    exercises: list[Exercise] = []
    used: list[tuple[str, str]] = []    # (id, the library exercise's YAML) of every `use:`
    ex_node = top.get("exercises")
    with reader.collect():
        if ex_node is None:
            return exercises, used
        if not isinstance(ex_node, yaml.SequenceNode) or not ex_node.value:
            raise reader.fail(ex_node, "exercises", "expected a list with at least one exercise")
        if len(ex_node.value) > MAX_EXERCISES:
            raise reader.fail(ex_node, "exercises", f"at most {MAX_EXERCISES} exercises, got {len(ex_node.value)}")
        library = read_libraries(reader, top["libraries"], libraries) if "libraries" in top else {}
        seen: set[str] = set()
        for index, node in enumerate(ex_node.value):
            with reader.collect():
                if isinstance(node, yaml.MappingNode) and any(k.value == "use" for k, _ in node.value):
                    exercise, source = used_exercise(reader, node, f"exercises[{index}]", level_ids, library)
                    used.append(source)
                else:
                    exercise = read_exercise(reader, node, f"exercises[{index}]", level_ids)
                if exercise.id in seen:
                    raise reader.fail(node, f"exercises[{index}].id", f"duplicate exercise id '{exercise.id}'")
                seen.add(exercise.id)
                exercises.append(exercise)
    reader.exercise = None
    return exercises, used


_HEAD_DEFAULTS: dict[str, Any] = {
    "description": "", "language": "en", "author": None, "clinic": None, "safety": (), "warmup": None,
    "intro": None, "outro": None, "voice": VoiceSettings(),
}
_HEAD_FIELDS = {"get_ready": "get_ready_ms", "gap": "gap_ms", "transition": "transition_ms"}


def _head(reader: FieldReader, top: dict[str, yaml.Node]) -> dict[str, Any]:
    """The routine's own values (id, title, texts, voice, timing, sounds, loudness) by field
    name: each checked on its own, every error kept."""
    read: dict[str, Callable[[yaml.Node, str], Any]] = {
        "id": reader.file_name, "title": reader.text, "description": reader.text, "language": reader.identifier,
        "author": reader.text, "clinic": reader.text, "safety": reader.texts, "warmup": reader.text,
        "intro": reader.text, "outro": reader.text, "voice": lambda node, key: _voice(reader, node),
        "get_ready": reader.duration, "gap": reader.duration, "transition": reader.duration,
        "sounds": lambda node, key: _sounds(reader, node), "loudness": lambda node, key: _loudness(reader, node),
        "mixed_languages": reader.boolean, "music": lambda node, key: _music(reader, node),
        "encourage": lambda node, key: read_encourage(reader, node, key),
    }
    out = dict(_HEAD_DEFAULTS)
    for key, conv in read.items():
        if key in top:
            with reader.collect():
                out[_HEAD_FIELDS.get(key, key)] = conv(top[key], key)
    return out


def _circuits(reader: FieldReader, node: yaml.Node, exercises: tuple[Exercise, ...],
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


def _check_size(reader: FieldReader, routine: Routine) -> None:
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


def _voice(reader: FieldReader, node: yaml.Node) -> VoiceSettings:
    keys = reader.mapping(node, "voice", ("engine", "voice", "rate"))
    return VoiceSettings(
        engine=reader.engine(keys["engine"], "voice.engine") if "engine" in keys else None,
        voice=reader.text(keys["voice"], "voice.voice") if "voice" in keys else None,
        rate=reader.number(keys["rate"], "voice.rate", 0.5, 2.0) if "rate" in keys else 1.0,
    )


def _sounds(reader: FieldReader, node: yaml.Node) -> SoundSettings:
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


def _loudness(reader: FieldReader, node: yaml.Node) -> LoudnessSettings:
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


def _music(reader: FieldReader, node: yaml.Node) -> Any:
    """`music: none`, a built-in bed, an audio file (relative to the script), or
    `{source: ..., level: -20, duck: 12}` (audio/music.py)."""
    if isinstance(node, yaml.ScalarNode):
        value: Any = reader.scalar(node, "music")
    else:
        value = {name: reader.scalar(sub, f"music.{name}")
                 for name, sub in reader.mapping(node, "music", ("source", "level", "duck")).items()}
    try:
        return parse_music(value, str(Path(reader.path).parent)) or "none"
    except MusicError as err:
        raise reader.fail(node, "music", str(err)) from None


def _levels(reader: FieldReader, node: yaml.Node | None) -> tuple[Level, ...]:
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
