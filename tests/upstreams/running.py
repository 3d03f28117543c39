"""The example exchange-rate service (or any ASGI app) on a real loopback socket, for a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from tests.gateway.realtime.helpers import eventually
from upstreams.exchange_rates.service import ExchangeRateService


@asynccontextmanager
async def running(service: ExchangeRateService) -> AsyncIterator[str]:
    """Serve `service` with uvicorn on 127.0.0.1 (a free port); yields its base URL."""

    def let_go() -> None:
        # Requests a test held in flight are let go, so the shutdown need not wait.
        if service.behaviour.gate is not None:
            service.behaviour.gate.set()

    async with serving(service.app, before_exit=let_go) as url:
        yield url


@asynccontextmanager
async def serving(
    app: ASGIApp, *, before_exit: Callable[[], None] | None = None
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (a free port); yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        # The process's logging left as the tests configure it (uvicorn's own config
        # would change its loggers for every later test).
        log_config=None,
        loop="asyncio",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done())
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        if before_exit is not None:
            before_exit()
        server.should_exit = True
        await task
