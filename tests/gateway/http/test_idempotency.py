"""Idempotency keys: a retried mutation is answered with its first answer, done once.

On the embedded default (the in-process store); the Redis store shares the contract
(tests/persistence/test_idempotency_store.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gateway.container import Container
from gateway.settings import Settings
from persistence.unit_of_work import SqlUnitOfWork
from tests.gateway.timeouts import shorten_operation_timeout
from tests.gateway.world import World, as_user, gid

PLACE = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }"
TIMEOUT_SECONDS = 2.0


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The gateway's test settings; a test may pass IDEMPOTENCY__ values (indirect)."""
    shorten_operation_timeout(settings, TIMEOUT_SECONDS)
    for name, value in getattr(request, "param", {}).items():
        setattr(settings.idempotency, name, value)
    return settings


def _lines(world: World, quantity: int = 1) -> dict[str, Any]:
    return {"input": {"lines": [{"itemId": gid("Item", world.widget), "quantity": quantity}]}}


async def _place(
    client: httpx.AsyncClient,
    world: World,
    *,
    key: str | None = None,
    quantity: int = 1,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    headers = as_user(world.alice) | ({"Idempotency-Key": key} if key is not None else {})
    payload: dict[str, Any] = {"query": PLACE, "variables": _lines(world, quantity)}
    if extensions is not None:
        payload["extensions"] = extensions
    return await client.post("/graphql", json=payload, headers=headers)


async def _orders(client: httpx.AsyncClient, world: World) -> int:
    response = await client.post(
        "/graphql", json={"query": "{ orders { totalCount } }"}, headers=as_user(world.staff)
    )
    count: int = response.json()["data"]["orders"]["totalCount"]
    return count


class CommitGate:
    """Holds every unit of work right after its COMMIT until the test opens the gate."""

    def __init__(self) -> None:
        self.committed = asyncio.Event()
        self.open = asyncio.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        commit = SqlUnitOfWork.commit
        gate = self

        async def commit_then_wait(uow: SqlUnitOfWork) -> None:
            await commit(uow)
            gate.committed.set()
            await gate.open.wait()

        monkeypatch.setattr(SqlUnitOfWork, "commit", commit_then_wait)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[CommitGate]:
    held = CommitGate()
    held.install(monkeypatch)
    yield held
    held.open.set()


async def test_a_retry_gets_the_first_answer_and_nothing_is_done_twice(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _orders(client, world)
    first = await _place(client, world, key='"order-1"')
    retry = await _place(client, world, key='"order-1"')

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json() == first.json()
    assert first.json()["data"]["placeOrder"]["status"] == "PLACED"
    assert ("idempotent-replayed" in first.headers, retry.headers["idempotent-replayed"]) == (
        False,
        "true",
    )
    assert await _orders(client, world) == before + 1


async def test_the_key_may_travel_as_a_request_extension(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _orders(client, world)
    first = await _place(client, world, extensions={"idempotencyKey": "ext-1"})
    retry = await _place(client, world, extensions={"idempotencyKey": "ext-1"})
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert await _orders(client, world) == before + 1


async def test_a_retry_while_the_first_still_runs_waits_for_its_answer(
    client: httpx.AsyncClient, world: World, gate: CommitGate
) -> None:
    before = await _orders(client, world)
    first = asyncio.create_task(_place(client, world, key="slow-1"))
    await gate.committed.wait()  # the order is committed; its answer not yet sent
    retry = asyncio.create_task(_place(client, world, key="slow-1"))
    await asyncio.sleep(0.1)  # the retry finds the key in flight and waits
    assert not retry.done()
    gate.open.set()
    answers = await asyncio.gather(first, retry)

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[1].json() == answers[0].json()
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert await _orders(client, world) == before + 1


@pytest.mark.parametrize("settings", [{"wait_seconds": 0}], indirect=True)
async def test_with_no_wait_a_concurrent_retry_gets_409_as_the_draft_says(
    client: httpx.AsyncClient, world: World, gate: CommitGate
) -> None:
    key = "concurrent-1"
    first = asyncio.create_task(_place(client, world, key=key))
    await gate.committed.wait()
    retry = await _place(client, world, key=key)
    gate.open.set()
    await first

    assert (retry.status_code, retry.headers["retry-after"], retry.json()) == (
        409,
        "1",
        {
            "errors": [
                {
                    "message": "a request with this idempotency key is still being processed",
                    "extensions": {"code": "IDEMPOTENCY_KEY_IN_USE"},
                }
            ]
        },
    )


async def test_a_reused_key_with_a_different_request_is_refused_with_422(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _orders(client, world)
    await _place(client, world, key="reused-1", quantity=1)
    other = await _place(client, world, key="reused-1", quantity=2)
    assert (other.status_code, other.json()) == (
        422,
        {
            "errors": [
                {
                    "message": "this idempotency key was used for a different request",
                    "extensions": {"code": "IDEMPOTENCY_KEY_REUSED"},
                }
            ]
        },
    )
    assert await _orders(client, world) == before + 1


async def test_keys_are_scoped_to_the_caller(client: httpx.AsyncClient, world: World) -> None:
    before = await _orders(client, world)
    await _place(client, world, key="shared-1")
    bobs = await client.post(
        "/graphql",
        json={"query": PLACE, "variables": _lines(world)},
        headers=as_user(world.bob) | {"Idempotency-Key": "shared-1"},
    )
    assert ("idempotent-replayed" in bobs.headers, bobs.json()["data"]["placeOrder"]["status"]) == (
        False,
        "PLACED",
    )
    assert await _orders(client, world) == before + 2


async def test_an_unusable_key_is_a_bad_request(client: httpx.AsyncClient, world: World) -> None:
    for key in [b'""', b"k" * 256, "caf\u00e9".encode()]:
        response = await client.post(
            "/graphql",
            json={"query": PLACE, "variables": _lines(world)},
            headers={b"X-Debug-User": str(world.alice).encode(), b"Idempotency-Key": key},
        )
        assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (
            400,
            "BAD_REQUEST",
        ), key


async def test_an_answer_given_before_anything_changed_is_not_kept(
    client: httpx.AsyncClient, world: World, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A timeout before commit wrote nothing: the retry with the same key executes."""
    original = container.services.orders.place
    calls = 0

    async def slow_the_first_time(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(30)
        return await original(*args, **kwargs)

    monkeypatch.setattr(container.services.orders, "place", slow_the_first_time)
    before = await _orders(client, world)
    first = await _place(client, world, key="timeout-1")
    retry = await _place(client, world, key="timeout-1")

    assert first.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert (
        retry.json()["data"]["placeOrder"]["status"],
        "idempotent-replayed" in retry.headers,
    ) == (
        "PLACED",
        False,
    )
    assert await _orders(client, world) == before + 1


async def test_rest_mutations_take_the_key_too(client: httpx.AsyncClient, world: World) -> None:
    before = await _orders(client, world)
    body = {"lines": [{"itemId": gid("Item", world.widget), "quantity": 1}]}
    headers = as_user(world.alice) | {"Idempotency-Key": '"rest-1"'}
    first = await client.post("/api/v1/orders", json=body, headers=headers)
    retry = await client.post("/api/v1/orders", json=body, headers=headers)
    other = await client.post(
        "/api/v1/orders",
        json={"lines": [{"itemId": gid("Item", world.widget), "quantity": 2}]},
        headers=headers,
    )

    assert (first.status_code, retry.status_code) == (201, 201)
    assert (retry.content, retry.headers["location"], retry.headers["etag"]) == (
        first.content,
        first.headers["location"],
        first.headers["etag"],
    )
    assert retry.headers["idempotent-replayed"] == "true"
    problem = other.json()
    assert (other.status_code, other.headers["content-type"], problem["code"]) == (
        422,
        "application/problem+json",
        "IDEMPOTENCY_KEY_REUSED",
    )
    assert problem["instance"] == "/api/v1/orders"
    assert await _orders(client, world) == before + 1
