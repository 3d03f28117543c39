"""Two gateway replicas sharing one Redis: events cross replicas, once per connection, no leaks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence.redis_event_bus import RedisEventBus
from tests.gateway.realtime.helpers import (
    ITEM_PRICE,
    connect,
    eventually,
    init,
    receive,
    subscribe,
    ws_client,
)
from tests.gateway.world import World, as_user, gid
from tests.services import REDIS_URL, require_service

UPDATE_PRICE = """mutation($id: ID!, $p: MoneyInput!) {
  updateItem(id: $id, input: {price: $p}) { id } }"""


@pytest.fixture
def settings(settings: Settings, redis_available: bool) -> Settings:
    require_service("Redis", redis_available)
    settings.redis.url = REDIS_URL
    settings.events.stream = f"test:{uuid.uuid4().hex}:events"
    settings.realtime.max_subscriptions_per_connection = 100
    return settings


@pytest.fixture(autouse=True)
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client of the shared Redis; the test's stream is deleted afterwards."""
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.delete(settings.events.stream)
    await client.aclose()


@pytest.fixture
async def replica_b(settings: Settings, container: Container) -> AsyncIterator[Container]:
    # The same database, secret and Redis as `container` (replica A): another process.
    other = build_container(settings)
    yield other
    await other.aclose()


def bus_of(container: Container) -> RedisEventBus:
    assert isinstance(container.bus, RedisEventBus)
    return container.bus


def stream_readers() -> int:
    """Tasks of this process reading the event stream (one per bus)."""
    return sum(1 for task in asyncio.all_tasks() if task.get_name() == "event-bus-redis")


async def change_price(app: Starlette, world: World, amount: str) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.post(
            "/graphql",
            json={
                "query": UPDATE_PRICE,
                "variables": {"id": gid("Item", world.widget), "p": {"amount": amount}},
            },
            headers=as_user(world.staff),
        )
    assert "errors" not in response.json(), response.text


async def test_a_mutation_on_one_replica_reaches_a_subscriber_on_another(
    app: Starlette, replica_b: Container, settings: Settings, world: World
) -> None:
    app_b = create_app(settings, replica_b)
    async with ws_client(app_b) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, {"id": gid("Item", world.widget)})
        await eventually(lambda: bus_of(replica_b).subscriber_count == 1)
        await bus_of(replica_b).ready()
        await change_price(app, world, "11.00")
        message = await receive(ws)
        assert message["payload"]["data"]["itemPriceChanged"]["current"] == {"amount": "11.00"}


async def collect_ids(app: Starlette, world: World, stop: asyncio.Event) -> list[str]:
    """Subscribe twice on one socket and list the ids of every message until `stop`."""
    variables = {"id": gid("Item", world.widget)}
    ids: list[str] = []
    # One task per socket: httpx-ws scopes must be left in the task that entered them.
    async with ws_client(app) as client, connect(client) as ws:
        await init(ws)
        await subscribe(ws, "1", ITEM_PRICE, variables)
        await subscribe(ws, "2", ITEM_PRICE, variables)
        while not stop.is_set():
            try:
                ids.append((await receive(ws, seconds=0.05))["id"])
            except TimeoutError:
                continue
    return ids


async def test_a_client_on_both_replicas_gets_each_event_once_per_connection(
    app: Starlette, container: Container, replica_b: Container, settings: Settings, world: World
) -> None:
    stop = asyncio.Event()
    on_a = asyncio.create_task(collect_ids(app, world, stop))
    on_b = asyncio.create_task(collect_ids(create_app(settings, replica_b), world, stop))
    await eventually(lambda: bus_of(container).subscriber_count == 2)
    await eventually(lambda: bus_of(replica_b).subscriber_count == 2)
    await bus_of(container).ready()
    await bus_of(replica_b).ready()
    await change_price(app, world, "12.00")
    await asyncio.sleep(0.5)
    stop.set()
    # Each subscription of each connection: exactly one `next`, never a duplicate.
    assert sorted(await on_a) == ["1", "2"]
    assert sorted(await on_b) == ["1", "2"]


async def test_500_subscriptions_leave_no_tasks_and_one_redis_subscription(
    app: Starlette, container: Container, settings: Settings, redis: Redis, world: World
) -> None:
    assert stream_readers() == 0
    assert container.bus.subscriber_count == 0
    variables = {"id": gid("Item", world.widget)}
    await bus_of(container).ready()  # the one listener task of the process
    async with ws_client(app) as client:
        before = {task.get_name() for task in asyncio.all_tasks()}
        async with (
            connect(client, headers=as_user(world.alice)) as first,
            connect(client, headers=as_user(world.bob)) as second,
        ):
            sockets = (first, second)
            for ws in sockets:
                await init(ws)
            for round_ in range(5):
                for ws in sockets:
                    for i in range(50):
                        await subscribe(ws, f"{round_}-{i}", ITEM_PRICE, variables)
                await eventually(lambda: container.bus.subscriber_count == 100)
                # One stream reader for the whole process, however many subscribers.
                assert stream_readers() == 1
                for ws in sockets:
                    for i in range(50):
                        await ws.send_json({"id": f"{round_}-{i}", "type": "complete"})
                await eventually(lambda: container.bus.subscriber_count == 0)
        await eventually(lambda: {task.get_name() for task in asyncio.all_tasks()} <= before)
        # The reader stays for the process (1 task) until the container closes.
        assert stream_readers() == 1
    await container.aclose()
    assert stream_readers() == 0
