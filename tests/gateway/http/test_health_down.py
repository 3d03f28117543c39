"""Readiness reports a database that does not answer."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import Settings


async def test_readiness_is_503_while_the_database_is_down(tmp_path: Path) -> None:
    # Port 1 on loopback refuses connections: a database that is down.
    settings = Settings(database={"url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"})
    container = build_container(settings)
    app = create_app(settings, container)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as client:
            ready = await client.get("/health/ready")
            live = await client.get("/health/live")
    finally:
        await container.aclose()
    assert (ready.status_code, ready.json()) == (
        503,
        {"status": "unavailable", "checks": {"database": "down"}},
    )
    assert live.status_code == 200
