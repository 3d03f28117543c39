"""A committed mutation is answered as committed: nothing after COMMIT can fail it.

The execution timeout governs the work before the first commit only; events are
published in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from domain.events import DomainEvent
from gateway.container import Container
from gateway.settings import Settings
from persistence.unit_of_work import SqlUnitOfWork
from tests.gateway.timeouts import shorten_operation_timeout
from tests.gateway.world import World, as_user, gid

PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { status } }"""
# Ten times what placing an order takes on a busy machine: only the stalls pass it.
TIMEOUT_SECONDS = 2.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    shorten_operation_timeout(settings, TIMEOUT_SECONDS)
    settings.graphql.planner = False
    return settings


async def _place(client: httpx.AsyncClient, world: World) -> httpx.Response:
    variables = {"input": {"lines": [{"itemId": gid("Item", world.gadget), "quantity": 1}]}}
    return await client.post(
        "/graphql", json={"query": PLACE, "variables": variables}, headers=as_user(world.alice)
    )


async def _orders(client: httpx.AsyncClient, world: World) -> int:
    response = await client.post(
        "/graphql", json={"query": "{ orders { totalCount } }"}, headers=as_user(world.staff)
    )
    count: int = response.json()["data"]["orders"]["totalCount"]
    return count


async def test_a_hanging_event_publish_does_not_hold_or_fail_the_answer(
    client: httpx.AsyncClient, world: World, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()

    async def hang(_events: Sequence[DomainEvent]) -> None:
        await never.wait()

    monkeypatch.setattr(container.bus, "publish", hang)
    before = await _orders(client, world)

    response = await _place(client, world)

    assert (response.status_code, response.json()) == (
        200,
        {"data": {"placeOrder": {"status": "PLACED"}}},
    )
    assert await _orders(client, world) == before + 1
    # Released, so the relay stops at once when the container closes instead of after
    # its 5 s grace (closing past a hung publish: tests/persistence/test_outbox.py).
    never.set()


async def test_work_after_the_commit_is_not_cut_by_the_execution_timeout(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit = SqlUnitOfWork.commit

    async def commit_then_stall(self: SqlUnitOfWork) -> None:
        await commit(self)
        await asyncio.sleep(TIMEOUT_SECONDS * 1.5)  # past the deadline, after COMMIT

    monkeypatch.setattr(SqlUnitOfWork, "commit", commit_then_stall)
    before = await _orders(client, world)

    response = await _place(client, world)

    assert (response.status_code, response.json()) == (
        200,
        {"data": {"placeOrder": {"status": "PLACED"}}},
    )
    assert await _orders(client, world) == before + 1


async def test_work_before_the_commit_is_still_cut_and_nothing_is_written(
    client: httpx.AsyncClient, world: World, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = container.services.orders.place

    async def stall_then_place(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)
        return await original(*args, **kwargs)

    monkeypatch.setattr(container.services.orders, "place", stall_then_place)
    before = await _orders(client, world)

    response = await _place(client, world)

    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": f"the operation did not finish within {TIMEOUT_SECONDS:g} seconds",
                "extensions": {"code": "TIMEOUT"},
            }
        ],
    }
    assert await _orders(client, world) == before
