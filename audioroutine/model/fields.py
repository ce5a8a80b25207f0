"""The YAML node reader of routine files: core.reader.NodeReader with the values only a
routine has (durations, names that become file names, engine names)."""

from __future__ import annotations

import yaml

from ..core.limits import MAX_DURATION_MS
from ..core.reader import NodeReader
from ..engines import engine_names
from .durations import parse_duration_ms
from .names import name_problem


class FieldReader(NodeReader):
    """Reads routine values from YAML nodes; errors name file, line, key and exercise."""

    def duration(self, node: yaml.Node, key: str) -> int:
        value = self.scalar(node, key)
        try:
            ms = parse_duration_ms(value)
        except ValueError as err:
            raise self.fail(node, key, str(err)) from None
        if ms > MAX_DURATION_MS:
            raise self.fail(node, key, f"must be at most {MAX_DURATION_MS // 60000} minutes, got {value!r}")
        return ms

    def file_name(self, node: yaml.Node, key: str) -> str:
        """A name that becomes part of a file name (routine id, level): see names.py."""
        value = self.scalar(node, key)
        problem = name_problem(value)
        if problem:
            raise self.fail(node, key, problem)
        return str(value)

    def engine(self, node: yaml.Node, key: str) -> str:
        value = self.scalar(node, key)
        if value not in engine_names():
            raise self.fail(node, key, f"unknown engine {value!r}: choose one of {', '.join(engine_names())}")
        return str(value)
