"""`gateway worker` with Redis: a shipped order is mailed by the worker, not the replica.

A real local SMTP server (aiosmtpd), a unique stream on the shared Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from domain.orders import OrderStatus
from domain.principals import Principal
from gateway.background.heartbeat import STALE_SECONDS, heartbeat_age
from gateway.container import build_container, stream_worker
from gateway.settings import Settings
from gateway.worker import run_worker
from persistence.stream_worker import partition_stream
from tests import migrated
from tests.gateway.mail import Inbox
from tests.gateway.mail import inbox as inbox  # the fixture, for this module
from tests.gateway.realtime.helpers import eventually
from tests.gateway.world import populate
from tests.redis_server import RedisServer
from tests.services import REDIS_URL, require_service

__all__ = ["inbox"]  # the fixture, shared with the embedded test


@pytest.fixture
async def settings(
    redis_available: bool, tmp_path: Path, inbox: tuple[Inbox, int]
) -> AsyncIterator[Settings]:
    require_service("Redis", redis_available)
    stream = f"test-worker-{uuid.uuid4().hex}"
    yield Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": REDIS_URL},
        security={"secret_key": "w" * 40, "argon2_time_cost": 1, "argon2_memory_kib": 1024},
        events={"stream": stream, "handler_partitions": 2, "handler_backoff_seconds": 0},
        mail={"host": "127.0.0.1", "port": inbox[1], "start_tls": False},
    )
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{stream}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_the_worker_mails_the_customer_of_a_shipped_order(
    settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    box, _port = inbox
    box._loop = asyncio.get_running_loop()
    await migrated.upgrade(settings.database.url)
    replica = build_container(settings)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        world = await populate(replica)
        # What a serving replica does at start: the handlers' groups keep what follows,
        # however late the worker reads.
        assert replica.redis is not None
        await stream_worker(
            settings.events, replica.redis, replica.handlers, replica.runner
        ).prepare()
        orders = replica.services.orders
        await orders.change_status(Principal.system(), world.bob_order, OrderStatus.PAID)
        await orders.change_status(Principal.system(), world.bob_order, OrderStatus.SHIPPED)
        async with asyncio.timeout(30):
            await box.arrived.wait()
    finally:
        stop.set()
        await worker
        await replica.aclose()
    assert [(to, message["Subject"]) for to, message in box.messages] == [
        (["bob@example.com"], f"Your order {world.bob_order} has shipped")
    ]


async def test_the_worker_keeps_a_heartbeat_while_it_runs_and_removes_it_when_it_stops(
    settings: Settings, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "worker.alive"
    settings.events.worker_heartbeat_file = str(heartbeat)
    await migrated.upgrade(settings.database.url)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        await eventually(heartbeat.exists, seconds=30)
        age = heartbeat_age(heartbeat)
    finally:
        stop.set()
        await worker
    assert (age < STALE_SECONDS, heartbeat.exists()) == (True, False)


async def test_a_worker_started_while_redis_is_away_waits_for_it_and_logs_it_once(
    tmp_path: Path,
) -> None:
    # A free port with nothing listening yet: Redis refuses every connection at start.
    server = RedisServer(tmp_path)
    stream = f"test-worker-{uuid.uuid4().hex}"
    settings = Settings(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"},
        redis={"url": server.url},
        security={"secret_key": "w" * 40},
        events={"stream": stream, "handler_partitions": 2},
    )
    await migrated.upgrade(settings.database.url)
    stop = asyncio.Event()

    def outage_lines(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [e for e in logs if e.get("component") == "worker"]

    with capture_logs() as logs:
        worker = asyncio.create_task(run_worker(settings, stop))
        try:
            await eventually(lambda: bool(outage_lines(logs)), seconds=30)
            # Tried again after 0.5 s and 1 s more: still running, and not logged again.
            await asyncio.sleep(1.8)
            waiting = not worker.done()
            server.start()
            await eventually(lambda: len(outage_lines(logs)) == 2, seconds=30)
            redis = Redis.from_url(server.url)
            try:
                groups = await redis.xinfo_groups(partition_stream(stream, 0))
            finally:
                await redis.aclose()
        finally:
            stop.set()
            await worker
            server.stop()
    started, ended = outage_lines(logs)
    assert (waiting, started["event"], ended["event"], ended["failures"] >= 3) == (
        True,
        "dependency outage started",
        "dependency outage ended",
        True,
    )
    # Once Redis answered, every handler's consumer group was made.
    (begun,) = [e for e in logs if e["event"] == "worker started"]
    assert (len(groups), begun["handlers"] > 0) == (begun["handlers"], True)
