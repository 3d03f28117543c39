"""What the gateway learns about one request on its way in, typed, in one place.

ASGI's place for per-request values is the scope's `state` (Starlette's
`request.state`). The gateway keeps one `RequestState` there, under `KEY`, rather than
a string key per value shared between modules: the HTTP edge fills in the request id
and the client's address and scheme (trusted proxies applied), the request's GraphQL
context the caller, the GraphQL layer each operation it ran; the access line, the
logs, the quotas and HSTS read them. A value one module keeps for itself alone (the
header map, the identity, the quota's subject, the WebSocket connection) stays that
module's own key.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

KEY = "gateway"


@dataclass(slots=True)
class RequestState:
    # The request's id (X-Request-ID when well-formed, else a fresh one).
    request_id: str | None = None
    # The client's address and scheme, behind SECURITY__TRUSTED_PROXIES.
    client_ip: str | None = None
    client_scheme: str | None = None
    # The signed-in caller, once the request's context authenticated it.
    principal_id: int | None = None
    # Each GraphQL operation the request ran: (name, type), in order (a batch has several).
    graphql_operations: list[tuple[str | None, str]] = field(default_factory=list)


def request_state(scope: MutableMapping[str, Any]) -> RequestState:
    """The request's state, made on first use."""
    state: dict[str, Any] = scope.setdefault("state", {})
    found = state.get(KEY)
    if not isinstance(found, RequestState):
        found = state[KEY] = RequestState()
    return found


def stored_state(scope: Mapping[str, Any]) -> RequestState | None:
    """The request's state when something stored it (None before the edge ran)."""
    found = scope.get("state", {}).get(KEY)
    return found if isinstance(found, RequestState) else None
