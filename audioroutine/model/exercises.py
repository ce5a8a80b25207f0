"""Exercises: cues, variants and a dosage per level, read from YAML nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from .dosage import dosage_per_level
from .fields import FieldReader
from .routine import Cues, Encourage, Exercise

EXERCISE_CUE_KEYS = ("name", "setup", "movement", "hold", "release", "rep", "inhale", "exhale", "caution")
EXERCISE_KEYS = ("id",) + EXERCISE_CUE_KEYS + ("variants", "dosage", "encourage")
USE_KEYS = ("use", "dosage", "encourage") + EXERCISE_CUE_KEYS


def _cues(reader: FieldReader, keys: dict[str, yaml.Node], key: str, base: Cues | None) -> Cues:
    def get(name: str, conv: Callable[[yaml.Node, str], Any]) -> Any:
        if name in keys:
            return conv(keys[name], f"{key}.{name}")
        return getattr(base, name) if base else (() if name in ("setup", "movement") else None)

    def worded(name: str) -> tuple[str, ...]:
        """A cue said on every rep: a line, or a list of wordings said in turn."""
        if name in keys:
            return reader.texts(keys[name], f"{key}.{name}")
        return base.wordings_of(name) if base else ()

    if base is None and "name" not in keys:
        raise reader.fail(None, f"{key}.name", "missing required key")
    hold, release = worded("hold"), worded("release")
    return Cues(
        name=get("name", reader.text),
        setup=get("setup", reader.texts),
        movement=get("movement", reader.texts),
        hold=hold[0] if hold else None,
        release=release[0] if release else None,
        rep=get("rep", reader.text),
        inhale=get("inhale", reader.text),
        exhale=get("exhale", reader.text),
        caution=get("caution", reader.text),
        wordings=tuple((name, said) for name, said in (("hold", hold), ("release", release)) if len(said) > 1),
    )


def read_exercise(reader: FieldReader, node: yaml.Node, key: str, level_ids: tuple[str, ...]) -> Exercise:
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
    ex_id = reader.identifier(keys["id"], f"{key}.id") if "id" in keys else slug(reader.exercise or "")
    cues = _cues(reader, keys, key, None)
    variants: dict[str, Cues] = {}
    if "variants" in keys:
        for name, vnode in reader.mapping(keys["variants"], f"{key}.variants", None).items():
            vkey = f"{key}.variants.{name}"
            variants[name] = _cues(reader, reader.mapping(vnode, vkey, EXERCISE_CUE_KEYS), vkey, cues)
    dosage_key = next(k for k, _ in node.value if k.value == "dosage")
    dosage = dosage_per_level(reader, keys["dosage"], dosage_key, f"{key}.dosage", level_ids, variants)
    encourage = read_encourage(reader, keys["encourage"], f"{key}.encourage") if "encourage" in keys else None
    if encourage and encourage.on and not any(dose.hold_ms for dose in dosage.values()):
        raise reader.fail(keys["encourage"], f"{key}.encourage", "'encourage' needs a 'hold' (it is said inside holds)")
    return Exercise(id=ex_id, cues=cues, variants=variants, dosage=dosage, line=node.start_mark.line + 1,
                    encourage=encourage)


def read_encourage(reader: FieldReader, node: yaml.Node, key: str) -> Encourage:
    """`encourage: true` (the language's lines), `false`, or a line or list of the script's own."""
    line, file = node.start_mark.line + 1, reader.origin.get(id(node), reader.path)
    if isinstance(node, yaml.ScalarNode) and isinstance(reader.scalar(node, key), bool):
        return Encourage(on=reader.boolean(node, key), line=line, file=file)
    if isinstance(node, yaml.SequenceNode) and not node.value:
        raise reader.fail(node, key, "expected true, false, a line or a list of lines, got an empty list")
    return Encourage(lines=reader.texts(node, key), line=line, file=file)


def slug(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "exercise"
