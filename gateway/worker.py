"""`gateway worker`: event handlers, scheduled jobs and the outbox relay, outside serve.

With REDIS__URL, handlers run here over the partitioned handler streams; run as many
workers as needed (they share the partitions). Each worker also runs an outbox relay,
so events committed by a process that died are published even when no replica serves.
SIGTERM and SIGINT stop it after the event in hand; its partitions are handed back.
A Redis that is away when it starts is waited for (logged once, as an outage), as
`serve` does, rather than ending the process.
Its metrics (handler runs, the relay) are served on METRICS__PORT when set, and it
touches EVENTS__WORKER_HEARTBEAT_FILE for a liveness probe (`gateway probe worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from pathlib import Path

import structlog

from gateway.background.heartbeat import beat
from gateway.background.jobs import Scheduler, application_jobs
from gateway.container import build_container, stream_worker
from gateway.settings import Settings

log = structlog.get_logger("gateway.worker")


async def _together(*parts: Coroutine[object, object, None]) -> None:
    await asyncio.gather(*parts)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGTERM/SIGINT); raises ValueError without REDIS__URL."""
    container = build_container(settings)
    if container.redis is None:
        await container.aclose()
        raise ValueError(
            "REDIS__URL is not set: on the embedded default, handlers run inside gateway serve"
        )
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    worker = stream_worker(settings.events, container.redis, container.handlers, container.runner)
    container.relay.wake()
    scheduler = Scheduler(
        application_jobs(settings.jobs, container.services, audit=settings.audit),
        container.redis,
        prefix=f"{settings.events.stream}:jobs:",
    )
    container.observability.start()
    running = asyncio.create_task(_together(worker.run(), scheduler.run()), name="worker")
    heartbeat: asyncio.Task[None] | None = None
    if settings.events.worker_heartbeat_file:
        path = Path(settings.events.worker_heartbeat_file)
        heartbeat = asyncio.create_task(beat(path, lambda: not running.done()), name="heartbeat")
    log.info("worker started", consumer=worker.consumer, handlers=len(container.handlers))
    try:
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
    finally:
        for task in (running, heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await container.aclose()
        container.observability.close()
        log.info("worker stopped", consumer=worker.consumer, handled=worker.handled)
