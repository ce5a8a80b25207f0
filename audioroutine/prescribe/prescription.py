"""Prescriptions: one row (CSV) or entry (YAML) per patient, each a routine (or programme)
with the patient's own exercises, dosages, level or week, language and voice.

Patient data stays out of logs and errors: an error names the file, the row (CSV) or line
(YAML), the column or key and, at most, the patient's reference; never a name or a value
from a name column. A first name is spoken only when the file opts in (docs/programmes.md).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..compiler import compile_level, phrases_for
from ..durations import parse_duration_ms
from ..engines import ENGINES, engine_names
from ..errors import ScriptError, key_hint
from ..files import decode_input, read_input
from ..limits import MAX_COUNT, MAX_DURATION_MS
from ..names import name_problem
from ..script import Routine, load_script
from ..texts import text_problem
from .progression import Programme, fit_hold_extras, load_programme, progression_routine, week_id
from .yamlfile import compose

COLUMNS = ("ref", "script", "programme", "exercises", "level", "week", "language", "voice", "engine", "first_name",
           "music")
OVERRIDES = ("reps", "sets", "hold", "rest", "set_rest")   # per exercise: `<exercise id>.<key>` columns
OPTIONS = ("speak_first_names",)
GREETING = {"en": "Hello {name}.", "es": "Hola, {name}.", "de": "Hallo {name}."}
MAX_PATIENTS = 5000


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


@dataclass
class Prescriptions:
    path: str
    patients: list[Patient] = field(default_factory=list)
    speak_first_names: bool = False
    names_ignored: int = 0             # rows with a first name not spoken (no opt-in)


def load_prescriptions(path: str | Path) -> Prescriptions:
    """Read and check every row; the first bad cell is a RowError (nothing is built)."""
    path = Path(path)
    text = decode_input(read_input(path, "prescription file"), str(path))
    if path.suffix.lower() == ".csv":
        options, entries = _read_csv(text, str(path))
    elif path.suffix.lower() in (".yaml", ".yml"):
        options, entries = _read_yaml(text, str(path))
    else:
        raise ScriptError("a prescription file is .csv, .yaml or .yml", file=str(path))
    out = Prescriptions(str(path), speak_first_names=options)
    seen: dict[str, int | None] = {}
    cache: dict[tuple[str, str], tuple[Routine, Programme | None]] = {}
    for entry in entries:
        patient = _patient(entry, path.parent, options, cache)
        if patient.ref in seen:
            raise entry.fail("ref", f"reference '{patient.ref}' is also used on row {seen[patient.ref]}")
        seen[patient.ref] = entry.row
        if entry.get("first_name") and not options:
            out.names_ignored += 1
        out.patients.append(patient)
    if not out.patients:
        raise ScriptError("no patients in this file", file=str(path))
    return out


def _flag(value: str, file: str, row: int | None, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    raise RowError(f"expected yes or no, got {value.strip()!r}", file=file, row=row, name=key)


def _read_csv(text: str, path: str) -> tuple[bool, list[Entry]]:
    """`# key: value` option lines first, then a header row and one row per patient."""
    lines = text.splitlines(keepends=True)
    speak, start = False, 0
    for number, line in enumerate(lines, 1):
        if not line.startswith("#"):
            break
        start = number
        key, _, value = line[1:].partition(":")
        key = key.strip()
        if key not in OPTIONS:
            raise RowError(f"unknown option '{key[:40]}'", file=path, row=number, name=key[:40],
                           hint=key_hint(key, OPTIONS))
        speak = _flag(value, path, number, key)
    reader = csv.reader(io.StringIO("".join(lines[start:])))
    try:
        rows = list(reader)
    except csv.Error as err:
        raise RowError(f"CSV error: {err}", file=path, row=start + reader.line_num) from None
    if not rows:
        raise ScriptError("no header row", file=path)
    header = [name.strip() for name in rows[0]]
    for column, name in enumerate(header, 1):
        ex, dot, key = name.partition(".")
        if name in COLUMNS or (dot and key in OVERRIDES and ex):
            continue
        hint = key_hint(key, OVERRIDES) if dot else key_hint(name, COLUMNS)
        raise RowError(f"unknown column '{name[:40]}'", file=path, row=start + 1, column=column,
                       name=name[:40], hint=hint + "; per exercise: <exercise id>.<reps|sets|hold|rest|set_rest>")
    if len(set(header)) != len(header):
        twice = next(name for name in header if header.count(name) > 1)
        raise RowError(f"column '{twice}' appears twice", file=path, row=start + 1,
                       column=header.index(twice) + 1, name=twice)
    if "ref" not in header:
        raise RowError("missing column 'ref'", file=path, row=start + 1, hint="one patient reference per row")
    if len(rows) - 1 > MAX_PATIENTS:
        raise ScriptError(f"at most {MAX_PATIENTS} patients per file, got {len(rows) - 1}", file=path)
    entries = []
    for index, row in enumerate(rows[1:], start + 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise RowError(f"{len(row)} cells but {len(header)} columns", file=path, row=index,
                           column=len(header) + 1)
        cells = {name: Cell(value, index, column) for column, (name, value) in enumerate(zip(header, row), 1)}
        entries.append(Entry(cells, index, path))
    return speak, entries


def _read_yaml(text: str, path: str) -> tuple[bool, list[Entry]]:
    """`speak_first_names: yes` (optional) and `patients:`, a list of mappings."""
    root = compose(text, path)
    if not isinstance(root, yaml.MappingNode):
        raise ScriptError("expected 'patients:' with a list of patients", file=path)
    top = {str(k.value): v for k, v in root.value}
    for key_node, _ in root.value:
        if key_node.value not in ("patients", *OPTIONS):
            raise RowError(f"unknown key '{str(key_node.value)[:40]}'", file=path, row=key_node.start_mark.line + 1,
                           name=str(key_node.value)[:40], hint=key_hint(str(key_node.value), ("patients", *OPTIONS)))
    speak = False
    if "speak_first_names" in top:
        node = top["speak_first_names"]
        speak = _flag(str(getattr(node, "value", "")), path, node.start_mark.line + 1, "speak_first_names")
    node = top.get("patients")
    if not isinstance(node, yaml.SequenceNode):
        raise RowError("expected a list of patients", file=path, row=node.start_mark.line + 1 if node else None,
                       name="patients")
    if len(node.value) > MAX_PATIENTS:
        raise ScriptError(f"at most {MAX_PATIENTS} patients per file, got {len(node.value)}", file=path)
    entries = []
    for index, item in enumerate(node.value):
        key = f"patients[{index}]"
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise RowError("expected a mapping of keys to values", file=path, row=line, name=key)
        cells: dict[str, Cell] = {}
        for k, v in item.value:
            name = str(k.value)
            if name == "dosage":
                cells.update(_yaml_dosage(v, path, f"{key}.dosage"))
                continue
            if name not in COLUMNS:
                raise RowError(f"unknown key '{name[:40]}'", file=path, row=k.start_mark.line + 1,
                               name=f"{key}.{name[:40]}", hint=key_hint(name, (*COLUMNS, "dosage")))
            if name == "exercises" and isinstance(v, yaml.SequenceNode):
                value = ";".join(str(getattr(x, "value", "")) for x in v.value)
            elif isinstance(v, yaml.ScalarNode):
                value = str(v.value)
            else:
                raise RowError("expected a single value", file=path, row=v.start_mark.line + 1, name=f"{key}.{name}")
            cells[name] = Cell(value, v.start_mark.line + 1, None)
        entries.append(Entry(cells, line, path))
    return speak, entries


def _yaml_dosage(node: yaml.Node, path: str, key: str) -> Iterator[tuple[str, Cell]]:
    if not isinstance(node, yaml.MappingNode):
        raise RowError("expected exercise ids, each with reps, sets, hold, rest or set_rest", file=path,
                       row=node.start_mark.line + 1, name=key)
    for ex_node, fields in node.value:
        if not isinstance(fields, yaml.MappingNode):
            raise RowError("expected reps, sets, hold, rest or set_rest", file=path,
                           row=fields.start_mark.line + 1, name=f"{key}.{ex_node.value}")
        for k, v in fields.value:
            if k.value not in OVERRIDES:
                raise RowError(f"unknown key '{str(k.value)[:40]}'", file=path, row=k.start_mark.line + 1,
                               name=f"{key}.{ex_node.value}.{str(k.value)[:40]}",
                               hint=key_hint(str(k.value), OVERRIDES))
            yield f"{ex_node.value}.{k.value}", Cell(str(getattr(v, "value", "")), v.start_mark.line + 1, None)


def _patient(entry: Entry, base: Path, speak: bool,
             cache: dict[tuple[str, str], tuple[Routine, Programme | None]]) -> Patient:
    ref = entry.get("ref")
    if ref is None:
        raise entry.fail("ref", "missing patient reference", "a pseudonym such as P-0042; it names the folder")
    problem = name_problem(ref)
    if problem:   # the reference may be real patient data: do not repeat it
        raise entry.fail("ref", "a reference becomes a folder name: use 1 to 64 ASCII letters, digits, '-' "
                                "and '_', starting with a letter or digit")
    entry.ref = ref
    script, programme_file = entry.get("script"), entry.get("programme")
    if bool(script) == bool(programme_file):
        raise entry.fail("programme" if programme_file else "script", "give either a script or a programme")
    source = "programme" if programme_file else "script"
    file = base / str(programme_file or script)
    if (source, str(file)) not in cache:
        if not file.is_file():
            raise entry.fail(source, f"{source} not found: {file}")
        # An error in the script or programme itself names its own file and line.
        if programme_file:
            found = load_programme(file)
            cache[(source, str(file))] = (progression_routine(load_script(found.script), found), found)
        else:
            cache[(source, str(file))] = (load_script(file), None)
    routine, programme = cache[(source, str(file))]
    row_data: dict[str, object] = {"source": routine.sha256}

    exercises = entry.get("exercises")
    if exercises:
        ids = [part.strip() for part in exercises.replace(",", ";").split(";") if part.strip()]
        known = {ex.id: ex for ex in routine.exercises}
        for ex_id in ids:
            if ex_id not in known:
                close = difflib.get_close_matches(ex_id, list(known), n=1)
                raise entry.fail("exercises", f"no exercise '{ex_id[:40]}' in {routine.path}",
                                 f"did you mean '{close[0]}'?" if close else f"exercises: {', '.join(known)}")
        if len(set(ids)) != len(ids):
            raise entry.fail("exercises", "an exercise is listed twice")
        routine = replace(routine, exercises=tuple(known[ex_id] for ex_id in ids))
        row_data["exercises"] = ids

    levels: tuple[str, ...] = tuple(lv.id for lv in routine.levels)
    level, week = entry.get("level"), entry.get("week")
    if level and week:
        raise entry.fail("week", "give a level or a week, not both")
    if level:
        if programme:
            raise entry.fail("level", "a programme has weeks: use the 'week' column")
        try:
            levels = (routine.level(level).id,)
        except ScriptError as err:
            raise entry.fail("level", f"no level '{level[:40]}' in {routine.path}", err.hint) from None
    if week:
        if not programme:
            raise entry.fail("week", "a week needs a programme (the 'programme' column)")
        if not week.isdigit() or not 1 <= int(week) <= programme.weeks:
            raise entry.fail("week", f"expected a week from 1 to {programme.weeks}, got {week[:40]!r}")
        levels = (week_id(programme, int(week)),)

    routine = _overrides(entry, routine, row_data)
    language = entry.get("language")
    if language:
        routine = replace(routine, language=language)
        try:
            phrases_for(routine)
        except ScriptError as err:
            raise entry.fail("language", err.message, err.hint) from None
        row_data["language"] = language
    music = entry.get("music")
    if music:   # a bed for this patient: calm, warm, dusk, an audio file (relative to this file), none
        from ..music_settings import MusicError, parse_music

        try:
            routine = replace(routine, music=parse_music(music, str(base)) or "none")
        except MusicError as err:
            raise entry.fail("music", str(err)) from None
        row_data["music"] = music
    engine = entry.get("engine")
    if engine and engine not in ENGINES:
        raise entry.fail("engine", f"unknown engine {engine[:40]!r}: choose one of {', '.join(engine_names())}")
    voice = entry.get("voice")
    if voice and text_problem(voice):
        raise entry.fail("voice", str(text_problem(voice)))
    first_name = entry.get("first_name") if speak else None
    if first_name:
        if len(first_name) > 60 or text_problem(first_name) or not any(c.isalpha() for c in first_name):
            raise entry.fail("first_name", "not a usable first name (at most 60 characters, letters, no control "
                                           "characters)")   # never repeat the value
        greeting = GREETING.get(routine.language.split("-")[0], GREETING["en"]).format(name=first_name)
        routine = replace(routine, intro=f"{greeting} {routine.intro}" if routine.intro else greeting)
        row_data["greeting"] = True
    sha = hashlib.sha256(json.dumps(row_data, sort_keys=True).encode()).hexdigest()
    routine = replace(routine, sha256=sha)
    for lv in levels:
        try:
            compile_level(routine, lv)
        except ScriptError as err:
            raise entry.fail("ref", f"does not compile: {err.message}", err.hint) from None
    return Patient(ref, routine, levels, engine, voice, first_name, entry.row)


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
            if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
                raise entry.fail(name, f"expected a whole number from 1 to {MAX_COUNT}, got {value[:40]!r}")
            number = int(value)
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
