"""Which media type a GraphQL response is written in, from the request's `Accept`.

GraphQL over HTTP answers `application/graphql-response+json` (request errors are 4xx)
or the legacy `application/json` (document errors are 200); every answer of the
gateway's own (refusals, shedding) uses the same choice.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
MAX_NEGOTIATED = 256
_JSON_RANGES = frozenset({JSON, "application/problem+json", "application/*", "*/*"})
_NEGOTIATED: dict[str, str] = {}


class RequestError(Exception):
    """The HTTP request itself is unusable: no GraphQL execution happens."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
        *,
        extensions: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.headers = status, code, headers or {}
        # Members beside `code` in the error's extensions (`retryAfter`, say).
        self.extensions = extensions or {}


def negotiate(accept: str | None) -> str:
    """Pick the response media type from Accept; raises RequestError(406)."""
    if not accept:
        return JSON
    # Clients send one Accept value over and over: each is parsed once (a bounded few).
    known = _NEGOTIATED.get(accept)
    if known is not None:
        return known
    chosen = _negotiate(accept)
    if len(_NEGOTIATED) < MAX_NEGOTIATED:
        _NEGOTIATED[accept] = chosen
    return chosen


def _ranges(accept: str) -> Iterator[tuple[str, float]]:
    """Each media range of `accept`, lower-cased, with its quality."""
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        yield media.lower(), quality


@functools.lru_cache(maxsize=MAX_NEGOTIATED)
def accepts_json(accept: str) -> bool:
    """Whether `accept` admits JSON: REST answers `application/json`, and refusals
    `application/problem+json`. A client asking for those, for any type, or for another
    `+json` type (a GraphQL client sending `application/graphql-response+json` to every
    endpoint) is served; one asking only for, say, `text/html` is not."""
    return any(
        (media in _JSON_RANGES or media.endswith("+json")) and quality > 0
        for media, quality in _ranges(accept)
    )


def _negotiate(accept: str) -> str:
    best: tuple[float, int, str] | None = None
    for media, quality in _ranges(accept):
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            chosen = GRAPHQL_RESPONSE
        elif media in (JSON, "*/*", "application/*"):
            chosen = JSON
        else:
            continue
        # Higher quality wins; on a tie the newer media type is preferred.
        rank = (quality, 1 if chosen == GRAPHQL_RESPONSE else 0, chosen)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise RequestError(406, f"cannot answer with any of: {accept}", "NOT_ACCEPTABLE")
    return best[2]
