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


def new_request_id() -> str:
    """32 random hex digits, as `uuid4().hex` but without building a UUID (every request).

    `os.urandom` directly: `secrets.token_hex` reaches it through three Python calls.
    """
    return os.urandom(16).hex()


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The last incoming X-Request-ID when well-formed, else a fresh one (32 hex digits)."""
    incoming = b""
    for name, value in headers:
        if name == HEADER_KEY:
            incoming = value  # the last one, as before
    text = incoming.decode("latin-1")
    return text if _VALID.match(text) else new_request_id()


def request_id_of(scope: Scope) -> str:
    """The id the edge stored for this request (a fresh one if it did not run)."""
    state = request_state(scope)
    if state.request_id is None:
        state.request_id = new_request_id()
    return state.request_id
