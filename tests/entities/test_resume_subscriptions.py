"""A resumed subscription replays only what its subscriber could have seen live.

Staff may not see inactive vendors; admins may. On the embedded default and on Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from httpx_ws import AsyncWebSocketSession
from starlette.applications import Starlette

from gateway.container import Container
from gateway.settings import Settings
from tests.entities.apps import Api
from tests.gateway.realtime.helpers import connect, eventually, init, subscribe, ws_client
from tests.gateway.realtime.resume import (
    BACKENDS,
    delete_streams,
    next_event,
    on_backend,
    subscribers,
)
from tests.gateway.world import World, as_user

CREATED = "subscription($after: String) { vendorCreated(after: $after) { name } }"
CREATE = """mutation($input: CreateVendorInput!) { createVendor(input: $input) { id } }"""


@pytest.fixture(params=BACKENDS)
def settings(settings: Settings, request: pytest.FixtureRequest, redis_available: bool) -> Settings:
    return on_backend(settings, request.param, redis_available)


@pytest.fixture(autouse=True)
async def streams(settings: Settings) -> AsyncIterator[None]:
    yield
    await delete_streams(settings)


async def create(api: Api, world: World, name: str, *, active: bool) -> None:
    answer = await api.ask(
        CREATE,
        {"input": {"name": name, "email": "buy@example.com", "active": active}},
        user=world.admin,
    )
    assert list(answer) == ["data"], answer


async def names(ws: AsyncWebSocketSession, count: int) -> list[str]:
    return [(await next_event(ws, "1"))[1]["vendorCreated"]["name"] for _ in range(count)]


async def test_a_resumed_subscriber_gets_only_the_missed_events_it_could_see_live(
    app: Starlette, container: Container, api: Api, world: World
) -> None:
    async with (
        ws_client(app) as http,
        connect(http, headers=as_user(world.staff)) as live_staff,
    ):
        await init(live_staff)
        await subscribe(live_staff, "1", CREATED)
        seen: dict[int, str] = {}
        for user in (world.staff, world.admin):
            async with connect(http, headers=as_user(user)) as ws:
                await init(ws)
                await subscribe(ws, "1", CREATED)
                await subscribers(container, 2)
                await create(api, world, f"Acme {user}", active=True)
                seen[user], _ = await next_event(ws, "1")
            await eventually(lambda: container.bus.subscriber_count == 1)
        # Missed by both: two vendors staff may not see, one it may.
        await create(api, world, "Hidden 1", active=False)
        await create(api, world, "Beta", active=True)
        await create(api, world, "Hidden 2", active=False)
        await container.relay.drain()
        resumed: dict[int, list[str]] = {}
        # Staff missed the admin's Acme too; the admin, the staff's marker as well.
        for user, count in ((world.staff, 2), (world.admin, 4)):
            async with connect(http, headers=as_user(user)) as ws:
                await init(ws)
                await subscribe(ws, "1", CREATED, {"after": seen[user]})
                missed = await names(ws, count)
                await subscribers(container, 2)
                # A marker: a replayed event the subscriber may not see would come first.
                await create(api, world, f"Marker {user}", active=True)
                resumed[user] = [*missed, *await names(ws, 1)]
            await eventually(lambda: container.bus.subscriber_count == 1)
        live = await names(live_staff, 5)
    staff, admin = f"Marker {world.staff}", f"Marker {world.admin}"
    assert live == [f"Acme {world.staff}", f"Acme {world.admin}", "Beta", staff, admin]
    assert resumed == {
        world.staff: [f"Acme {world.admin}", "Beta", staff],
        world.admin: ["Hidden 1", "Beta", "Hidden 2", staff, admin],
    }
    # The staff subscriber that never left saw the same stretch.
    assert live[1:4] == resumed[world.staff]
