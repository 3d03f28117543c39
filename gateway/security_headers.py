"""Security headers on every HTTP response; a header a route set itself is kept.

The API answers JSON, so its CSP forbids everything (`default-src 'none'`) and any
framing; the GraphiQL page sets its own nonce CSP, which wins. HSTS only goes out
over https (RFC 6797, 7.2: a UA ignores it over http, and it would pin a dev host).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.client_ip import is_https

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
_BASE_RAW = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in BASE_HEADERS)


def hsts_value(max_age: int) -> str | None:
    return f"max-age={max_age}; includeSubDomains" if max_age > 0 else None


class SecurityHeadersMiddleware:
    """Adds the headers in BASE_HEADERS, and HSTS over https, unless already present."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 63_072_000) -> None:
        self.app = app
        self.hsts = hsts_value(hsts_seconds)
        hsts = ((b"strict-transport-security", self.hsts.encode("latin-1")),) if self.hsts else ()
        self._https_defaults = (*_BASE_RAW, *hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = self._https_defaults if is_https(scope) else _BASE_RAW

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the one sent may be the response object's own.
                headers = list(message.get("headers", ()))
                present = {name for name, _ in headers}
                headers.extend(item for item in defaults if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
