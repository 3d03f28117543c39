"""Request ids: honour a well-formed incoming X-Request-ID, otherwise make one.

The edge (`gateway.http.edge`) stores the id in the request's `RequestState` and echoes
it on the response.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from starlette.types import Scope

from gateway.observability.request_state import request_state

HEADER = "x-request-id"
HEADER_KEY = HEADER.encode()
_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


# Random ids drawn ahead, 64 to a system call: a `getrandom` call a request was ~2% of
# a persisted trivial query (docs/benchmarks/design-notes.md). Each id is still 16
# bytes of `os.urandom`, used once: `list.pop` hands an id to one caller only (the GIL
# makes it atomic), and a forked child starts empty rather than repeat its parent's.
_DRAWN_AT_ONCE = 64
_drawn: list[str] = []
os.register_at_fork(after_in_child=_drawn.clear)


def new_request_id() -> str:
    """32 random hex digits, as `uuid4().hex` but without building a UUID (every request)."""
    try:
        return _drawn.pop()
    except IndexError:
        digits = os.urandom(16 * _DRAWN_AT_ONCE).hex()
        _drawn.extend([digits[at : at + 32] for at in range(0, len(digits), 32)])
        return _drawn.pop()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The last incoming X-Request-ID when well-formed, else a fresh one (32 hex digits)."""
    incoming = b""
    for name, value in headers:
        if name == HEADER_KEY:
            incoming = value  # the last one, as before
    if not incoming:  # the usual request: nothing to decode or match
        return new_request_id()
    text = incoming.decode("latin-1")
    return text if _VALID.match(text) else new_request_id()


def request_id_of(scope: Scope) -> str:
    """The id the edge stored for this request (a fresh one if it did not run)."""
    state = request_state(scope)
    if state.request_id is None:
        state.request_id = new_request_id()
    return state.request_id
