"""Errors a user can cause. Each carries one line of text; the CLI prints it and exits."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class AudioRoutineError(Exception):
    """Base class: `str(err)` is the one line shown to the user."""

    exit_code = 1


class ScriptError(AudioRoutineError):
    """A script (or settings file) is invalid: bad YAML, unknown key, bad value, speech that cannot fit."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        exercise: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.key = key
        self.exercise = exercise
        self.hint = hint
        super().__init__(self._format())

    def with_hint(self, hint: str) -> ScriptError:
        """The same error with `hint` in brackets at the end."""
        return ScriptError(self.message, file=self.file, line=self.line, key=self.key,
                           exercise=self.exercise, hint=hint)

    def _format(self) -> str:
        where = self.file or "<script>"
        if self.line is not None:
            where += f":{self.line}"
        parts = [f"{where}: "]
        if self.exercise:
            parts.append(f"exercise '{self.exercise}': ")
        if self.key:
            parts.append(f"{self.key}: ")
        parts.append(self.message)
        if self.hint:
            parts.append(f" ({self.hint})")
        return printable("".join(parts))


class ScriptErrors(ScriptError):
    """Several independent errors of one input file (two exercises, two patients): one
    line each. Its message, file and line are the first error's."""

    def __init__(self, errors: Sequence[ScriptError]) -> None:
        flat: list[ScriptError] = []
        for err in errors:
            flat += err.errors if isinstance(err, ScriptErrors) else [err]
        self.errors: list[ScriptError] = flat
        first = flat[0]
        super().__init__(first.message, file=first.file, line=first.line, key=first.key,
                         exercise=first.exercise, hint=first.hint)

    def with_hint(self, hint: str) -> ScriptError:
        """Each error with `hint` added to its own."""
        return ScriptErrors([err.with_hint(f"{err.hint}; {hint}" if err.hint else hint) for err in self.errors])

    def _format(self) -> str:
        return "\n".join(str(err) for err in getattr(self, "errors", []))


def printable(text: str) -> str:
    """`text` with control characters (a newline in a YAML key, say) escaped: one line, and
    nothing that drives the terminal."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class EngineError(AudioRoutineError):
    """A speech engine is missing, unreachable or failed on a phrase."""


class LanguageError(EngineError):
    """An engine cannot speak the routine's language: the input's choice, so exit 2 (the
    build names the script's `language:` line, run/prepare.py)."""

    exit_code = 2


class CacheError(AudioRoutineError):
    """The phrase cache's store (a URL) is unreachable, missing or refuses access."""


class BuildError(AudioRoutineError):
    """Rendering or writing a session failed."""


class ManyErrors(AudioRoutineError):
    """Several errors (one per file, say) reported together: one line each."""

    def __init__(self, errors: Sequence[AudioRoutineError]) -> None:
        self.errors = list(errors)
        self.exit_code = max(err.exit_code for err in self.errors)
        super().__init__("\n".join(str(err) for err in self.errors))


def collect(func: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`func(item)` for every item; when any raise, every error is raised together (one, or a
    ManyErrors) once all items were tried."""
    results: list[R] = []
    errors: list[AudioRoutineError] = []
    for item in items:
        try:
            results.append(func(item))
        except (ManyErrors, ScriptErrors) as err:
            errors += err.errors
        except AudioRoutineError as err:
            errors.append(err)
    raise_all(errors)
    return results


def raise_all(errors: Sequence[AudioRoutineError]) -> None:
    """Raise the one error, or all of them as a ManyErrors; nothing when there are none. An
    error said twice (every file below one symlinked folder) is said once."""
    said: dict[str, AudioRoutineError] = {}
    for err in errors:
        said.setdefault(str(err), err)
    errors = list(said.values())
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ManyErrors(errors)


def key_hint(name: str, allowed: Sequence[str]) -> str:
    """'did you mean ...?' for a close key, else the allowed keys."""
    close = difflib.get_close_matches(name, allowed, n=1)
    return f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(allowed)}"


class WriteRefused(AudioRoutineError):
    """A write or delete the guard refuses: one line naming the file and what to do."""

    exit_code = 2

    def __init__(self, path: Path | str, why: str, todo: str) -> None:
        self.path = Path(path)
        super().__init__(printable(f"{path}: {why}; {todo}"))
