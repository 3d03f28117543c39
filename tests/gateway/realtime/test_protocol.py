"""graphql-transport-ws and graphql-ws on /graphql: each close code from the case it stands for."""

from __future__ import annotations

import httpx
import pytest
from httpx_ws import WebSocketDisconnect
from starlette.applications import Starlette

from gateway.container import Container
from gateway.settings import Settings
from tests.gateway.realtime.helpers import (
    ITEM_PRICE,
    LEGACY_WS,
    ORDER_STATUS,
    closed_with,
    connect,
    eventually,
    init,
    receive,
    subscribe,
    ws_client,
)
from tests.gateway.world import World, as_user, gid

UPDATE_STATUS = """mutation($id: ID!, $s: OrderStatus!) {
  updateOrderStatus(id: $id, status: $s) { id status } }"""
UPDATE_PRICE = (
    """mutation($id: ID!, $p: MoneyInput!) { updateItem(id: $id, input: {price: $p}) { id } }"""
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.realtime.connection_init_timeout_seconds = 0.3
    settings.realtime.max_subscriptions_per_connection = 2
    return settings


async def test_ping_gets_pong(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await ws.send_json({"type": "ping"})
        assert await receive(ws) == {"type": "pong"}


async def test_a_subscriber_receives_the_change_made_by_a_mutation_over_http(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws, {"x": 1})
        await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
        await eventually(lambda: container.bus.subscriber_count == 1)
        response = await client.post(
            "/graphql",
            json={
                "query": UPDATE_PRICE,
                "variables": {"id": gid("Item", world.widget), "p": {"amount": "12.50"}},
            },
            headers=as_user(world.staff),
        )
        assert response.json()["data"] == {"updateItem": {"id": gid("Item", world.widget)}}
        assert await receive(ws) == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "itemPriceChanged": {
                        "previous": {"amount": "9.99"},
                        "current": {"amount": "12.50"},
                        "item": {
                            "id": gid("Item", world.widget),
                            "name": "Widget",
                            "price": {"amount": "12.50", "currency": "USD"},
                        },
                    }
                }
            },
        }


async def test_complete_from_the_client_ends_the_subscription(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client, headers=as_user(world.alice)) as ws:
        await init(ws)
        await subscribe(ws, "1", ORDER_STATUS, {"id": gid("Order", world.alice_order)})
        await eventually(lambda: container.bus.subscriber_count == 1)
        await ws.send_json({"id": "1", "type": "complete"})
        await eventually(lambda: container.bus.subscriber_count == 0)
        # The id is free again, and the socket still works.
        await subscribe(ws, "1", ORDER_STATUS, {"id": gid("Order", world.alice_order)})
        await eventually(lambda: container.bus.subscriber_count == 1)


async def test_the_server_completes_an_operation_that_ends(app: Starlette, world: World) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "q", f'{{ item(id: "{gid("Item", world.widget)}") {{ name }} }}')
        assert await receive(ws) == {
            "id": "q",
            "type": "next",
            "payload": {"data": {"item": {"name": "Widget"}}},
        }
        assert await receive(ws) == {"id": "q", "type": "complete"}


async def test_4400_for_an_invalid_message(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await ws.send_json({"type": "connection_init", "payload": "not an object"})
        assert await closed_with(ws) == (4400, "Invalid connection init payload")


async def test_4400_for_a_subscription_that_does_not_parse(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", "subscription {")
        code, _ = await closed_with(ws)
        assert code == 4400


async def test_4401_for_subscribing_before_the_acknowledgement(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await subscribe(ws, "1", ITEM_PRICE, {"id": "x"})
        assert await closed_with(ws) == (4401, "Unauthorized")


async def test_4403_for_a_bad_token(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"token": "not-a-jwt"}})
        assert await closed_with(ws) == (4403, "Forbidden")


async def test_4403_for_a_bad_bearer_header_on_the_upgrade(app: Starlette) -> None:
    headers = {"authorization": "Bearer nope"}
    async with ws_client(app) as client, connect(client, headers=headers) as ws:
        await ws.send_json({"type": "connection_init"})
        assert await closed_with(ws) == (4403, "Forbidden")


async def test_4408_when_connection_init_does_not_come_in_time(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        assert await closed_with(ws) == (4408, "Connection initialisation timeout")


async def test_4408_on_the_legacy_protocol_too(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client, LEGACY_WS) as ws:
        assert await closed_with(ws) == (4408, "Connection initialisation timeout")


async def test_4409_for_a_duplicate_operation_id(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
        await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
        assert await closed_with(ws) == (4409, "Subscriber for 1 already exists")


async def test_4429_for_a_second_connection_init(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await ws.send_json({"type": "connection_init"})
        assert await closed_with(ws) == (4429, "Too many initialisation requests")


async def test_subscriptions_per_connection_are_capped(
    app: Starlette, container: Container, world: World
) -> None:
    variables = {"id": gid("Item", world.widget)}
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, variables)
        await subscribe(ws, "2", ITEM_PRICE, variables)
        await subscribe(ws, "3", ITEM_PRICE, variables)
        assert await receive(ws) == {
            "id": "3",
            "type": "error",
            "payload": [
                {
                    "message": "Subscription limit reached",
                    "extensions": {"code": "MAX_SUBSCRIPTIONS_EXCEEDED"},
                }
            ],
        }


async def test_an_unknown_subprotocol_is_refused(app: Starlette) -> None:
    async with ws_client(app) as client, connect(client, "graphql-sse") as ws:
        assert (await closed_with(ws))[0] == 4406


async def test_a_cross_origin_page_is_refused_unless_allowed(app: Starlette) -> None:
    async with ws_client(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            async with connect(client, headers={"origin": "https://evil.example"}):
                pass
        assert refused.value.code == 1008


async def test_the_legacy_protocol_delivers_events(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client, LEGACY_WS) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send_json(
            {
                "id": "1",
                "type": "start",
                "payload": {"query": ITEM_PRICE, "variables": {"id": gid("Item", world.gadget)}},
            }
        )
        await eventually(lambda: container.bus.subscriber_count == 1)
        await _change_price(client, world, world.gadget, "30.00")
        message = await receive(ws)
        assert message["type"] == "data"
        assert message["payload"]["data"]["itemPriceChanged"]["current"] == {"amount": "30.00"}
        await ws.send_json({"id": "1", "type": "stop"})
        await eventually(lambda: container.bus.subscriber_count == 0)


async def _change_price(client: httpx.AsyncClient, world: World, item: int, amount: str) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": UPDATE_PRICE,
            "variables": {"id": gid("Item", item), "p": {"amount": amount}},
        },
        headers=as_user(world.staff),
    )
    assert "errors" not in response.json(), response.text
