"""Resuming a subscription with `after`: what was missed, then live events, each once.

Over a real WebSocket against the app, on the embedded default (the in-memory ring)
and on Redis (XRANGE over the event stream). The window is five events here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from domain.events import ItemPriceChanged
from domain.money import Money
from gateway.container import Container
from gateway.settings import Settings
from persistence.redis_event_bus import Entry
from tests.gateway.realtime.helpers import connect, eventually, init, subscribe, ws_client
from tests.gateway.realtime.resume import (
    BACKENDS,
    delete_streams,
    next_event,
    on_backend,
    redis_bus,
    subscribers,
)
from tests.gateway.world import World, as_user, gid

WINDOW = 5
PRICES = """subscription($id: ID!, $after: String) {
  itemPriceChanged(itemId: $id, after: $after) { current { amount } eventId } }"""
UPDATE_PRICE = """mutation($id: ID!, $p: MoneyInput!) {
  updateItem(id: $id, input: {price: $p}) { id } }"""


@pytest.fixture(params=BACKENDS)
def settings(settings: Settings, request: pytest.FixtureRequest, redis_available: bool) -> Settings:
    settings.realtime.resume_window_events = WINDOW
    # What is tested is resumption: a price change that takes 10 s on a loaded machine
    # (a full CI run saw one) must not turn into a TIMEOUT here.
    settings.graphql.execution_timeout_seconds = 120
    return on_backend(settings, request.param, redis_available)


@pytest.fixture(autouse=True)
async def streams(settings: Settings) -> AsyncIterator[None]:
    yield
    await delete_streams(settings)


async def change_price(client: httpx.AsyncClient, world: World, amount: str) -> None:
    response = await client.post(
        "/graphql",
        json={
            "query": UPDATE_PRICE,
            "variables": {"id": gid("Item", world.widget), "p": {"amount": amount}},
        },
        headers=as_user(world.staff),
    )
    assert response.json() == {"data": {"updateItem": {"id": gid("Item", world.widget)}}}


def amounts(start: int, stop: int) -> list[str]:
    return [f"{n}.00" for n in range(start, stop)]


async def first_event_id(
    app: Starlette, container: Container, client: httpx.AsyncClient, world: World
) -> str:
    """Subscribe, see the price become 10.00, disconnect: the id the client kept."""
    async with ws_client(app) as ws_http, connect(ws_http) as ws:
        await init(ws)
        await subscribe(ws, "1", PRICES, {"id": gid("Item", world.widget)})
        await subscribers(container, 1)
        await change_price(client, world, "10.00")
        seen, data = await next_event(ws, "1")
    assert data == {"itemPriceChanged": {"current": {"amount": "10.00"}, "eventId": seen}}
    await eventually(lambda: container.bus.subscriber_count == 0)
    return seen


async def test_a_subscriber_that_missed_five_events_gets_those_five_then_live_ones(
    app: Starlette, container: Container, client: httpx.AsyncClient, world: World
) -> None:
    seen = await first_event_id(app, container, client, world)
    for amount in amounts(11, 16):
        await change_price(client, world, amount)
    await container.relay.drain()  # published while nobody listened
    async with ws_client(app) as ws_http, connect(ws_http) as ws:
        await init(ws)
        await subscribe(ws, "2", PRICES, {"id": gid("Item", world.widget), "after": seen})
        missed = [await next_event(ws, "2") for _ in range(5)]
        await subscribers(container, 1)
        await change_price(client, world, "16.00")
        live = await next_event(ws, "2")
        await change_price(client, world, "17.00")
        after_live = await next_event(ws, "2")
    received = [*missed, live, after_live]
    ids = [event_id for event_id, _ in received]
    assert [data for _, data in received] == [
        {"itemPriceChanged": {"current": {"amount": amount}, "eventId": event_id}}
        for amount, event_id in zip(amounts(11, 18), ids, strict=True)
    ]
    assert len({seen, *ids}) == 8  # every event its own id


async def test_events_published_during_the_catch_up_arrive_once_and_in_order(
    app: Starlette, container: Container, client: httpx.AsyncClient, world: World
) -> None:
    seen = await first_event_id(app, container, client, world)
    for amount in amounts(11, 13):
        await change_price(client, world, amount)
    await container.relay.drain()

    async def meanwhile() -> None:
        for amount in amounts(13, 16):
            await change_price(client, world, amount)

    async with ws_client(app) as ws_http, connect(ws_http) as ws:
        await init(ws)
        await subscribe(ws, "2", PRICES, {"id": gid("Item", world.widget), "after": seen})
        racing = asyncio.create_task(meanwhile())
        received = [await next_event(ws, "2") for _ in range(5)]
        await racing
        # A marker: had any event come twice, the next message would be that repeat.
        await change_price(client, world, "16.00")
        received.append(await next_event(ws, "2"))
    assert [data["itemPriceChanged"]["current"]["amount"] for _, data in received] == amounts(
        11, 17
    )
    assert len({event_id for event_id, _ in received}) == 6


async def test_an_id_older_than_the_window_is_refused_with_a_code(
    app: Starlette, container: Container, client: httpx.AsyncClient, world: World
) -> None:
    seen = await first_event_id(app, container, client, world)
    for amount in amounts(11, 17):  # six: one more than the window
        await change_price(client, world, amount)
    await container.relay.drain()
    async with ws_client(app) as ws_http, connect(ws_http) as ws:
        await init(ws)
        await subscribe(ws, "2", PRICES, {"id": gid("Item", world.widget), "after": seen})
        refused = await ws.receive_json(timeout=5)
        await subscribe(ws, "3", PRICES, {"id": gid("Item", world.widget), "after": "x"})
        malformed = await ws.receive_json(timeout=5)
    assert refused == {
        "id": "2",
        "type": "error",
        "payload": [
            {
                "message": (
                    f"cannot resume after event {seen}: only the last {WINDOW} events are kept"
                ),
                "locations": [{"line": 2, "column": 3}],
                "path": ["itemPriceChanged"],
                "extensions": {"after": seen, "window": WINDOW, "code": "RESUME_WINDOW_EXPIRED"},
            }
        ],
    }
    assert malformed == {
        "id": "3",
        "type": "error",
        "payload": [
            {
                "message": "after: 'x' is not an event id",
                "locations": [{"line": 2, "column": 3}],
                "path": ["itemPriceChanged"],
                "extensions": {
                    "problems": [{"field": "after", "message": "'x' is not an event id"}],
                    "code": "BAD_USER_INPUT",
                },
            }
        ],
    }
    assert container.bus.subscriber_count == 0


# The embedded ring replays without awaiting: nothing can come between there.
@pytest.mark.parametrize("settings", ["redis"], indirect=True)
async def test_on_redis_live_events_read_while_the_missed_ones_load_come_after_them(
    app: Starlette,
    container: Container,
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = await first_event_id(app, container, client, world)
    for amount in amounts(11, 13):
        await change_price(client, world, amount)
    await container.relay.drain()
    bus = redis_bus(container)
    redis: Redis = bus._redis
    xrange = redis.xrange

    async def xrange_after_live_events(*args: object, **kwargs: object) -> object:
        # The subscription is live: these reach its queue before the replay is read.
        for amount in ("13.00", "14.00"):
            event = ItemPriceChanged(
                item_id=world.widget, previous=Money.of("1.00"), current=Money.of(amount)
            )
            await bus.publish([event])
        newest = cast("list[Entry]", await redis.xrevrange(bus.stream, count=1))  # bytes mode
        await eventually(lambda: bus.position == newest[0][0].decode())
        return await xrange(*args, **kwargs)  # type: ignore[arg-type]  # redis-py's own arguments

    monkeypatch.setattr(redis, "xrange", xrange_after_live_events)
    async with ws_client(app) as ws_http, connect(ws_http) as ws:
        await init(ws)
        await subscribe(ws, "2", PRICES, {"id": gid("Item", world.widget), "after": seen})
        received = [await next_event(ws, "2") for _ in range(4)]
        monkeypatch.undo()
        await change_price(client, world, "15.00")
        received.append(await next_event(ws, "2"))
    assert [data["itemPriceChanged"]["current"]["amount"] for _, data in received] == amounts(
        11, 16
    )
    assert len({event_id for event_id, _ in received}) == 5
