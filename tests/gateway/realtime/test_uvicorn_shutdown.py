"""A real uvicorn: on shutdown, open sockets are closed with 1001 before uvicorn's own 1012."""

from __future__ import annotations

import asyncio
import json

import uvicorn
import websockets
from starlette.applications import Starlette

from gateway.realtime import CLOSE_GOING_AWAY
from gateway.server import TunedServer
from gateway.settings import ServerSettings
from tests.gateway.realtime.helpers import eventually
from tests.gateway.world import World, as_user
from tests.helpers import free_port


async def test_shutdown_closes_websockets_with_1001(app: Starlette, world: World) -> None:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, ws="websockets-sansio"
    )
    server = TunedServer(config, ServerSettings(gc_freeze=False, gc_threshold=0))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers=as_user(world.alice),
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        server.should_exit = True
        await ws.wait_closed()
        assert ws.close_code == CLOSE_GOING_AWAY
    await serving
