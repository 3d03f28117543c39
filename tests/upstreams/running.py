"""The example exchange-rate service on a real socket on the loopback, for a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from tests.gateway.realtime.helpers import eventually
from upstreams.exchange_rates.service import ExchangeRateService


@asynccontextmanager
async def running(service: ExchangeRateService) -> AsyncIterator[str]:
    """Serve `service` with uvicorn on 127.0.0.1 (a free port); yields its base URL."""
    config = uvicorn.Config(
        service.app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
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
        # Requests a test held in flight are let go, so the shutdown need not wait.
        if service.behaviour.gate is not None:
            service.behaviour.gate.set()
        server.should_exit = True
        await task
