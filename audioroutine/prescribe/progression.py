"""Progression programmes: a routine's first and last level become the two ends of a path of
weeks; each week's dosage is interpolated and rounded to what a clinician would write.

The result is an ordinary `Routine` whose levels are the weeks (`week-1` ... `week-N`), so the
build, its album (track n/total), playlist, cache and up-to-date checks work unchanged. Its
sha256 is the hash of the script's sha256 and the programme's content, so a changed
programme (or script) rebuilds its sessions and an unchanged one writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from ..core.errors import ScriptError, key_hint
from ..core.limits import MAX_COUNT
from ..core.reader import PathRefused, compose_yaml, inside_roots, named_by, read_text
from ..model.fields import FieldReader
from ..model.script import HALFWAY_ROOM_MS, Breath, Dosage, Exercise, Level, Routine, load_script

MAX_WEEKS = 52
UNITS = {"week": "Week", "stage": "Stage"}
PROGRAMME_KEYS = ("id", "script", "title", "weeks", "unit", "from", "to", "plateau", "switch", "frequency")
ROUND_5_ABOVE_MS = 30_000     # durations above 30 s are rounded to 5 s, below to whole seconds


@dataclass(frozen=True)
class Programme:
    """A path from level `start` (week 1) to level `end` (the last week that is not a plateau)."""

    script: Path
    weeks: int
    id: str | None = None
    title: str | None = None
    unit: str = "week"
    start: str | None = None          # level id; None: the routine's first level
    end: str | None = None            # level id; None: the routine's last level
    plateau: tuple[int, ...] = ()     # weeks that repeat the week before
    switch: dict[str, int] = field(default_factory=dict)   # exercise id → week its variant switches
    frequency: str | None = None      # how often: "twice a day, 5 days a week" (spoken, on the handout)
    path: str = "<programme>"
    script_line: int | None = None    # the line of `script:`, for errors
    script_entry: str = ""            # `script:` as written, relative to `base`, the programme's folder
    base: Path = Path(".")

    def digest(self) -> str:
        data = asdict(self)
        data["script"] = self.script.name
        data.pop("path")
        for name in ("script_line", "script_entry", "base"):
            data.pop(name)
        return json.dumps(data, sort_keys=True, default=str)


def load_programme(path: str | Path) -> Programme:
    """Read and validate a programme file (docs/programmes.md)."""
    path = Path(path)
    text, _ = read_text(path, "programme file")
    return parse_programme(text, str(path), path.parent)


def parse_programme(text: str, path: str = "<programme>", base: Path = Path(".")) -> Programme:
    """Validate a programme given as text, with the limits and checks of every input file
    (core.reader); every independent error is reported."""
    reader = FieldReader(path)
    root = compose_yaml(text, path)
    if root is None:
        raise ScriptError("the programme is empty", file=path, hint="see docs/programmes.md")
    keys = reader.top(root, PROGRAMME_KEYS, "a programme", keep_going=True)
    for required in ("script", "weeks"):
        if required not in keys:
            reader.errors.append(reader.fail(root, required, "missing required key"))
    weeks = MAX_WEEKS
    if "weeks" in keys:
        with reader.collect():
            weeks = _weeks(reader, keys["weeks"])
    texts = _texts(reader, keys)
    plateau = switch = None
    with reader.collect():
        plateau = _plateau(reader, keys, weeks)
    with reader.collect():
        switch = _switch(reader, keys, weeks)
    reader.raise_errors()
    assert plateau is not None and switch is not None   # else raise_errors() raised
    return Programme(
        script=base / texts["script"], weeks=weeks, id=texts.get("id"), title=texts.get("title"),
        unit=texts.get("unit", "week"), start=texts.get("from"), end=texts.get("to"), plateau=plateau,
        switch=switch, frequency=texts.get("frequency"), path=path, script_line=keys["script"].start_mark.line + 1,
        script_entry=texts["script"], base=base,
    )


def _weeks(reader: FieldReader, node: yaml.Node) -> int:
    weeks = reader.scalar(node, "weeks")
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 2 <= weeks <= MAX_WEEKS:
        raise reader.fail(node, "weeks", f"expected a whole number from 2 to {MAX_WEEKS}, got {weeks!r}")
    return weeks


def _texts(reader: FieldReader, keys: dict[str, yaml.Node]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for name in ("id", "script", "title", "unit", "from", "to", "frequency"):
        if name in keys:
            with reader.collect():
                texts[name] = reader.file_name(keys[name], name) if name == "id" else reader.text(keys[name], name)
                if name == "frequency" and len(texts[name]) > 80:
                    raise reader.fail(keys[name], name, "at most 80 characters of text")
                if name == "unit" and texts[name] not in UNITS:
                    raise reader.fail(keys[name], name, f"expected one of {', '.join(UNITS)}, got {texts[name]!r}")
    return texts


def _plateau(reader: FieldReader, keys: dict[str, yaml.Node], weeks: int) -> tuple[int, ...]:
    if "plateau" not in keys:
        return ()
    node = keys["plateau"]
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    plateau = []
    for item in items:
        week = reader.scalar(item, "plateau") if isinstance(item, yaml.ScalarNode) else None
        if isinstance(week, bool) or not isinstance(week, int) or not 2 <= week <= weeks:
            raise reader.fail(item, "plateau", f"a plateau is a week from 2 to {weeks}, got {week!r}")
        plateau.append(week)
    if len(set(plateau)) == weeks - 1:
        raise reader.fail(node, "plateau", "every week after the first is a plateau: nothing progresses")
    return tuple(sorted(set(plateau)))


def _switch(reader: FieldReader, keys: dict[str, yaml.Node], weeks: int) -> dict[str, int]:
    if "switch" not in keys:
        return {}
    node = keys["switch"]
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, "switch", "expected exercise ids with the week each switches, e.g. {cobra: 4}")
    switch = {}
    for name, value in reader.mapping(node, "switch", None).items():
        ex_id = reader.identifier(next(k for k, _ in node.value if k.value == name), "switch")
        week = reader.scalar(value, f"switch.{ex_id}") if isinstance(value, yaml.ScalarNode) else None
        if isinstance(week, bool) or not isinstance(week, int) or not 1 <= week <= weeks:
            raise reader.fail(value, f"switch.{ex_id}", f"expected a week from 1 to {weeks}, got {week!r}")
        switch[ex_id] = week
    return switch


def round_ms(ms: float) -> int:
    """A duration as a clinician writes it: whole seconds, or 5 s steps above 30 s (half up)."""
    step = 5000 if ms > ROUND_5_ABOVE_MS else 1000
    return int(ms / step + 0.5) * step


def _lerp(a: int, b: int, t: float) -> float:
    return a + (b - a) * t


def _kind(dose: Dosage) -> str:
    return "skip" if dose.skip else "hold" if dose.hold_ms else "breath" if dose.breath else \
        "work" if dose.work_ms else "rep"


def interpolate(a: Dosage, b: Dosage, t: float, switched: bool) -> Dosage:
    """The dosage a fraction `t` of the way from `a` to `b`: counts rounded to whole reps,
    durations with round_ms. Settings that cannot be interpolated (variant, sides, countdown...)
    come from `a` until the exercise `switched`, then from `b`; so does the whole dosage when
    the two levels differ in kind (a hold and a breath, or one level skips the exercise)."""
    base = b if switched else a
    if _kind(a) != _kind(b):
        return base

    def dur(x: int, y: int) -> int:
        return round_ms(_lerp(x, y, t)) if x != y else x

    def count(x: int, y: int) -> int:
        return max(1, min(MAX_COUNT, int(_lerp(x, y, t) + 0.5)))

    breath = None
    if a.breath and b.breath:
        breath = Breath(max(1000, dur(a.breath.inhale_ms, b.breath.inhale_ms)),
                        max(1000, dur(a.breath.exhale_ms, b.breath.exhale_ms)))
    side_a = a.rest_ms if a.side_rest_ms is None else a.side_rest_ms
    side_b = b.rest_ms if b.side_rest_ms is None else b.side_rest_ms
    hold = dur(a.hold_ms, b.hold_ms)
    dose = replace(
        base, reps=count(a.reps, b.reps), sets=count(a.sets, b.sets), hold_ms=hold,
        rest_ms=dur(a.rest_ms, b.rest_ms), set_rest_ms=dur(a.set_rest_ms, b.set_rest_ms),
        side_rest_ms=None if a.side_rest_ms is None and b.side_rest_ms is None else dur(side_a, side_b),
        rep_ms=dur(a.rep_ms, b.rep_ms), work_ms=dur(a.work_ms, b.work_ms), breath=breath or base.breath,
    )
    return fit_hold_extras(dose)


def fit_hold_extras(dose: Dosage) -> Dosage:
    """A countdown shorter than the hold and a "halfway" only where it fits (as the script
    loader demands), after a hold was shortened."""
    if not dose.hold_ms:
        return dose
    countdown = min(dose.countdown, (dose.hold_ms - 1) // 1000)
    halfway = dose.halfway and dose.hold_ms // 2 + HALFWAY_ROOM_MS <= dose.hold_ms - countdown * 1000
    return replace(dose, countdown=countdown, halfway=halfway)


def fractions(programme: Programme) -> list[float]:
    """For each week, how far along the path it is (0 at week 1, 1 at the last progressing
    week); a plateau week repeats the week before."""
    steps = [w for w in range(1, programme.weeks + 1) if w not in programme.plateau]
    out, last = [], 0.0
    for week in range(1, programme.weeks + 1):
        if week not in programme.plateau:
            last = steps.index(week) / (len(steps) - 1)
        out.append(last)
    return out


def switch_week(programme: Programme, exercise: Exercise) -> int:
    """The week an exercise takes the last level's variant and settings: as the programme
    says, else the first week at least halfway along."""
    if exercise.id in programme.switch:
        return programme.switch[exercise.id]
    return next(w for w, t in enumerate(fractions(programme), 1) if t >= 0.5)


def week_id(programme: Programme, week: int) -> str:
    return f"{programme.unit}-{week}"


def progression_routine(routine: Routine, programme: Programme) -> Routine:
    """`routine` with one level per week of `programme`, dosages interpolated."""
    start = routine.level(programme.start).id if programme.start else routine.levels[0].id
    end = routine.level(programme.end).id if programme.end else routine.levels[-1].id
    ids = {ex.id for ex in routine.exercises}
    for name in programme.switch:
        if name not in ids:
            raise ScriptError(f"no exercise '{name}' in {routine.path}", file=programme.path,
                              key=f"switch.{name}", hint=key_hint(name, sorted(ids)))
    along = fractions(programme)
    weeks = range(1, programme.weeks + 1)
    levels = tuple(Level(id=week_id(programme, w), title=f"{UNITS[programme.unit]} {w}",
                         rate=routine.level(start if along[w - 1] < 0.5 else end).rate) for w in weeks)
    exercises = []
    for exercise in routine.exercises:
        a, b = exercise.dosage[start], exercise.dosage[end]
        at = switch_week(programme, exercise)
        dosage = {week_id(programme, w): interpolate(a, b, along[w - 1], w >= at) for w in weeks}
        exercises.append(replace(exercise, dosage=dosage))
    sha = hashlib.sha256(f"{routine.sha256}\n{programme.digest()}".encode()).hexdigest()
    return replace(routine, id=programme.id or f"{routine.id}-programme", levels=levels,
                   exercises=tuple(exercises), title=programme.title or routine.title, sha256=sha,
                   frequency=programme.frequency or routine.frequency)


def programme_script(programme: Programme) -> Path:
    """The script a programme names, checked: inside the allowed roots, a regular file."""
    try:
        return inside_roots(programme.script_entry, programme.base, "script")
    except PathRefused as err:
        raise ScriptError(str(err), file=programme.path, line=programme.script_line, key="script") from None


def load_progression(path: str | Path) -> tuple[Programme, Routine]:
    """A programme file and its routine, derived."""
    programme = load_programme(path)
    return programme, progression_routine(load_named_script(programme), programme)


def load_named_script(programme: Programme) -> Routine:
    """The routine a programme names; an error in it says which programme named it."""
    script = programme_script(programme)
    try:
        return load_script(script)
    except ScriptError as err:
        raise named_by(err, f"{programme.path}:{programme.script_line}") from None


def describe_dose(dose: Dosage) -> str:
    """A dosage as a table cell: "10 x 4 s, rest 3 s", "2 sets", "in 5 s / out 5 s"."""
    if dose.skip:
        return "-"

    def s(ms: int) -> str:
        return f"{ms / 1000:g} s"

    parts = [f"{dose.reps}"]
    if dose.hold_ms:
        parts[0] += f" x {s(dose.hold_ms)}"
    elif dose.breath:
        parts[0] += f" x in {s(dose.breath.inhale_ms)}/out {s(dose.breath.exhale_ms)}"
    elif dose.work_ms:
        parts[0] += f" x {s(dose.work_ms)} work"
    elif dose.rep_ms:
        parts[0] += f" x {s(dose.rep_ms)}"
    if dose.sets > 1:
        parts.append(f"{dose.sets} sets")
    if dose.rest_ms:
        parts.append(f"rest {s(dose.rest_ms)}")
    if dose.variant:
        parts.append(dose.variant)
    return ", ".join(parts)


def dosage_table(routine: Routine) -> list[list[str]]:
    """Header row (level, then exercise ids) and one row per level: the dosage per week."""
    rows = [["", *[ex.id for ex in routine.exercises]]]
    for level in routine.levels:
        rows.append([level.title, *[describe_dose(ex.dosage[level.id]) for ex in routine.exercises]])
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
