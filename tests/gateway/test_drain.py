"""SIGTERM drains: readiness answers 503 at once while the server still serves, then the
graceful shutdown closes WebSockets with 1001 (a real uvicorn on a real socket)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette

from gateway.realtime import CLOSE_GOING_AWAY
from gateway.server import TunedServer
from gateway.settings import ServerSettings
from tests.gateway.realtime.helpers import eventually
from tests.gateway.world import World, as_user
from tests.helpers import free_port


@pytest.fixture(autouse=True)
def received() -> Iterator[list[int]]:
    """The signals uvicorn raises again once shut down (a real process would exit by them)."""
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda sig, _frame: seen.append(sig))
    yield seen
    signal.signal(signal.SIGTERM, previous)


async def serve(
    app: Starlette, drain_seconds: float
) -> tuple[TunedServer, asyncio.Task[None], int]:
    port = free_port()
    # The fixtures own the container's lifespan: both tests serve the same app twice.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_config=None,
        ws="websockets-sansio",
    )
    server = TunedServer(
        config, ServerSettings(gc_freeze=False, gc_threshold=0, drain_seconds=drain_seconds)
    )
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    return server, serving, port


async def test_sigterm_turns_readiness_to_503_while_requests_and_sockets_go_on(
    app: Starlette, world: World, received: list[int]
) -> None:
    server, serving, port = await serve(app, drain_seconds=120)
    base = f"http://127.0.0.1:{port}"
    async with (
        httpx.AsyncClient(base_url=base) as http,
        websockets.connect(
            f"ws://127.0.0.1:{port}/graphql",
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            additional_headers=as_user(world.alice),
        ) as ws,
    ):
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        assert (await http.get("/health/ready")).status_code == 200

        server.handle_exit(signal.SIGTERM, None)

        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()["status"]) == (503, "draining")
        query = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers=as_user(world.alice)
        )
        assert query.json() == {"data": {"__typename": "Query"}}
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv()) == {"type": "pong"}
        assert not serving.done()

        # A second SIGTERM ends the wait: the graceful shutdown closes the socket with 1001.
        server.handle_exit(signal.SIGTERM, None)
        await ws.wait_closed()
        assert ws.close_code == CLOSE_GOING_AWAY
    await serving
    assert received == [signal.SIGTERM]


async def test_the_drain_ends_by_itself_and_without_it_sigterm_stops_at_once(
    app: Starlette, received: list[int]
) -> None:
    server, serving, _ = await serve(app, drain_seconds=0.2)
    server.handle_exit(signal.SIGTERM, None)
    assert not server.should_exit
    await serving
    assert server.should_exit

    server, serving, _ = await serve(app, drain_seconds=0)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    await serving
    assert received == [signal.SIGTERM, signal.SIGTERM]
