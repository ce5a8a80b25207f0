"""Exercise libraries: exercises written once, used by several routines (`use: ID`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..core.errors import ScriptError, key_hint
from ..core.limits import MAX_EXERCISES
from ..core.reader import compose_yaml, named_by, read_text
from .exercises import EXERCISE_KEYS, USE_KEYS, read_exercise, slug
from .fields import FieldReader
from .routine import Exercise

LIBRARY_KEYS = ("library", "exercises")


@dataclass(frozen=True)
class Library:
    """An exercise library file: exercises (as YAML nodes, checked when a routine uses them,
    since only the routine knows its levels) by id."""

    path: str
    name: str
    exercises: dict[str, yaml.MappingNode]


def load_library(path: Path, shown: str) -> Library:
    """Read a library file with the same limits and strictness as a script. A file without
    a top-level `library:` is not one, and nothing of it is quoted."""
    text, _ = read_text(path, "library", shown)
    reader = FieldReader(shown)
    root = compose_yaml(text, shown)
    if root is None:
        raise ScriptError("the library is empty", file=shown)
    top = reader.top(root, LIBRARY_KEYS, "an exercise library", "library")
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
        with reader.collect():
            ex_id = _library_exercise(reader, node, f"exercises[{index}]", exercises)
            assert isinstance(node, yaml.MappingNode)   # _library_exercise checked it
            exercises[ex_id] = node
    reader.raise_errors()
    return Library(path=shown, name=name, exercises=exercises)


def _library_exercise(reader: FieldReader, node: yaml.Node, key: str, seen: dict[str, yaml.MappingNode]) -> str:
    keys = reader.mapping(node, key, EXERCISE_KEYS)
    if "name" not in keys:
        raise reader.fail(node, f"{key}.name", "missing required key")
    ex_id = reader.identifier(keys["id"], f"{key}.id") if "id" in keys else slug(reader.text(keys["name"], key))
    if ex_id in seen:
        raise reader.fail(node, f"{key}.id", f"duplicate exercise id '{ex_id}'")
    return ex_id


def read_libraries(
    reader: FieldReader, node: yaml.Node, cache: dict[Path, Library] | None
) -> dict[str, tuple[Library, yaml.MappingNode]]:
    """`libraries: [file, ...]`, relative to the script's folder (inside the allowed roots,
    core.reader.inside_roots) → exercise id → (library, node)."""
    cache = {} if cache is None else cache
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if isinstance(node, yaml.MappingNode):
        raise reader.fail(node, "libraries", "expected a file name or a list of file names")
    out: dict[str, tuple[Library, yaml.MappingNode]] = {}
    for index, item in enumerate(items):
        key = f"libraries[{index}]" if isinstance(node, yaml.SequenceNode) else "libraries"
        entry = reader.text(item, key)
        if Path(entry).is_absolute():
            raise reader.fail(item, key, f"library path {entry!r} is absolute",
                              "give it relative to the script's folder")
        path = reader.path_of(item, key, "library")
        resolved = path.resolve()
        if resolved not in cache:
            try:
                cache[resolved] = load_library(resolved, str(path))
            except ScriptError as err:   # the library's own error, and who named it
                raise named_by(err, f"{reader.path}:{item.start_mark.line + 1}") from None
        library = cache[resolved]
        for ex_id, ex_node in library.exercises.items():
            if ex_id in out and out[ex_id][0] is not library:
                raise reader.fail(item, key, f"exercise id '{ex_id}' is in two libraries: "
                                             f"{out[ex_id][0].path} and {library.path}")
            out[ex_id] = (library, ex_node)
    return out


def _register(reader: FieldReader, node: yaml.Node, file: str) -> None:
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


def used_exercise(
    reader: FieldReader, node: yaml.MappingNode, key: str, level_ids: tuple[str, ...],
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
    exercise = read_exercise(reader, merged, key, level_ids)
    exercise = Exercise(id=ex_id, cues=exercise.cues, variants=exercise.variants, dosage=exercise.dosage,
                        line=exercise.line, encourage=exercise.encourage)
    return exercise, (ex_id, yaml.serialize(lib_node))


def with_libraries(sha256: str, used: list[tuple[str, str]]) -> str:
    """The script's hash, extended by the source of exactly the library exercises it uses:
    editing one library exercise changes the hash of the routines using it, and no other."""
    if not used:
        return sha256
    digest = hashlib.sha256(sha256.encode())
    for ex_id, source in used:
        digest.update(f"\0{ex_id}\0{source}".encode())
    return digest.hexdigest()
