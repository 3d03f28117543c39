"""Security headers on every HTTP response; a header a route set itself is kept.

The API answers JSON, so its CSP forbids everything (`default-src 'none'`) and any
framing; the GraphiQL page sets its own nonce CSP, which wins. HSTS only goes out
over https (RFC 6797, 7.2: a UA ignores it over http, and it would pin a dev host).
The edge (`gateway.http.edge`) adds them as the response starts.
"""

from __future__ import annotations

from starlette.types import Scope

from gateway.http.client_ip import is_https

type RawHeaders = tuple[tuple[bytes, bytes], ...]

API_CSP = "default-src 'none'; frame-ancestors 'none'"
BASE_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("content-security-policy", API_CSP),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), geolocation=(), microphone=()"),
)
# As sent: computed once rather than encoded on every response.
_BASE_RAW: RawHeaders = tuple(
    (name.encode("latin-1"), value.encode("latin-1")) for name, value in BASE_HEADERS
)
HSTS = b"strict-transport-security"
# Every name the defaults may hold, whatever the scheme.
NAMES: frozenset[bytes] = frozenset({*(name for name, _ in _BASE_RAW), HSTS})


def hsts_value(max_age: int) -> str | None:
    return f"max-age={max_age}; includeSubDomains" if max_age > 0 else None


class SecurityHeaders:
    """The headers in BASE_HEADERS, and HSTS over https; the edge adds those not present."""

    def __init__(self, hsts_seconds: int = 63_072_000) -> None:
        self.hsts = hsts_value(hsts_seconds)
        hsts = ((HSTS, self.hsts.encode("latin-1")),) if self.hsts else ()
        self._https_defaults: RawHeaders = (*_BASE_RAW, *hsts)

    def for_scope(self, scope: Scope) -> RawHeaders:
        """The defaults for this request's responses (HSTS only if the client used https)."""
        return self._https_defaults if is_https(scope) else _BASE_RAW

    def for_scheme(self, scheme: str | None) -> RawHeaders:
        """`for_scope` given the scheme the edge determined (`http`, `https`)."""
        return self._https_defaults if scheme == "https" else _BASE_RAW
