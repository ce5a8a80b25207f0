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

from ..errors import ScriptError, key_hint
from ..files import decode_input, read_input
from ..limits import MAX_COUNT
from ..names import name_problem
from ..script import HALFWAY_ROOM_MS, Breath, Dosage, Exercise, Level, Routine, load_script
from ..texts import text_problem
from .yamlfile import compose

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

    def digest(self) -> str:
        data = asdict(self)
        data["script"] = self.script.name
        data.pop("path")
        return json.dumps(data, sort_keys=True, default=str)


def load_programme(path: str | Path) -> Programme:
    """Read and validate a programme file (docs/programmes.md)."""
    path = Path(path)
    text = decode_input(read_input(path, "programme file"), str(path))
    return parse_programme(text, str(path), path.parent)


def _fail(path: str, node: yaml.Node | None, key: str, message: str, hint: str | None = None) -> ScriptError:
    line = node.start_mark.line + 1 if node is not None else None
    return ScriptError(message, file=path, line=line, key=key, hint=hint)


def parse_programme(text: str, path: str = "<programme>", base: Path = Path(".")) -> Programme:
    root = compose(text, path)
    if not isinstance(root, yaml.MappingNode):
        raise ScriptError("expected a mapping of keys to values", file=path, hint="see docs/programmes.md")
    keys: dict[str, yaml.Node] = {}
    for key_node, value in root.value:
        name = str(key_node.value)
        if name not in PROGRAMME_KEYS:
            raise _fail(path, key_node, name[:40], f"unknown key '{name[:40]}'", key_hint(name, PROGRAMME_KEYS))
        if name in keys:
            raise _fail(path, key_node, name, f"key '{name}' appears twice")
        keys[name] = value
    for required in ("script", "weeks"):
        if required not in keys:
            raise _fail(path, root, required, "missing required key")

    def scalar(name: str) -> object:
        node = keys[name]
        if not isinstance(node, yaml.ScalarNode):
            raise _fail(path, node, name, "expected a single value")
        return yaml.safe_load(node.value) if node.tag.endswith(("int", "bool")) else node.value

    weeks = scalar("weeks")
    if isinstance(weeks, bool) or not isinstance(weeks, int) or not 2 <= weeks <= MAX_WEEKS:
        raise _fail(path, keys["weeks"], "weeks", f"expected a whole number from 2 to {MAX_WEEKS}, got {weeks!r}")
    texts = {}
    for name in ("id", "script", "title", "unit", "from", "to", "frequency"):
        if name in keys:
            value = scalar(name)
            if not isinstance(value, str) or not value.strip():
                raise _fail(path, keys[name], name, "expected some text")
            texts[name] = value.strip()
    if "frequency" in texts and (len(texts["frequency"]) > 80 or text_problem(texts["frequency"])):
        raise _fail(path, keys["frequency"], "frequency", "at most 80 characters of text, no control characters")
    if "id" in texts and name_problem(texts["id"]):
        raise _fail(path, keys["id"], "id", str(name_problem(texts["id"])))
    unit = texts.get("unit", "week")
    if unit not in UNITS:
        raise _fail(path, keys["unit"], "unit", f"expected one of {', '.join(UNITS)}, got {unit!r}")
    plateau: list[int] = []
    if "plateau" in keys:
        node = keys["plateau"]
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in items:
            week = yaml.safe_load(item.value) if isinstance(item, yaml.ScalarNode) else None
            if isinstance(week, bool) or not isinstance(week, int) or not 2 <= week <= weeks:
                raise _fail(path, item, "plateau", f"a plateau is a week from 2 to {weeks}, got {week!r}")
            plateau.append(week)
        if len(set(plateau)) == weeks - 1:
            raise _fail(path, node, "plateau", "every week after the first is a plateau: nothing progresses")
    switch: dict[str, int] = {}
    if "switch" in keys:
        node = keys["switch"]
        if not isinstance(node, yaml.MappingNode):
            raise _fail(path, node, "switch", "expected exercise ids with the week each switches, e.g. {cobra: 4}")
        for key_node, value in node.value:
            week = yaml.safe_load(value.value) if isinstance(value, yaml.ScalarNode) else None
            if isinstance(week, bool) or not isinstance(week, int) or not 1 <= week <= weeks:
                raise _fail(path, value, f"switch.{key_node.value}", f"expected a week from 1 to {weeks}, got {week!r}")
            switch[str(key_node.value)] = week
    return Programme(
        script=base / texts["script"], weeks=weeks, id=texts.get("id"), title=texts.get("title"), unit=unit,
        start=texts.get("from"), end=texts.get("to"), plateau=tuple(sorted(set(plateau))), switch=switch,
        frequency=texts.get("frequency"), path=path,
    )


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


def load_progression(path: str | Path) -> tuple[Programme, Routine]:
    """A programme file and its routine, derived."""
    programme = load_programme(path)
    if not programme.script.is_file():
        raise ScriptError(f"script not found: {programme.script}", file=programme.path, key="script")
    return programme, progression_routine(load_script(programme.script), programme)


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
