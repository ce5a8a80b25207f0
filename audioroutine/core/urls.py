"""One rule for every option that takes an address.

- A published address (`--base-url` of `publish`, `programme`, `prescribe`: it goes into
  pages, feeds, QR codes and handouts) is an absolute `http://` or `https://` address with a
  host, without a user name or password (they would be published in every file), a query,
  a fragment, spaces or control characters. Anything else (`javascript:`, `data:`, `ftp:`,
  `file:`, a relative path) is refused with one line.
- A Dask scheduler (`--scheduler`) is `tcp://HOST:PORT` or `tls://HOST:PORT` (also `ws://`,
  `wss://`), with a port from 1 to 65535 and nothing else (no path, user, query).

Errors are ScriptErrors (exit 2) named after the option; they quote the value redacted.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ScriptError
from .redact import redact, remember_url

MAX_URL_CHARS = 2000
PUBLIC_SCHEMES = ("http", "https")
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss")
PUBLIC_EXAMPLE = "https://clinic.example/exercises/"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def _shown(value: str) -> str:
    """The value as an error may quote it: redacted, one line, not endless."""
    shown = redact(value)
    return repr(shown if len(shown) <= 120 else shown[:119] + "…")   # repr escapes control characters


def public_url(value: str, option: str = "--base-url") -> str:
    """`value` as a published base address, ending in '/'; a ScriptError when it is not one."""
    remember_url(value)   # a refused address's password is masked wherever it appears
    if len(value) > MAX_URL_CHARS:
        raise ScriptError(f"an address of at most {MAX_URL_CHARS} characters, got {len(value)}", file=option)
    problem = _public_problem(value)
    if problem:
        raise ScriptError(f"{problem}, got {_shown(value)}", file=option)
    return value if value.endswith("/") else value + "/"


def _public_problem(value: str) -> str | None:
    expected = f"expected an absolute http:// or https:// address such as {PUBLIC_EXAMPLE}"
    if any(not c.isprintable() or c.isspace() for c in value):
        return expected
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return expected
    if parts.scheme.lower() not in PUBLIC_SCHEMES or not parts.hostname:
        return expected
    if parts.username is not None or parts.password is not None:
        return (f"{expected}, without a user name or password: they would be published in every page, feed "
                "and handout (protect the site with the web server's sign-in instead)")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        return expected
    if not _HOST.match(parts.hostname) or (port is not None and not 1 <= port <= 65535):
        return expected
    return None


def scheduler_address(value: str, option: str = "--scheduler") -> str:
    """`value` as a Dask scheduler address; a ScriptError when it is not one."""
    remember_url(value)
    example = "expected a Dask scheduler address tcp://HOST:PORT (or tls://HOST:PORT), e.g. tcp://build-server:8786"
    if len(value) > MAX_URL_CHARS or any(not c.isprintable() or c.isspace() for c in value):
        raise ScriptError(f"{example}, got {_shown(value)}", file=option)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ScriptError(f"{example}, got {_shown(value)}", file=option) from None
    if "://" not in value and re.match(r"^[A-Za-z0-9.-]+:\d+$", value):
        raise ScriptError(f"{example}, got {_shown(value)} (did you mean tcp://{value}?)", file=option)
    if parts.scheme.lower() not in SCHEDULER_SCHEMES or not parts.hostname or port is None \
            or not _HOST.match(parts.hostname):
        raise ScriptError(f"{example}, got {_shown(value)}", file=option)
    if parts.username is not None or parts.password is not None:
        raise ScriptError(f"{example}, without a user name or password (Dask does not take them), "
                          f"got {_shown(value)}", file=option)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ScriptError(f"{example}, with nothing after the port, got {_shown(value)}", file=option)
    if not 1 <= port <= 65535:
        raise ScriptError(f"{example}, with a port from 1 to 65535, got {_shown(value)}", file=option)
    return value.rstrip("/")
