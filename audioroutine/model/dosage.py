"""Dosage: how much of an exercise each level does (reps, sets, hold, breath, rest...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from .fields import FieldReader
from .routine import COUNTS, DEFAULT_COUNTDOWN, HALFWAY_ROOM_MS, SIDES, Breath, Cues, Dosage

DOSAGE_KEYS = (
    "reps", "sets", "hold", "rest", "set_rest", "side_rest", "rep_time", "work", "move",
    "transition", "sides", "count", "breath", "countdown", "halfway", "variant", "skip",
)


def dosage_per_level(
    reader: FieldReader, node: yaml.Node, key_node: yaml.Node, key: str, level_ids: tuple[str, ...],
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


Read = Callable[[FieldReader, yaml.Node, str], Any]
_INTEGER: Read = lambda reader, node, key: reader.integer(node, key, 1)   # noqa: E731
# Dosage key -> (Dosage field, how it is read), in the order errors are looked for.
_SIMPLE: dict[str, tuple[str, Read]] = {
    "reps": ("reps", _INTEGER),
    "sets": ("sets", _INTEGER),
    "hold": ("hold_ms", FieldReader.duration),
    "rest": ("rest_ms", FieldReader.duration),
    "set_rest": ("set_rest_ms", FieldReader.duration),
    "side_rest": ("side_rest_ms", FieldReader.duration),
    "rep_time": ("rep_ms", FieldReader.duration),
    "work": ("work_ms", FieldReader.duration),
    "move": ("move_ms", FieldReader.duration),
    "transition": ("transition_ms", FieldReader.duration),
    "sides": ("sides", lambda reader, node, key: reader.choice(node, key, SIDES)),
    "count": ("count", lambda reader, node, key: reader.choice(node, key, COUNTS)),
}
_FLAGS = {"halfway": "halfway", "skip": "skip"}
KINDS = ("hold", "breath", "rep_time", "work")    # how long a rep lasts: exactly one


def _dosage(
    reader: FieldReader, f: dict[str, yaml.Node], key: str, at: yaml.Node, variants: dict[str, Cues]
) -> Dosage:
    values: dict[str, Any] = {"breath": _breath(reader, f, key), "variant": _variant(reader, f, key, variants)}
    for name, (attr, read) in _SIMPLE.items():
        if name in f:
            values[attr] = read(reader, f[name], f"{key}.{name}")
    values["countdown"] = _countdown(reader, f, f"{key}.countdown")
    for name, attr in _FLAGS.items():
        if name in f:
            values[attr] = reader.boolean(f[name], f"{key}.{name}")
    dosage = Dosage(**values, line=at.start_mark.line + 1)
    _check_kind(reader, f, key, at, dosage)
    _check_hold_extras(reader, f, key, dosage)
    return dosage


def _breath(reader: FieldReader, f: dict[str, yaml.Node], key: str) -> Breath | None:
    if "breath" not in f:
        return None
    node, key = f["breath"], f"{key}.breath"
    parts = reader.mapping(node, key, ("in", "out"))
    for part in ("in", "out"):
        if part not in parts:
            raise reader.fail(node, f"{key}.{part}", "missing required key")
    breath = Breath(reader.duration(parts["in"], f"{key}.in"), reader.duration(parts["out"], f"{key}.out"))
    if not breath.inhale_ms or not breath.exhale_ms:
        raise reader.fail(node, key, "breaths must last longer than zero")
    return breath


def _variant(reader: FieldReader, f: dict[str, yaml.Node], key: str, variants: dict[str, Cues]) -> str | None:
    if "variant" not in f:
        return None
    variant = reader.text(f["variant"], f"{key}.variant")
    if variant not in variants:
        known = ", ".join(variants) or "none defined"
        raise reader.fail(f["variant"], f"{key}.variant", f"unknown variant '{variant}'", f"variants: {known}")
    return variant


def _check_kind(reader: FieldReader, f: dict[str, yaml.Node], key: str, at: yaml.Node, dosage: Dosage) -> None:
    """Exactly one way of timing a rep; `count` and `side_rest` only with their kind of sides."""
    kinds = [name for name in KINDS if name in f]
    if len(kinds) > 1:
        raise reader.fail(at, key, f"give only one of 'hold', 'breath', 'rep_time' or 'work', not both "
                                   f"'{kinds[0]}' and '{kinds[1]}'")
    if not dosage.skip and not kinds:
        raise reader.fail(at, key, "say how long a rep lasts", "give 'hold', 'breath', 'rep_time' or 'work'")


def _check_hold_extras(reader: FieldReader, f: dict[str, yaml.Node], key: str, dosage: Dosage) -> None:
    """countdown, halfway and move need a hold and must fit in it."""
    def k(name: str) -> str:
        return f"{key}.{name}"

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


def _countdown(reader: FieldReader, f: dict[str, yaml.Node], key: str) -> int:
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
