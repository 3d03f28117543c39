"""Each query or mutation sent on a WebSocket runs with a context of its own: its own
dataloaders (nothing loaded by an earlier operation on the socket is served again) and
its own operation state, taking planned data as REST does, so the read planner and the
prepared replay answer on WebSocket as on HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from httpx_ws import AsyncWebSocketSession
from starlette.applications import Starlette

from tests.gateway.realtime.helpers import connect, init, receive, subscribe, ws_client
from tests.gateway.world import World, as_user, gid

ORDER_ITEMS = "query($id: ID!) { order(id: $id) { lines { item { name price { amount } } } } }"
UPDATE_PRICE = (
    """mutation($id: ID!, $p: MoneyInput!) { updateItem(id: $id, input: {price: $p}) { id } }"""
)


async def ask(ws: AsyncWebSocketSession, op_id: str, query: str, variables: dict[str, Any]) -> Any:
    await subscribe(ws, op_id, query, variables)
    answer = await receive(ws)
    assert await receive(ws) == {"id": op_id, "type": "complete"}
    return answer["payload"]


def widget_price(payload: Any) -> str:
    lines = payload["data"]["order"]["lines"]
    return str(
        next(line for line in lines if line["item"]["name"] == "Widget")["item"]["price"]["amount"]
    )


async def test_each_query_on_a_socket_reads_what_is_stored_now(
    app: Starlette, world: World
) -> None:
    # Each operation gets its own dataloaders: the connection's would answer the second
    # query with the item the first one loaded.
    order = {"id": gid("Order", world.alice_order)}
    async with ws_client(app) as client, connect(client, headers=as_user(world.staff)) as ws:
        await init(ws)
        assert widget_price(await ask(ws, "1", ORDER_ITEMS, order)) == "9.99"
        changed = await client.post(
            "/graphql",
            json={
                "query": UPDATE_PRICE,
                "variables": {"id": gid("Item", world.widget), "p": {"amount": "12.50"}},
            },
            headers=as_user(world.staff),
        )
        assert "errors" not in changed.json()
        assert widget_price(await ask(ws, "2", ORDER_ITEMS, order)) == "12.50"


async def test_a_query_asked_again_on_a_socket_is_answered_by_the_prepared_replay(
    app: Starlette, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    executions = 0
    execute = strawberry.Schema.execute

    async def counted(self: strawberry.Schema, *args: Any, **kwargs: Any) -> Any:
        nonlocal executions
        executions += 1
        return await execute(self, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    order = {"id": gid("Order", world.alice_order)}
    async with ws_client(app) as client, connect(client, headers=as_user(world.staff)) as ws:
        await init(ws)
        first = await ask(ws, "1", ORDER_ITEMS, order)
        again = await ask(ws, "2", ORDER_ITEMS, order)
    # Planned the first time, replayed without Strawberry the second: the same answer.
    assert (executions, again) == (1, first)
    assert widget_price(first) == "9.99"
