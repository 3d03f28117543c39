"""Readiness follows Redis going away and coming back, without a restart."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gateway.app import create_app
from gateway.settings import Settings
from persistence import migrate
from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.observability.readiness import cut_and_restore
from tests.services import REDIS_URL, require_service


async def test_readiness_is_503_while_redis_is_cut_and_recovers(
    redis_available: bool, tmp_path: Path
) -> None:
    require_service("Redis", redis_available)
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    await migrate.upgrade(url)  # readiness also checks the migration revision
    target = urlsplit(REDIS_URL)
    async with TcpProxy(target.hostname or "127.0.0.1", target.port or 6379) as proxy:
        settings = Settings(
            database={"url": url},
            redis={"url": f"redis://127.0.0.1:{proxy.port}{target.path}"},
            health={"timeout_seconds": 1.0},
        )
        app = create_app(settings)
        try:
            await cut_and_restore(app, proxy, "redis")
        finally:
            await app.state.container.aclose()
