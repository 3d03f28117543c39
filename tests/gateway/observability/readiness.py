"""Drive /health/ready through an app whose dependency sits behind a TcpProxy."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette

from tests.gateway.observability.capture import labels, samples
from tests.gateway.observability.proxy import TcpProxy


async def ready(client: httpx.AsyncClient) -> tuple[int, Any]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()


async def cut_and_restore(app: Starlette, proxy: TcpProxy, dependency: str) -> None:
    """Ready, then 503 with `dependency` down while cut, then ready again: same app."""
    checks_up = {"database": "ok", dependency: "ok"}
    checks_down = {**checks_up, dependency: "down"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        assert await ready(client) == (200, {"status": "ready", "checks": checks_up})
        await proxy.cut()
        assert await ready(client) == (503, {"status": "unavailable", "checks": checks_down})
        metrics = samples((await client.get("/metrics")).text)
        assert (
            metrics[("gateway_dependency_up", labels(dependency=dependency))],
            metrics[("gateway_ready", labels())],
        ) == (0, 0)
        proxy.restore()
        assert await ready(client) == (200, {"status": "ready", "checks": checks_up})
        metrics = samples((await client.get("/metrics")).text)
        assert metrics[("gateway_dependency_up", labels(dependency=dependency))] == 1
