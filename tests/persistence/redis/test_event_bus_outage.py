"""The Redis event bus through an outage: one line when it starts and when it ends,
no traceback per reconnection attempt, and events flow again afterwards."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from domain.events import ItemPriceChanged
from domain.money import Money
from gateway.container import redis_client
from gateway.settings import RedisSettings
from persistence import redis_event_bus
from persistence.redis_event_bus import RedisEventBus
from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.realtime.helpers import eventually
from tests.redis_server import RedisServer


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[TcpProxy]:
    with RedisServer(tmp_path) as server:
        async with TcpProxy("127.0.0.1", server.port) as running:
            yield running


async def test_an_outage_is_logged_once_however_often_the_bus_reconnects(
    proxy: TcpProxy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(redis_event_bus, "RECONNECT_MIN_SECONDS", 0.01)
    monkeypatch.setattr(redis_event_bus, "RECONNECT_MAX_SECONDS", 0.02)
    redis = redis_client(RedisSettings(url=f"redis://127.0.0.1:{proxy.port}/0"))
    assert redis is not None
    bus = RedisEventBus(redis, stream="outage-test")
    subscription = bus.subscribe([ItemPriceChanged])
    try:
        await bus.ready()
        caplog.set_level(logging.DEBUG)
        with capture_logs() as logs:
            await proxy.cut()
            await eventually(lambda: proxy.refused >= 5)  # five reconnection attempts at least
            proxy.restore()
            await eventually(lambda: any(log["event"].endswith("ended") for log in logs))
        assert [(log["event"], log["component"]) for log in logs] == [
            ("dependency outage started", "event bus (stream reader)"),
            ("dependency outage ended", "event bus (stream reader)"),
        ]
        assert [record.getMessage() for record in caplog.records if record.exc_info] == []
        event = ItemPriceChanged(item_id=1, previous=Money(100), current=Money(90))
        await bus.publish([event])
        async with asyncio.timeout(10):
            assert await anext(subscription) == event
    finally:
        await bus.aclose()
        await redis.aclose()
