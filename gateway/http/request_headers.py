"""A request's headers as a plain dict, decoded once per request.

Starlette's `Headers` decodes and compares the raw list on every lookup, and a
missing name costs a raised `KeyError` inside `Mapping.get`; the GraphQL path
asks for four or five names a request (accept, content-type, authorization, ...),
each a few microseconds on a request that takes a hundred.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

STATE_KEY = "request_headers"  # in `scope["state"]`: a name no other layer uses


def header_map(scope: Scope) -> dict[str, str]:
    """Lowercase name -> value; a repeated name keeps its first value, as `Headers.get`.

    Cached in `scope["state"]`: the headers of a request do not change once it is in.
    """
    state: dict[str, Any] = scope.setdefault("state", {})
    headers: dict[str, str] | None = state.get(STATE_KEY)
    if headers is None:
        # Reversed, so the first occurrence is written last and wins. ASGI servers send
        # names lowercased already.
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        state[STATE_KEY] = headers
    return headers
