"""One redaction for everything the tool shows or writes: error and warning lines, `--debug`
tracebacks, JSON results, pages, feeds and handouts.

Three kinds of secret never appear:

- the credentials of any URL: `s3://KEY:SECRET@bucket` → `s3://KEY:***@bucket`, a lone user
  part (often a token) → `https://***@host`;
- secret query parameters of any URL (`X-Amz-Signature=`, `X-Amz-Credential=`, `token=`,
  `access_token=`, `password=`, `key=`, `sig=`...): their values become `***`;
- the values of secret environment variables (a name with a part such as SECRET, TOKEN,
  PASSWORD, KEY, CREDENTIALS: `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`...), and the
  passwords of URLs the user gave (`remember`), wherever they appear, alone or in a URL.
"""

from __future__ import annotations

import os
import re

MASK = "***"
MIN_SECRET = 4        # shorter environment values ("1", "yes") would mask ordinary words

# scheme://userinfo@ : userinfo up to the first '@' before any '/', '?' or '#'
# (the last '@' of the authority: a password may hold an unescaped '@')
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#'\"<>]+)@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:x-amz-(?:signature|credential|security-token)|x-goog-(?:signature|credential)"
    r"|(?:access_|refresh_|id_|session_|auth_|api_|private_)?token|sig|signature|password|passwd|pwd|secret"
    r"|client_secret|api_?key|key|apikey|auth|authorization|credential|credentials|sas|code)=)"
    r"(?P<value>[^&;#\s'\"<>]+)",
    re.IGNORECASE,
)
_SECRET_NAME_PARTS = frozenset({
    "SECRET", "SECRETS", "TOKEN", "TOKENS", "PASSWORD", "PASSWD", "PASS", "PASSPHRASE", "PWD",
    "KEY", "APIKEY", "CREDENTIAL", "CREDENTIALS", "PRIVATE", "SIGNATURE", "AUTH",
})
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})   # the shell's working directories
_FSSPEC_SECRET = re.compile(r'"(?:key|secret|token|password|aws_secret_access_key|aws_session_token)"\s*:\s*"([^"]+)"',
                            re.IGNORECASE)

_remembered: set[str] = set()


def secret_env_name(name: str) -> bool:
    """True for an environment variable whose name says it holds a secret."""
    upper = name.upper()
    parts = re.split(r"[_\W]+", upper)
    if upper in _NOT_SECRET or parts[-1] == "ID":   # AWS_ACCESS_KEY_ID, CLIENT_ID: names, not secrets
        return False
    return any(part in _SECRET_NAME_PARTS for part in parts)


def _environment_secrets() -> set[str]:
    found = set()
    for name, value in os.environ.items():
        if secret_env_name(name) and len(value) >= MIN_SECRET:
            found.add(value)
        elif name.upper().startswith("FSSPEC_"):   # fsspec's JSON configuration may carry keys
            found.update(m.group(1) for m in _FSSPEC_SECRET.finditer(value))
    return found


def remember(secret: str | None) -> None:
    """Mask `secret` wherever it appears from now on (a URL's password, once the URL is read)."""
    if secret and len(secret) >= MIN_SECRET:
        _remembered.add(secret)


def remember_url(url: str) -> None:
    """Remember the credentials in `url` (its password, or a lone user part)."""
    for match in _USERINFO.finditer(url):
        user, _, password = match["userinfo"].partition(":")
        remember(password if password else user)


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def _mask_value(match: re.Match[str]) -> str:
    value = match["value"]
    kept = value[len(value.rstrip(":,.;)")):]   # punctuation of the message around the URL stays
    return f"{match['name']}{MASK}{kept}"


def redact(text: str) -> str:
    """`text` with every secret masked (see the module docstring)."""
    if not text:
        return text
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _SECRET_PARAM.sub(_mask_value, text)
    for secret in sorted(_environment_secrets() | _remembered, key=len, reverse=True):   # longest first
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget() -> None:
    """Forget the secrets `remember` was given (a new session of a long-lived process; tests)."""
    _remembered.clear()
