"""Load shedding: a bounded number of requests run; the rest wait briefly or get 503."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.container import Container
from gateway.http.health import live
from gateway.http.load_shedding import LoadSheddingMiddleware, Slots
from gateway.settings import Settings

OVERLOADED_PROBLEM = {
    "type": "https://python-api-base.dev/problems/unavailable",
    "title": "Service unavailable",
    "status": 503,
    "detail": "the server is overloaded; retry later",
    "code": "UNAVAILABLE",
    "retryAfter": 1,
}


@dataclass
class Gate:
    """Holds every request to /slow until opened."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    async def slow(self, _: Request) -> Response:
        self.started.set()
        await self.opened.wait()
        return JSONResponse({"ok": True})


def shedding_app(gate: Gate, queue_timeout_seconds: float) -> Starlette:
    return Starlette(
        routes=[
            Route("/slow", gate.slow),
            Route("/graphql", gate.slow, methods=["POST"]),
            Route("/health/live", live),
        ],
        middleware=[
            Middleware(
                LoadSheddingMiddleware,
                max_concurrency=1,
                queue_timeout_seconds=queue_timeout_seconds,
            )
        ],
    )


@pytest.fixture
def gate() -> Gate:
    return Gate()


async def client_for(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


@pytest.fixture
async def client(gate: Gate) -> AsyncIterator[httpx.AsyncClient]:
    async for http in client_for(shedding_app(gate, queue_timeout_seconds=0.05)):
        yield http


async def test_a_request_that_cannot_start_in_time_gets_503_with_retry_after(
    client: httpx.AsyncClient, gate: Gate
) -> None:
    first = asyncio.create_task(client.get("/slow"))
    await gate.started.wait()

    began = time.monotonic()
    second = await client.get("/slow")
    waited = time.monotonic() - began

    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert second.headers["content-type"] == "application/problem+json"
    problem = second.json()
    # A fresh request id without the edge (this app has only the middleware).
    assert problem == OVERLOADED_PROBLEM | {"instance": "/slow", "requestId": problem["requestId"]}
    assert len(problem["requestId"]) == 32
    # Refused once the queue timeout (50 ms) was waited, while the slow request still
    # ran (it cannot finish before the gate opens below); loose above: without the
    # timeout the request would wait for the gate, and a busy machine is slow.
    assert 0.05 <= waited < 10
    assert not first.done()
    gate.opened.set()
    assert (await first).status_code == 200
    # The slot is free again.
    assert (await client.get("/slow")).status_code == 200


async def test_on_the_graphql_path_the_refusal_is_a_graphql_error(
    client: httpx.AsyncClient, gate: Gate
) -> None:
    first = asyncio.create_task(client.get("/slow"))
    await gate.started.wait()
    refused = await client.post("/graphql", json={"query": "{ __typename }"})
    gate.opened.set()
    await first
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/json; charset=utf-8"
    assert refused.json() == {
        "errors": [
            {
                "message": "the server is overloaded; retry later",
                "extensions": {"code": "UNAVAILABLE", "retryAfter": 1},
            }
        ]
    }


async def test_health_probes_bypass_the_limit(client: httpx.AsyncClient, gate: Gate) -> None:
    first = asyncio.create_task(client.get("/slow"))
    await gate.started.wait()
    probe = await client.get("/health/live")
    gate.opened.set()
    await first
    assert (probe.status_code, probe.json()) == (200, {"status": "ok"})


async def test_a_request_waits_for_a_slot_within_the_queue_timeout(gate: Gate) -> None:
    async for http in client_for(shedding_app(gate, queue_timeout_seconds=5.0)):
        first = asyncio.create_task(http.get("/slow"))
        await gate.started.wait()
        second = asyncio.create_task(http.get("/slow"))
        await asyncio.sleep(0.05)
        assert not second.done()
        gate.opened.set()
        assert [(await first).status_code, (await second).status_code] == [200, 200]


def test_a_limit_below_one_is_refused(gate: Gate) -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        LoadSheddingMiddleware(
            shedding_app(gate, 0.0), max_concurrency=0, queue_timeout_seconds=0.0
        )


def test_the_gateway_sheds_by_default_and_not_when_the_limit_is_zero(
    settings: Settings, container: Container
) -> None:
    def shedding(app: Starlette) -> list[Middleware]:
        # Starlette types `cls` as a middleware factory protocol, not a class.
        return [m for m in app.user_middleware if cast(object, m.cls) is LoadSheddingMiddleware]

    assert [m.kwargs for m in shedding(create_app(settings, container))] == [
        {"max_concurrency": 64, "queue_timeout_seconds": 0.5, "graphql_path": "/graphql"}
    ]
    server = settings.server.model_copy(update={"max_concurrency": 0})
    unlimited = create_app(settings.model_copy(update={"server": server}), container)
    assert shedding(unlimited) == []


async def test_slots_are_taken_at_once_while_free_then_in_line_in_order() -> None:
    slots = Slots(1)
    assert slots.take()
    assert not slots.take()
    served: list[str] = []

    async def waits(name: str) -> None:
        await slots.wait()
        served.append(name)

    first = asyncio.create_task(waits("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(waits("second"))
    await asyncio.sleep(0)
    slots.release()  # to the first in line, not to a newcomer
    assert not slots.take()
    await first
    slots.release()
    await second
    assert served == ["first", "second"]
    slots.release()
    assert slots.take()  # nobody waits: free again


async def test_a_waiter_out_of_time_leaves_the_line() -> None:
    slots = Slots(1)
    assert slots.take()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await slots.wait()
    slots.release()
    # Nobody is left in line: the freed slot is taken at once.
    assert slots.take()


async def test_a_waiter_cancelled_after_it_was_handed_a_slot_passes_it_on() -> None:
    slots = Slots(1)
    assert slots.take()
    cancelled = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    nxt = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    slots.release()  # handed to `cancelled`, which is cancelled before it runs
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await nxt  # it got the slot passed on
    slots.release()
    assert slots.take()
    assert not slots.take()
