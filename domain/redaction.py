"""The redaction rules shared by the logs and the audit trail: secrets and personal data
never leave the process in a log line or an audit row.

Sensitive keys (passwords, tokens, secrets, credentials) are recognised by name; JWTs
and bearer credentials are cut out of any text, and emails are masked
(`a***@example.com`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

REDACTED = "[redacted]"

SENSITIVE_KEY = re.compile(
    r"password|passwd|token|secret|authorization|cookie|api[_-]?key|credential", re.I
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I)
# Free text is redacted only where it says what follows: "password hunter2", "token=abc".
_PASSWORD_IN_TEXT = re.compile(
    r"""\b(password|passwd|pwd)\b(\s*[=:]\s*|\s+)("[^"]*"|'[^']*'|[^\s,;]+)""", re.I
)
_SECRET_IN_TEXT = re.compile(
    r"""\b(token|secret|api[_-]?key)\b(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;]+)""", re.I
)
_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# In ASCII text each pattern above needs one of these, in any case. Most values (ids,
# paths such as /api/v1/..., levels, times) hold none: a few `in` checks instead of
# five substitutions (written out: a generator over a tuple of words cost more than
# the checks).
_API_KEYS: Final = ("apikey", "api_key", "api-key")
_SCALARS: Final = (int, float, bool, type(None))


def redact_text(text: str) -> str:
    """`text` with JWTs and bearer credentials cut out and emails masked."""
    return _substitute(text) if _may_need_redaction(text) else text


def _may_need_redaction(text: str) -> bool:
    if not text.isascii():
        return True  # re.I also folds dotless i, long s and the Kelvin sign to ASCII
    lowered = text.lower()
    return (
        "@" in lowered
        or "eyj" in lowered
        or "bearer" in lowered
        or "basic" in lowered
        or "passw" in lowered
        or "pwd" in lowered
        or "token" in lowered
        or "secret" in lowered
        or ("api" in lowered and any(word in lowered for word in _API_KEYS))
    )


def _substitute(text: str) -> str:
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _PASSWORD_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _EMAIL.sub(r"\1***@\2", text)


def redact_value(value: Any) -> Any:
    """A JSON-ready copy of `value`: sensitive keys removed, strings redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        return {
            str(key): redact_value(item)
            for key, item in value.items()
            if not SENSITIVE_KEY.search(str(key))
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    # Anything else is rendered now, so its text is redacted too (a repr can hold an email).
    return redact_text(str(value))


def is_sensitive_key(key: str) -> bool:
    """Whether a value stored under `key` is a secret (its value is never shown)."""
    return SENSITIVE_KEY.search(key) is not None
