"""The one reader of input files: scripts, exercise libraries, programmes, prescriptions (YAML
and CSV), settings (TOML), and the JSON records the tool writes (build manifest, site record).

Every kind gets the same guarantees (docs/reliability.md, "Input files"):
- at most MAX_FILE_BYTES are read (MAX_RECORD_BYTES for a record), strict UTF-8, no NUL;
- YAML is bounded before it is built: MAX_DEPTH levels, MAX_VALUES values and aliases, only
  the plain tags; a TOML or JSON file nested too deeply is an error, never a RecursionError;
- every text value passes `text_problem`: no control characters (ESC, BEL, DEL, C1), no
  surrogates or noncharacters (U+FFFE...), at most MAX_TEXT_CHARS;
- errors name the file and line, unknown keys get a "did you mean";
- a file that is not what it claims to be is never quoted: errors about it name its path
  and what was expected, never a key or value found in it;
- a path named inside an input file (`libraries:`, `script:`, `programme:`, `cover`) resolves
  inside the allowed roots (`inside_roots`) and to a regular file;
- a record (JSON the tool wrote) that is damaged or hostile is treated as absent
  (`read_record`), never a crash, and says so in the log (`-v`).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ScriptError, ScriptErrors, key_hint
from .files import decode_input, read_input
from .limits import (
    MAX_COUNT,
    MAX_DEPTH,
    MAX_RECORD_BYTES,
    MAX_RECORD_TEXT,
    MAX_TEXT_CHARS,
    MAX_VALUES,
)

log = logging.getLogger("audioroutine")
Choice = TypeVar("Choice", bound=str)
ROOTS_ENV = "AUDIOROUTINE_ROOTS"
_WHITESPACE = "\t\n\r"
# Control characters (category Cc) but tab and newlines, surrogates (Cs), noncharacters: one
# class, so a text is checked in one pass (tests/model/test_fuzz_inputs.py checks it against the
# character-by-character definition, unicodedata and is_noncharacter).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                        + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(17))
                        + "]")


# --- text ------------------------------------------------------------------------------------

def is_noncharacter(char: str) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+FFFF...)."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def control_problem(value: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Why `value` cannot be kept as text at all: too long, or a character that drives a
    terminal or breaks a tag (control, surrogate, noncharacter). None when it is fine."""
    if len(value) > limit:
        return f"text is longer than {limit} characters ({len(value)})"
    found = _FORBIDDEN.search(value)
    if found:
        return f"control character U+{ord(found.group()):04X} is not allowed in text"
    return None


def text_problem(value: str) -> str | None:
    """Why `value` cannot be used as text, or None when it can. Control characters (from YAML
    escapes such as "\\x1b" or "\\0") would reach tags and transcripts; text without a letter
    or digit is spoken as silence."""
    problem = control_problem(value)
    if problem:
        return problem
    if not any(char.isalnum() for char in value):
        return f"text must contain a letter or digit to be spoken, got {value!r}"
    return None


def whole_number(value: str, low: int = 1, high: int = MAX_COUNT) -> int | None:
    """`value` as a whole number from `low` to `high` written in ASCII digits, else None
    ("²" and a 5,000-digit string are None, never an exception)."""
    value = value.strip()
    if not value or len(value) > 6 or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if low <= number <= high else None


# --- files -----------------------------------------------------------------------------------

def read_text(path: Path, what: str = "file", shown: str | None = None) -> tuple[str, bytes]:
    """The text and raw bytes of an input file (see core.files.read_input and decode_input)."""
    raw = read_input(path, what)
    return decode_input(raw, shown or str(path)), raw


def allowed_roots(base: Path) -> list[Path]:
    """Where files named inside an input file in folder `base` may be: `base` and below, the
    current folder and below, and every folder in $AUDIOROUTINE_ROOTS (or `--root`)."""
    roots = [base, Path.cwd()]
    roots += [Path(item).expanduser() for item in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if item.strip()]
    out = []
    for root in roots:
        try:
            out.append(root.resolve())
        except (OSError, RuntimeError, ValueError):
            continue
    return list(dict.fromkeys(out))


class PathRefused(Exception):
    """A path named inside an input file cannot be used: str(err) says why (one line)."""


def inside_roots(entry: str, base: Path, what: str) -> Path:
    """The regular file `entry` names, relative to `base` (the naming file's folder), after
    checking that it resolves (symlinks followed) inside `allowed_roots(base)`; else PathRefused."""
    if "\0" in entry or control_problem(entry):
        raise PathRefused(f"{what} path has a control character")
    path = base / entry
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError):
        raise PathRefused(f"{what} {entry!r} cannot be resolved (a symlink loop?)") from None
    roots = allowed_roots(base)
    if not any(resolved == root or root in resolved.parents for root in roots):
        raise PathRefused(f"{what} {entry!r} is outside the folders an input file may name: "
                          f"its own folder, the current folder and ${ROOTS_ENV}")
    try:
        mode = resolved.stat().st_mode
    except FileNotFoundError:
        raise PathRefused(f"{what} {entry!r} not found ({path})") from None
    except OSError as err:
        raise PathRefused(f"{what} {entry!r} cannot be read: {err.strerror}") from None
    if stat.S_ISDIR(mode):
        raise PathRefused(f"{what} {entry!r} is a folder, not a file")
    if not stat.S_ISREG(mode):
        raise PathRefused(f"{what} {entry!r} is a device, pipe or socket, not a file")
    return path


# --- YAML ------------------------------------------------------------------------------------

_SAFE_TAGS = {"!"} | {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}


def compose_yaml(text: str, path: str) -> yaml.Node | None:
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
        raise ScriptError(f"YAML syntax error: {problem}", file=path, line=mark.line + 1 if mark else None,
                          hint="check indentation and quoting") from None
    except yaml.reader.ReaderError as err:   # a character YAML does not allow
        line = text[:err.position].count("\n") + 1
        raise ScriptError(f"control character U+{err.character:04X} is not allowed", file=path, line=line) from None
    except yaml.YAMLError:
        raise ScriptError("YAML syntax error", file=path) from None
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


def top_keys(path: Path) -> list[str] | None:
    """The top-level keys of a YAML file, or None when it cannot be read, does not parse or is
    not a mapping: what a folder build looks at to tell a routine from a library, programme or
    prescription. Read from the event stream (not recursive, nothing built), size-bounded."""
    try:
        text = read_text(path)[0]
    except ScriptError:
        return None
    keys: list[str] = []
    depth, key_next, documents = 0, False, 0
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            documents += isinstance(event, yaml.DocumentStartEvent)
            if documents > 1:    # not one document: loading it as a routine says so
                return None
            if depth == 1 and isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)):
                if key_next and isinstance(event, yaml.ScalarEvent):
                    keys.append(event.value)
                key_next = not key_next
            if isinstance(event, yaml.CollectionStartEvent):
                if depth == 0 and not isinstance(event, yaml.MappingStartEvent):
                    return None
                key_next = key_next or depth == 0
                depth += 1
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif depth == 0 and isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
                return None
    except (yaml.YAMLError, RecursionError):
        return None
    return keys or None


def claims(names: list[str], allowed: tuple[str, ...]) -> bool:
    """True when a file with top-level keys `names` claims to be of the kind whose keys are
    `allowed`: one of them is allowed, or close to an allowed one (a misspelling). Only then
    are its unknown keys shown in errors."""
    return any(name in allowed or difflib.get_close_matches(name, allowed, n=1) for name in names[:100])


def short(name: str, limit: int = 40) -> str:
    """A key as shown in an error: a 1 MB key stays a short line."""
    return name if len(name) <= limit else name[:limit] + "…"


class NodeReader:
    """Walks composed YAML nodes, so every value keeps its line number. `collect()` keeps the
    errors of independent parts (two exercises, two patients) so that all are reported."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.exercise: str | None = None
        self.origin: dict[int, str] = {}     # id(node) -> another file (a library), for errors
        self.errors: list[ScriptError] = []
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node | None, key: str, message: str, hint: str | None = None) -> ScriptError:
        line = node.start_mark.line + 1 if node is not None else None
        file = self.origin.get(id(node), self.path) if node is not None else self.path
        if file != self.path:
            hint = f"{hint}; used by {self.path}" if hint else f"used by {self.path}"
        return ScriptError(message, file=file, line=line, key=key, exercise=self.exercise, hint=hint)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a block whose errors are kept (in `errors`) instead of raised."""
        try:
            yield
        except ScriptErrors as err:
            self.errors += err.errors
        except ScriptError as err:
            self.errors.append(err)

    def raise_errors(self) -> None:
        """Raise every error kept: one, or a ScriptErrors with one line each, this file's
        in line order, then those of other files (libraries) it names."""
        errors, self.errors = self.errors, []
        errors.sort(key=lambda err: (err.file != self.path, err.file or "", err.line or 0))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ScriptErrors(errors)

    def mapping(self, node: yaml.Node, key: str, allowed: tuple[str, ...] | None,
                keep_going: bool = False) -> dict[str, yaml.Node]:
        """The pairs of a mapping node by key name. Unknown keys (not in `allowed`) are
        errors; with `keep_going` they are kept in `errors` and the known pairs returned."""
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, key, "expected a mapping of keys to values")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(name, str):
                raise self.fail(key_node, key, "keys must be plain names")
            if name in out:
                raise self.fail(key_node, f"{key}.{short(name)}" if key else short(name),
                                f"key '{short(name)}' appears twice")
            out[name] = value_node
        if allowed is not None and keep_going:
            with self.collect():
                self.check_keys(node, key, allowed)
            return {name: value for name, value in out.items() if name in allowed}
        if allowed is not None:
            self.check_keys(node, key, allowed)
        return out

    def check_keys(self, node: yaml.MappingNode, key: str, allowed: tuple[str, ...]) -> None:
        """Every unknown key of `node` is an error (all of them, one line each)."""
        errors = []
        for key_node, _ in node.value:
            name = str(key_node.value)
            if name not in allowed:
                errors.append(self.fail(key_node, f"{key}.{short(name)}" if key else short(name),
                                        f"unknown key '{short(name)}'", key_hint(name, allowed)))
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ScriptErrors(errors)

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

    def top(self, root: yaml.Node, allowed: tuple[str, ...], kind: str, required: str | None = None,
            keep_going: bool = False) -> dict[str, yaml.Node]:
        """The top-level mapping of a file that must be `kind` (e.g. "an exercise library"):
        when it is not a mapping, has none of `allowed`'s keys, or lacks `required`, it is not
        one, and the error says so without quoting anything of it (it may be any file)."""
        names = [str(k.value) for k, _ in root.value] if isinstance(root, yaml.MappingNode) else []
        if not claims(names, allowed) or (required and required not in names):
            what = f"no top-level '{required}:'" if required else f"none of the keys {', '.join(allowed[:3])}..."
            raise ScriptError(f"not {kind}: {what}", file=self.path)
        return self.mapping(root, "", allowed, keep_going)

    def path_of(self, node: yaml.Node, key: str, what: str) -> Path:
        """A file named by `node`, relative to this file's folder, inside the allowed roots."""
        entry = self.text(node, key)
        try:
            return inside_roots(entry, Path(self.path).parent, what)
        except PathRefused as err:
            raise self.fail(node, key, str(err)) from None


def named_by(err: ScriptError, where: str) -> ScriptError:
    """`err` (about a file another file names) with "named by WHERE" added to its hint."""
    named = f"named by {where}"
    if isinstance(err, ScriptErrors):
        return err.with_hint(named)
    return err.with_hint(f"{err.hint}; {named}" if err.hint else named)


# --- CSV -------------------------------------------------------------------------------------

def csv_rows(text: str, path: str, first_line: int, max_rows: int, max_columns: int) -> list[list[str]]:
    """The rows of a CSV text (starting at line `first_line` of the file): at most `max_rows`
    rows and `max_columns` cells a row, each cell at most 131,072 characters (csv's own
    limit). The caller checks each cell with `control_problem`, where it knows the column."""
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    try:
        for row in reader:
            line = first_line + reader.line_num - 1
            if len(rows) > max_rows:
                raise ScriptError(f"more than {max_rows:,} rows", file=path, line=line)
            if len(row) > max_columns:
                raise ScriptError(f"{len(row)} cells in one row: at most {max_columns}", file=path, line=line)
            rows.append(row)
    except csv.Error as err:
        message = str(err).split(" (")[0]
        raise ScriptError(f"CSV error: {message[:80]}", file=path, line=first_line + reader.line_num - 1) from None
    return rows


# --- TOML ------------------------------------------------------------------------------------

def load_toml(text: str, path: str) -> dict[str, Any]:
    """A TOML document; a syntax error (with its line), deep nesting or a number that cannot
    be read is a ScriptError."""
    import re
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        match = re.search(r"\(at line (\d+)", str(err))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err))
        raise ScriptError(f"TOML syntax error: {message}", file=path,
                          line=int(match.group(1)) if match else None, hint='write key = "text"') from None
    except RecursionError:
        raise ScriptError("TOML nested too deeply", file=path, hint='write flat lines like engine = "piper"') from None
    except (ValueError, OverflowError):   # a number of 5,000 digits, a date out of range
        raise ScriptError("TOML value cannot be read (a number too large?)", file=path,
                          hint='write flat lines like engine = "piper"') from None


# --- records (JSON the tool wrote) -----------------------------------------------------------

def read_record(path: Path, what: str, valid: Callable[[Any], bool] = lambda data: True) -> Any | None:
    """The data of a JSON record the tool wrote (build manifest, site record), or None when
    there is none, or when it is damaged or hostile (a symlink, not a regular file, too
    large, not UTF-8, not JSON, nested too deeply, a text with a control character, not
    `valid`): it is then treated as absent and the log says so (shown with -v)."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        return _ignored(path, what, f"cannot be read ({err.strerror})")
    if not stat.S_ISREG(info.st_mode):
        return _ignored(path, what, "not a regular file")
    if info.st_size > MAX_RECORD_BYTES:
        return _ignored(path, what, f"larger than {MAX_RECORD_BYTES:,} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            raw = fh.read(MAX_RECORD_BYTES + 1)
    except OSError as err:
        return _ignored(path, what, f"cannot be read ({err.strerror})")
    problem = None
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        problem = _tree_problem(data)
        if problem is None and not valid(data):
            problem = "not in the expected form"
    except (UnicodeDecodeError, ValueError, RecursionError, OverflowError):
        problem = "not valid JSON"
    if len(raw) > MAX_RECORD_BYTES:
        problem = f"larger than {MAX_RECORD_BYTES:,} bytes"
    return _ignored(path, what, problem) if problem else data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _tree_problem(data: Any) -> str | None:
    """Why a JSON tree is not one the tool wrote: too deep, a bad text, a huge number."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            stack += [(key, depth) for key in item] + [(value, depth + 1) for value in item.values()]
        elif isinstance(item, list):
            stack += [(value, depth + 1) for value in item]
        elif isinstance(item, str) and control_problem(item, MAX_RECORD_TEXT):
            return "a text in it has a control character or is too long"
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 1 << 64:
            return "a number in it is too large"
    return None


def _ignored(path: Path, what: str, why: str) -> Any:
    """None, after saying in the log (shown with -v) why the record is treated as absent."""
    log.info("%s: %s ignored: %s (treated as absent)", path, what, why)
    return None
