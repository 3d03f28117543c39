"""Auth over time and permissions: tokens, logout, expiry, limits, slow consumers, shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain.events import OrderPlaced
from domain.money import Money
from gateway.container import Container
from gateway.realtime import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    RealtimeGateway,
)
from gateway.settings import Settings
from tests.gateway.accounts import gql, register
from tests.gateway.realtime.helpers import (
    ITEM_PRICE,
    ORDER_PLACED,
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

LOGOUT = "mutation { logout }"
PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }"""
STATUS = (
    """mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { id } }"""
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.realtime.session_check_seconds = 0.1
    settings.realtime.max_connections_per_user = 2
    settings.realtime.queue_size = 2
    return settings


def realtime_of(app: Starlette) -> RealtimeGateway:
    realtime: RealtimeGateway = app.state.realtime
    return realtime


async def place(client: httpx.AsyncClient, user: int, item: int) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={
            "query": PLACE,
            "variables": {"input": {"lines": [{"itemId": gid("Item", item), "quantity": 1}]}},
        },
        headers=as_user(user),
    )
    body: dict[str, Any] = response.json()
    return body


async def test_a_token_in_connection_init_authenticates_the_socket(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client:
        carol = await register(client)
        async with connect(client) as ws:
            await init(ws, {"authorization": f"Bearer {carol['accessToken']}"})
            await subscribe(ws, "1", ORDER_PLACED)
            refused = await receive(ws)
        assert refused["type"] == "error"
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["FORBIDDEN"]


async def test_a_token_in_a_cookie_authenticates_the_socket(app: Starlette, world: World) -> None:
    async with ws_client(app) as client:
        carol = await register(client)
        headers = {"cookie": f"theme=dark; access_token={carol['accessToken']}"}
        async with connect(client, headers=headers) as ws:
            await init(ws)
            assert realtime_of(app).hub.open_count == 1


async def test_the_socket_is_closed_after_logout(app: Starlette, world: World) -> None:
    async with ws_client(app) as client:
        carol = await register(client)
        async with connect(client) as ws:
            await init(ws, {"token": carol["accessToken"]})
            response = await gql(client, LOGOUT, token=carol["accessToken"])
            assert response.json()["data"] == {"logout": True}
            assert await closed_with(ws) == (CLOSE_SESSION_ENDED, "token revoked")


@pytest.mark.parametrize("seconds", [1])
async def test_the_socket_is_closed_when_the_token_expires(
    tmp_path: Any, seconds: int, world: World, settings: Settings, container: Container
) -> None:
    settings.security.access_token_seconds = seconds
    settings.security.token_leeway_seconds = 0
    from gateway.app import create_app
    from gateway.container import build_container

    short = build_container(settings)
    try:
        app = create_app(settings, short)
        async with ws_client(app) as client:
            carol = await register(client)
            async with connect(client) as ws:
                await init(ws, {"token": carol["accessToken"]})
                loop = asyncio.get_running_loop()
                started = loop.time()
                assert await closed_with(ws, seconds=5) == (CLOSE_SESSION_ENDED, "token expired")
                assert loop.time() - started < seconds + 1
    finally:
        await short.aclose()


async def test_a_customer_gets_nothing_about_another_customers_order(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client, headers=as_user(world.alice)) as ws:
        await init(ws)
        await subscribe(ws, "bob", ORDER_STATUS, {"id": gid("Order", world.bob_order)})
        refused = await receive(ws)
        assert (refused["id"], refused["type"]) == ("bob", "error")
        assert [(e["message"], e["path"], e["extensions"]["code"]) for e in refused["payload"]] == [
            (f"Order {world.bob_order} not found", ["orderStatusChanged"], "NOT_FOUND")
        ]
        await subscribe(ws, "mine", ORDER_STATUS, {"id": gid("Order", world.alice_order)})
        await eventually(lambda: container.bus.subscriber_count == 1)
        for order in (world.bob_order, world.alice_order):
            response = await client.post(
                "/graphql",
                json={"query": STATUS, "variables": {"id": gid("Order", order), "s": "PAID"}},
                headers=as_user(world.staff),
            )
            assert "errors" not in response.json()
        assert await receive(ws) == {
            "id": "mine",
            "type": "next",
            "payload": {
                "data": {
                    "orderStatusChanged": {
                        "previous": "PLACED",
                        "current": "PAID",
                        "order": {
                            "id": gid("Order", world.alice_order),
                            "status": "PAID",
                            "customer": {"name": "Alice"},
                        },
                    }
                }
            },
        }


async def test_order_placed_is_for_staff_only(
    app: Starlette, container: Container, world: World
) -> None:
    await container.relay.drain()  # the world's own orders are published before
    async with ws_client(app) as client:
        async with connect(client, headers=as_user(world.alice)) as ws:
            await init(ws)
            await subscribe(ws, "1", ORDER_PLACED)
            refused = await receive(ws)
            assert refused["type"] == "error"
            assert refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        async with connect(client, headers=as_user(world.staff)) as ws:
            await init(ws)
            await subscribe(ws, "1", ORDER_PLACED)
            await eventually(lambda: container.bus.subscriber_count == 1)
            placed = await place(client, world.bob, world.widget)
            order_id = placed["data"]["placeOrder"]["id"]
            assert await receive(ws) == {
                "id": "1",
                "type": "next",
                "payload": {
                    "data": {
                        "orderPlaced": {
                            "id": order_id,
                            "total": {"amount": "9.99"},
                            "customer": {"name": "Bob"},
                        }
                    }
                },
            }


async def test_a_failing_place_order_publishes_nothing(
    app: Starlette, container: Container, world: World
) -> None:
    await container.relay.drain()  # the world's own orders are published before
    async with ws_client(app) as client, connect(client, headers=as_user(world.staff)) as ws:
        await init(ws)
        await subscribe(ws, "1", ORDER_PLACED)
        await eventually(lambda: container.bus.subscriber_count == 1)
        # Two units of an item with one in stock: refused, rolled back, nothing published.
        response = await client.post(
            "/graphql",
            json={
                "query": PLACE,
                "variables": {
                    "input": {"lines": [{"itemId": gid("Item", world.last_unit), "quantity": 2}]}
                },
            },
            headers=as_user(world.alice),
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "OUT_OF_STOCK"
        try:
            unexpected = await receive(ws, seconds=0.3)
        except TimeoutError:
            unexpected = None
        assert unexpected is None


async def test_connections_per_user_are_capped(app: Starlette, world: World) -> None:
    async with (
        ws_client(app) as client,
        connect(client, headers=as_user(world.alice)) as first,
        connect(client, headers=as_user(world.alice)) as second,
        connect(client, headers=as_user(world.alice)) as third,
    ):
        await init(first)
        await init(second)
        await third.send_json({"type": "connection_init"})
        assert await closed_with(third) == (
            CLOSE_POLICY_VIOLATION,
            "at most 2 connections per user",
        )
        assert realtime_of(app).hub.connections_of(world.alice) == 2


async def test_a_subscriber_that_falls_behind_is_dropped(
    app: Starlette, container: Container, world: World
) -> None:
    async with ws_client(app) as client, connect(client, headers=as_user(world.staff)) as ws:
        await init(ws)
        await subscribe(ws, "1", ORDER_PLACED)
        await eventually(lambda: container.bus.subscriber_count == 1)
        # Published back to back, faster than anyone can consume: the queue of 2 overflows.
        event = OrderPlaced(order_id=world.bob_order, customer_id=world.bob, total=Money(999))
        await container.bus.publish([event] * 4)
        assert await closed_with(ws) == (
            CLOSE_TRY_AGAIN_LATER,
            "subscriber fell behind; reconnect",
        )
        await eventually(lambda: container.bus.subscriber_count == 0)


async def test_shutdown_closes_sockets_with_1001_and_refuses_new_ones(
    app: Starlette, world: World
) -> None:
    async with ws_client(app) as client:
        async with connect(client, headers=as_user(world.alice)) as ws:
            await init(ws)
            await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
            await realtime_of(app).drain()
            assert await closed_with(ws) == (CLOSE_GOING_AWAY, "server shutting down")
        from httpx_ws import WebSocketDisconnect

        with pytest.raises(WebSocketDisconnect) as refused:
            async with connect(client):
                pass
        assert refused.value.code == CLOSE_GOING_AWAY
        assert realtime_of(app).hub.open_count == 0
