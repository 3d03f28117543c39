"""A steady-state prepared request leaves no reference cycles behind.

Garbage that only the cycle collector can free piles up in the young generation; with
the serving threshold of 50,000 (gateway.server) a collection then stops the loop for
10+ ms at a time (measured under the bench's nested query: one 11-13 ms gen-0 pause
every ~4,000 requests, from a role registry rebuilt per bearer request). Objects freed
by reference counting never reach the collector, so a request that leaves no cycles
never pays for one.

Prepared operations only: the full path leaves graphql-core's own cycles (its
execution context and executor refer to each other through bound methods).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import orjson
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from domain.rbac import default_registry
from gateway.app import create_app
from gateway.container import build_container
from tests.gateway.planner.gateways import ADMIN, settings_for

REQUESTS = 40


@pytest.fixture
def collector_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


async def _post(app: Starlette, body: bytes, token: str) -> bytes:
    """One POST /graphql through the raw ASGI interface (no client library's own objects)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("203.0.113.9", 5000),
        "server": ("gateway.test", 80),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    return b"".join(m.get("body", b"") for m in sent[1:])


NESTED = (
    "{ users(first: 5) { edges { node { orders(first: 3) { edges { node { "
    "lines { quantity item { name price { amount } } } } } } } } } }"
)


@pytest.mark.parametrize("query", ["{ __typename }", NESTED], ids=["trivial", "nested"])
async def test_a_prepared_request_with_a_bearer_token_leaves_no_cyclic_garbage(
    planner_database_url: str, query: str, collector_paused: None
) -> None:
    settings = settings_for(planner_database_url, planner=True)
    container = build_container(settings)
    try:
        app = create_app(settings, container)
        token = container.tokens.issue_pair(ADMIN, ["admin"]).pair.access_token
        body = orjson.dumps({"query": query})
        # Warm every cache first (documents, validation, plans, prepared operations).
        for _ in range(5):
            assert b'"errors"' not in await _post(app, body, token)
        gc.collect()
        for _ in range(REQUESTS):
            await _post(app, body, token)
        # Before the fix: ~12 cyclic objects per request (a RoleRegistry per token).
        assert gc.collect() < REQUESTS
    finally:
        await container.aclose()


def test_the_default_role_registry_is_built_once() -> None:
    assert default_registry() is default_registry()
