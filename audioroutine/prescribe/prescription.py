"""Prescriptions: one row (CSV) or entry (YAML) per patient, each a routine (or programme)
with the patient's own exercises, dosages, level or week, language and voice.

Patient data stays out of logs and errors: an error names the file, the row (CSV) or line
(YAML), the column or key and, at most, the patient's reference; never a name or a value
from a name column. A first name is spoken only when the file opts in (docs/programmes.md).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .. import lang
from ..compile.compiler import compile_level, phrases_for
from ..core.errors import ScriptError, ScriptErrors, key_hint
from ..core.limits import MAX_COUNT, MAX_DURATION_MS, MAX_EXERCISES
from ..core.reader import (
    PathRefused,
    compose_yaml,
    control_problem,
    csv_rows,
    inside_roots,
    named_by,
    read_text,
    short,
    text_problem,
    whole_number,
)
from ..engines import ENGINES, engine_names
from ..model.durations import parse_duration_ms
from ..model.fields import FieldReader
from ..model.music_settings import MusicError, parse_music
from ..model.names import name_problem
from ..model.script import Routine, load_script
from .progression import (
    Programme,
    fit_hold_extras,
    load_named_script,
    load_programme,
    progression_routine,
    week_id,
)

COLUMNS = ("ref", "script", "programme", "exercises", "level", "week", "language", "voice", "engine", "first_name",
           "frequency", "clinician", "date", "mixed_languages", "music")
OVERRIDES = ("reps", "sets", "hold", "rest", "set_rest")   # per exercise: `<exercise id>.<key>` columns
DEFAULTS = ("frequency", "clinician", "date", "mixed_languages")   # an option here is every patient's default
OPTIONS = ("speak_first_names", *DEFAULTS)
MAX_FREE_TEXT = 80
MAX_PATIENTS = 5000
MAX_COLUMNS = len(COLUMNS) + len(OVERRIDES) * MAX_EXERCISES   # every column, every override of every exercise


class RowError(ScriptError):
    """A bad cell: `file:row:column: name: message` (CSV), or `file:line: key: message`."""

    def __init__(self, message: str, *, file: str, row: int | None, column: int | None = None,
                 name: str | None = None, ref: str | None = None, hint: str | None = None) -> None:
        self.row, self.column, self.name, self.ref = row, column, name, ref
        super().__init__(message, file=file, line=row, key=name, hint=hint)

    def _format(self) -> str:
        text = super()._format()
        if self.column is not None and self.row is not None:
            where = f"{self.file}:{self.row}"
            text = f"{where}:{self.column}" + text[len(where):]
        if self.ref:
            text = text.replace(": ", f": patient '{self.ref}': ", 1)
        return text


@dataclass
class Cell:
    value: str
    row: int | None          # CSV row, or YAML line
    column: int | None       # CSV column (1-based); None in YAML


@dataclass
class Entry:
    """One patient as read, before checking: cells by column or key."""

    cells: dict[str, Cell]
    row: int | None
    file: str
    ref: str | None = None

    def fail(self, key: str, message: str, hint: str | None = None) -> RowError:
        cell = self.cells.get(key)
        return RowError(message, file=self.file, row=cell.row if cell else self.row,
                        column=cell.column if cell else None, name=key, ref=self.ref, hint=hint)

    def get(self, key: str) -> str | None:
        cell = self.cells.get(key)
        return cell.value.strip() if cell and cell.value.strip() else None


@dataclass
class Patient:
    """One patient, checked: the derived routine and what to build of it."""

    ref: str
    routine: Routine
    levels: tuple[str, ...]
    engine: str | None = None
    voice: str | None = None
    first_name: str | None = None      # only when the file opts in
    row: int | None = None
    clinician: str | None = None       # for the handout
    date: str | None = None            # YYYY-MM-DD, for the handout


@dataclass
class Prescriptions:
    path: str
    patients: list[Patient] = field(default_factory=list)
    speak_first_names: bool = False
    names_ignored: int = 0             # rows with a first name not spoken (no opt-in)


def load_prescriptions(path: str | Path) -> Prescriptions:
    """Read and check every row; every bad row is reported (a RowError each), nothing built."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".yaml", ".yml"):
        raise ScriptError("a prescription file is .csv, .yaml or .yml", file=str(path))
    text, _ = read_text(path, "prescription file")
    errors: list[ScriptError] = []      # of entries that could not be read: the others are checked too
    if path.suffix.lower() == ".csv":
        options, entries = _read_csv(text, str(path))
    else:
        options, entries = _read_yaml(text, str(path), errors)
    speak = "speak_first_names" in options and _flag(options["speak_first_names"].value, str(path),
                                                     options["speak_first_names"].row, "speak_first_names")
    for entry in entries:   # a file-level option is every patient's default
        for key in DEFAULTS:
            if key in options and not entry.get(key):
                entry.cells[key] = options[key]
    out = Prescriptions(str(path), speak_first_names=speak)
    seen: dict[str, int | None] = {}
    cache: dict[tuple[str, str], tuple[Routine, Programme | None]] = {}
    for entry in entries:
        try:
            patient = _patient(entry, path.parent, speak, cache)
            if patient.ref in seen:
                raise entry.fail("ref", f"reference '{patient.ref}' is also used on row {seen[patient.ref]}")
        except ScriptErrors as err:
            errors += err.errors
            continue
        except ScriptError as err:
            errors.append(err)
            continue
        seen[patient.ref] = entry.row
        if entry.get("first_name") and not speak:
            out.names_ignored += 1
        out.patients.append(patient)
    if errors:
        errors.sort(key=lambda err: err.line or 0)
        raise errors[0] if len(errors) == 1 else ScriptErrors(errors)
    if not out.patients:
        raise ScriptError("no patients in this file", file=str(path))
    return out


def _flag(value: str, file: str, row: int | None, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    raise RowError(f"expected yes or no, got {short(value.strip())!r}", file=file, row=row, name=key)


def _read_csv(text: str, path: str) -> tuple[dict[str, Cell], list[Entry]]:
    """`# key: value` option lines first, then a header row and one row per patient."""
    lines = text.splitlines(keepends=True)
    options: dict[str, Cell] = {}
    start = 0
    for number, line in enumerate(lines, 1):
        if not line.startswith("#"):
            break
        start = number
        key, _, value = line[1:].partition(":")
        key = key.strip()
        if key not in OPTIONS:
            raise RowError(f"unknown option '{short(key)}'", file=path, row=number, name=short(key),
                           hint=key_hint(key, OPTIONS))
        options[key] = Cell(value.strip(), number, None)
    rows = csv_rows("".join(lines[start:]), path, start + 1, MAX_PATIENTS + 1, MAX_COLUMNS)
    if not rows:
        raise ScriptError("no header row", file=path)
    header = _header(rows[0], path, start + 1)
    entries = []
    for index, row in enumerate(rows[1:], start + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise RowError(f"{len(row)} cells but {len(header)} columns", file=path, row=index,
                           column=len(header) + 1)
        cells = {name: Cell(value, index, column) for column, (name, value) in enumerate(zip(header, row), 1)}
        entries.append(Entry(cells, index, path))
    if len(entries) > MAX_PATIENTS:
        raise ScriptError(f"at most {MAX_PATIENTS} patients per file, got {len(entries)}", file=path)
    return options, entries


def _header(row: list[str], path: str, line: int) -> list[str]:
    """The column names: known columns and `<exercise id>.<key>` overrides, each once, with `ref`."""
    header = [name.strip() for name in row]
    for column, name in enumerate(header, 1):
        ex, dot, key = name.partition(".")
        if name in COLUMNS or (dot and key in OVERRIDES and ex):
            continue
        hint = key_hint(key, OVERRIDES) if dot else key_hint(name, COLUMNS)
        raise RowError(f"unknown column '{short(name)}'", file=path, row=line, column=column,
                       name=short(name), hint=hint + "; per exercise: <exercise id>.<reps|sets|hold|rest|set_rest>")
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise RowError(f"column '{short(twice)}' appears twice", file=path, row=line,
                       column=header.index(twice) + 1, name=short(twice))
    if "ref" not in header:
        raise RowError("missing column 'ref'", file=path, row=line, hint="one patient reference per row")
    return header


def _read_yaml(text: str, path: str, errors: list[ScriptError]) -> tuple[dict[str, Cell], list[Entry]]:
    """`speak_first_names: yes` (optional) and `patients:`, a list of mappings. The errors of
    patients that cannot be read are added to `errors`; the others are returned."""
    reader = FieldReader(path)
    root = compose_yaml(text, path)
    if root is None:
        raise ScriptError("the prescription file is empty", file=path, hint="see docs/programmes.md")
    top = reader.top(root, ("patients", *OPTIONS), "a prescription file", "patients")
    options = {key: Cell(_yaml_cell(reader, top[key], key), top[key].start_mark.line + 1, None)
               for key in OPTIONS if key in top}
    node = top["patients"]
    if not isinstance(node, yaml.SequenceNode):
        raise reader.fail(node, "patients", "expected a list of patients")
    if len(node.value) > MAX_PATIENTS:
        raise ScriptError(f"at most {MAX_PATIENTS} patients per file, got {len(node.value)}", file=path)
    entries = []
    for index, item in enumerate(node.value):
        with reader.collect():
            entries.append(_yaml_entry(reader, item, f"patients[{index}]"))
    errors += reader.errors
    return options, entries


def _yaml_entry(reader: FieldReader, item: yaml.Node, key: str) -> Entry:
    cells: dict[str, Cell] = {}
    for name, value in reader.mapping(item, key, (*COLUMNS, "dosage")).items():
        if name == "dosage":
            cells.update(_yaml_dosage(reader, value, f"{key}.dosage"))
        elif name == "exercises" and isinstance(value, yaml.SequenceNode):
            ids = [reader.identifier(x, f"{key}.exercises[{i}]") for i, x in enumerate(value.value)]
            cells[name] = Cell(";".join(ids), value.start_mark.line + 1, None)
        else:
            cells[name] = Cell(_yaml_cell(reader, value, f"{key}.{name}"), value.start_mark.line + 1, None)
    return Entry(cells, item.start_mark.line + 1, reader.path)


def _yaml_cell(reader: FieldReader, node: yaml.Node, key: str) -> str:
    """A value as the CSV cell it stands for (checked, like a cell, in `_patient`)."""
    if not isinstance(node, yaml.ScalarNode):
        raise reader.fail(node, key, "expected a single value")
    return str(node.value)


def _yaml_dosage(reader: FieldReader, node: yaml.Node, key: str) -> Iterator[tuple[str, Cell]]:
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, key, "expected exercise ids, each with reps, sets, hold, rest or set_rest")
    for ex_id, fields in reader.mapping(node, key, None).items():
        ex_key = f"{key}.{short(ex_id)}"
        if not isinstance(fields, yaml.MappingNode):
            raise reader.fail(fields, ex_key, "expected reps, sets, hold, rest or set_rest")
        for name, value in reader.mapping(fields, ex_key, OVERRIDES).items():
            yield f"{ex_id}.{name}", Cell(_yaml_cell(reader, value, f"{ex_key}.{name}"), value.start_mark.line + 1,
                                          None)


Cache = dict[tuple[str, str], tuple[Routine, "Programme | None"]]


def _patient(entry: Entry, base: Path, speak: bool, cache: Cache) -> Patient:
    ref = _reference(entry)
    for name, cell in entry.cells.items():
        problem = control_problem(cell.value) if name != "first_name" else None   # a name is never repeated
        if problem:
            raise entry.fail(name, problem)
    routine, programme = _source(entry, base, cache)
    row_data: dict[str, object] = {"source": routine.sha256}
    routine = _chosen_exercises(entry, routine, row_data)
    levels = _levels(entry, routine, programme)
    routine = _overrides(entry, routine, row_data)
    routine = _language(entry, routine, row_data)
    engine, voice = _voice(entry, routine)
    routine = _frequency(entry, routine, row_data)
    routine = _music(entry, base, routine, row_data)
    clinician, date = _free_text(entry, "clinician"), _date(entry)
    first_name = _first_name(entry) if speak else None
    if first_name:
        greeting = phrases_for(routine)("greeting", name=first_name)
        routine = replace(routine, intro=f"{greeting} {routine.intro}" if routine.intro else greeting)
        row_data["greeting"] = True
    sha = hashlib.sha256(json.dumps(row_data, sort_keys=True).encode()).hexdigest()
    routine = replace(routine, sha256=sha)
    for lv in levels:
        try:
            compile_level(routine, lv)
        except ScriptError as err:
            raise entry.fail("ref", f"does not compile: {err.message}", err.hint) from None
    return Patient(ref, routine, levels, engine, voice, first_name, entry.row, clinician, date)


def _free_text(entry: Entry, key: str) -> str | None:
    value = entry.get(key)
    if value and (len(value) > MAX_FREE_TEXT or text_problem(value)):
        raise entry.fail(key, f"at most {MAX_FREE_TEXT} characters of text, no control characters")
    return value


def _reference(entry: Entry) -> str:
    ref = entry.get("ref")
    if ref is None:
        raise entry.fail("ref", "missing patient reference", "a pseudonym such as P-0042; it names the folder")
    if name_problem(ref):   # the reference may be real patient data: do not repeat it
        raise entry.fail("ref", "a reference becomes a folder name: use 1 to 64 ASCII letters, digits, '-' "
                                "and '_', starting with a letter or digit")
    entry.ref = ref
    return ref


def _source(entry: Entry, base: Path, cache: Cache) -> tuple[Routine, Programme | None]:
    """The routine (or programme and its routine) a row names, inside the allowed roots;
    each file is read once per prescription file."""
    script, programme_file = entry.get("script"), entry.get("programme")
    if bool(script) == bool(programme_file):
        raise entry.fail("programme" if programme_file else "script", "give either a script or a programme")
    source = "programme" if programme_file else "script"
    try:
        file = inside_roots(str(programme_file or script), base, source)
    except PathRefused as err:
        raise entry.fail(source, str(err)) from None
    if (source, str(file)) not in cache:
        # An error in the script or programme itself names its own file and line.
        try:
            if programme_file:
                found = load_programme(file)
                cache[(source, str(file))] = (progression_routine(load_named_script(found), found), found)
            else:
                cache[(source, str(file))] = (load_script(file), None)
        except ScriptError as err:
            raise named_by(err, f"{entry.file}:{entry.row}") from None
    return cache[(source, str(file))]


def _chosen_exercises(entry: Entry, routine: Routine, row_data: dict[str, object]) -> Routine:
    exercises = entry.get("exercises")
    if not exercises:
        return routine
    ids = [part.strip() for part in exercises.replace(",", ";").split(";") if part.strip()]
    known = {ex.id: ex for ex in routine.exercises}
    for ex_id in ids:
        if ex_id not in known:
            close = difflib.get_close_matches(ex_id, list(known), n=1)
            raise entry.fail("exercises", f"no exercise '{short(ex_id)}' in {routine.path}",
                             f"did you mean '{close[0]}'?" if close else f"exercises: {', '.join(known)}")
    if len(set(ids)) != len(ids):
        raise entry.fail("exercises", "an exercise is listed twice")
    row_data["exercises"] = ids
    return replace(routine, exercises=tuple(known[ex_id] for ex_id in ids))


def _levels(entry: Entry, routine: Routine, programme: Programme | None) -> tuple[str, ...]:
    level, week = entry.get("level"), entry.get("week")
    if level and week:
        raise entry.fail("week", "give a level or a week, not both")
    if level:
        if programme:
            raise entry.fail("level", "a programme has weeks: use the 'week' column")
        try:
            return (routine.level(level).id,)
        except ScriptError as err:
            raise entry.fail("level", f"no level '{short(level)}' in {routine.path}", err.hint) from None
    if week:
        if not programme:
            raise entry.fail("week", "a week needs a programme (the 'programme' column)")
        number = whole_number(week, 1, programme.weeks)
        if number is None:
            raise entry.fail("week", f"expected a week from 1 to {programme.weeks}, got {short(week)!r}")
        return (week_id(programme, number),)
    return tuple(lv.id for lv in routine.levels)


def _mixed(entry: Entry, routine: Routine) -> bool:
    """True when the script or the row says its voice may speak another language."""
    cell = entry.cells.get("mixed_languages")
    return routine.mixed_languages or bool(cell and cell.value.strip()
                                           and _flag(cell.value, entry.file, cell.row, "mixed_languages"))


def _language(entry: Entry, routine: Routine, row_data: dict[str, object]) -> Routine:
    language = entry.get("language")
    if not language:
        return routine
    if not _mixed(entry, routine) and lang.base_language(language) != lang.base_language(routine.language):
        raise entry.fail("language", f"the patient's language is {lang.name(language)} but the script speaks "
                                     f"{lang.name(routine.language)} ({routine.path})",
                         "give a script written in that language, or say 'mixed_languages: yes'")
    routine = replace(routine, language=language)
    try:
        phrases_for(routine)
    except ScriptError as err:
        raise entry.fail("language", err.message, err.hint) from None
    row_data["language"] = language
    return routine


def _voice(entry: Entry, routine: Routine) -> tuple[str | None, str | None]:
    engine = entry.get("engine")
    if engine and engine not in ENGINES:
        raise entry.fail("engine", f"unknown engine {short(engine)!r}: choose one of {', '.join(engine_names())}")
    voice = entry.get("voice")
    if voice and text_problem(voice):
        raise entry.fail("voice", str(text_problem(voice)))
    problem = None if _mixed(entry, routine) else lang.mismatch(
        routine.language, lang.voice_language(engine or routine.voice.engine or "piper", voice))
    if problem:
        raise entry.fail("voice", problem, "use a voice in the patient's language, or say 'mixed_languages: yes'")
    return engine, voice


def _music(entry: Entry, base: Path, routine: Routine, row_data: dict[str, object]) -> Routine:
    """A bed for this patient: calm, warm, dusk, an audio file (relative to this file), none."""
    music = entry.get("music")
    if not music:
        return routine
    try:
        routine = replace(routine, music=parse_music(music, str(base)) or "none")
    except MusicError as err:
        raise entry.fail("music", str(err)) from None
    row_data["music"] = music
    return routine


def _frequency(entry: Entry, routine: Routine, row_data: dict[str, object]) -> Routine:
    frequency = _free_text(entry, "frequency")
    if not frequency:
        return routine
    row_data["frequency"] = frequency
    return replace(routine, frequency=frequency)


def _date(entry: Entry) -> str | None:
    date = entry.get("date")
    if not date:
        return None
    try:
        return dt.date.fromisoformat(date).isoformat()
    except ValueError:
        raise entry.fail("date", f"expected a date as YYYY-MM-DD, got {short(date)!r}") from None


def _first_name(entry: Entry) -> str | None:
    first_name = entry.get("first_name")
    if first_name and (len(first_name) > 60 or text_problem(first_name) or not any(c.isalpha() for c in first_name)):
        raise entry.fail("first_name", "not a usable first name (at most 60 characters, letters, no control "
                                       "characters)")   # never repeat the value
    return first_name


def _overrides(entry: Entry, routine: Routine, row_data: dict[str, object]) -> Routine:
    """Per-exercise dosage overrides (`cobra.hold` = 6s), applied to every level."""
    known = {ex.id: ex for ex in routine.exercises}
    changes: dict[str, dict[str, int]] = {}
    for name in entry.cells:
        ex_id, dot, key = name.partition(".")
        value = entry.get(name)
        if not dot or value is None:
            continue
        if ex_id not in known:
            close = difflib.get_close_matches(ex_id, list(known), n=1)
            raise entry.fail(name, f"no exercise '{ex_id[:40]}' in this prescription",
                             f"did you mean '{close[0]}'?" if close else f"exercises: {', '.join(known)}")
        if key in ("reps", "sets"):
            counted = whole_number(value)
            if counted is None:
                raise entry.fail(name, f"expected a whole number from 1 to {MAX_COUNT}, got {short(value)!r}")
            number = counted
        else:
            try:
                number = parse_duration_ms(value)
            except ValueError as err:
                raise entry.fail(name, str(err)) from None
            if number > MAX_DURATION_MS:
                raise entry.fail(name, f"must be at most {MAX_DURATION_MS // 60000} minutes, got {value[:40]!r}")
        changes.setdefault(ex_id, {})[key] = number
    if not changes:
        return routine
    row_data["overrides"] = changes
    exercises = []
    for exercise in routine.exercises:
        change = changes.get(exercise.id)
        if not change:
            exercises.append(exercise)
            continue
        dosage = {}
        for level, dose in exercise.dosage.items():
            if "hold" in change and not dose.hold_ms and not dose.skip:
                raise entry.fail(f"{exercise.id}.hold", f"exercise '{exercise.id}' has no hold at level '{level}'")
            if change.get("hold") == 0:
                raise entry.fail(f"{exercise.id}.hold", "a hold must last longer than zero")
            dose = replace(dose, reps=change.get("reps", dose.reps), sets=change.get("sets", dose.sets),
                           hold_ms=change.get("hold", dose.hold_ms), rest_ms=change.get("rest", dose.rest_ms),
                           set_rest_ms=change.get("set_rest", dose.set_rest_ms))
            dosage[level] = fit_hold_extras(dose)
        exercises.append(replace(exercise, dosage=dosage))
    return replace(routine, exercises=tuple(exercises))
