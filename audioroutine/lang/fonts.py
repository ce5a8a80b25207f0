"""The font for covers and handouts: Source Sans Pro (SIL Open Font License), installed from
PyPI with audioroutine (the `font-source-sans-pro` package), so a fresh machine with only
Python draws every shipped language's letters; no system font is looked for. The glyph test
(tests/output/test_fonts.py) checks the font has every `Language.letters`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

PACKAGE = "font_source_sans_pro"
FILES = {"regular": "SourceSansPro-Regular.ttf", "bold": "SourceSansPro-Bold.ttf"}


@cache
def font_path(weight: str = "regular") -> Path:
    """The TrueType file of a weight ('regular' or 'bold')."""
    path = Path(str(resources.files(PACKAGE).joinpath("files", FILES[weight])))
    if not path.is_file():   # a broken install: say which package to reinstall
        raise FileNotFoundError(f"font missing: {path} (pip install --force-reinstall font-source-sans-pro)")
    return path


@cache
def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def font_version() -> str:
    return package_version("font-source-sans-pro")
