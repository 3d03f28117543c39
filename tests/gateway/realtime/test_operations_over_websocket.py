"""Queries and mutations sent over graphql-transport-ws go through the gateway's pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette

from domain.audit import AuditAction, AuditFilter
from domain.paging import PageRequest
from domain.principals import Principal
from domain.services.items import ItemUseCases
from domain.tokens import TokenKind
from gateway.container import Container
from gateway.settings import Settings
from schema.node import decode_id
from tests.gateway.realtime.helpers import connect, init, receive, subscribe, ws_client
from tests.gateway.timeouts import shorten_operation_timeout
from tests.gateway.world import World, gid

ITEM_NAME = "query($id: ID!) { item(id: $id) { name } }"
ITEM_COUNT = "{ items(first: 1) { totalCount } }"
PLACE_ORDER = (
    "mutation($item: ID!) { placeOrder(input: {lines: [{itemId: $item, quantity: 1}]}) { id } }"
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The resolver path, so a hanging service is what the timeout cuts (a planned fetch is
    # cut the same way: tests/gateway/planner/test_prepared.py).
    settings.graphql.planner = False
    return shorten_operation_timeout(settings, 0.2)


@pytest.fixture(autouse=True)
def default_bound(container: Container) -> None:
    # The 0.2 s bound (the settings, so the upstreams' bounds are checked below it) is the
    # timeout test's own; every other operation runs under the default, which a busy
    # machine cannot reach.
    container.pipeline.execution_timeout_seconds = 10.0


async def test_a_query_is_answered_once_then_completed(app: Starlette, world: World) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_NAME, {"id": gid("Item", world.widget)})
        assert await receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"item": {"name": "Widget"}}},
        }
        assert await receive(ws) == {"id": "1", "type": "complete"}


async def test_a_query_past_the_execution_timeout_is_answered_timeout(
    app: Starlette, container: Container, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = asyncio.Event()

    async def hangs(*_args: Any, **_kwargs: Any) -> int:
        started.set()
        await asyncio.sleep(30)
        return 0

    monkeypatch.setattr(ItemUseCases, "count", hangs)
    container.pipeline.execution_timeout_seconds = 0.2
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_COUNT)
        message = await receive(ws)
        assert started.is_set()
        assert message == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": None,
                "errors": [
                    {
                        "message": "the operation did not finish within 0.2 seconds",
                        "extensions": {"code": "TIMEOUT"},
                    }
                ],
            },
        }
        assert await receive(ws) == {"id": "1", "type": "complete"}


async def test_an_invalid_document_is_still_an_error_message(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", "{ nope }")
        message = await receive(ws)
        assert (message["id"], message["type"]) == ("1", "error")
        assert message["payload"][0]["message"].startswith(
            "Cannot query field 'nope' on type 'Query'."
        )


async def test_a_mutation_after_connection_init_is_audited_as_the_signed_in_user(
    app: Starlette, container: Container, world: World
) -> None:
    # The socket's context is made anonymous at the upgrade; `connection_init` signs the
    # user in, and the services bind to them at their first use, not to the anonymous caller.
    token, _ = container.tokens.issue(TokenKind.ACCESS, world.alice, ["customer"])
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws, {"token": token})
        await subscribe(ws, "1", PLACE_ORDER, {"item": gid("Item", world.gadget)})
        placed = await receive(ws)
        assert await receive(ws) == {"id": "1", "type": "complete"}
    order_id = decode_id(placed["payload"]["data"]["placeOrder"]["id"], "Order")
    entries = await container.services.audit.page(
        Principal.system(), AuditFilter(entity_type="Order", entity_id=order_id), PageRequest(5)
    )
    assert [(entry.action, entry.actor_id) for entry in entries.items] == [
        (AuditAction.CREATE, world.alice)
    ]
