"""YAML nodes (with line numbers) for programme and prescription files."""

from __future__ import annotations

import yaml

from ..core.errors import ScriptError


def compose(text: str, path: str) -> yaml.Node | None:
    """The YAML node tree of `text`; a syntax error is a ScriptError with its line."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ScriptError(f"YAML syntax error: {getattr(err, 'problem', None) or 'invalid YAML'}", file=path,
                          line=mark.line + 1 if mark else None) from None
