"""The composition root runs the process's resources while it serves; the app's lifespan
only enters `Container.serving()`."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette

from gateway.container import Container


def running_jobs() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == "jobs" and not task.done()]


async def test_serving_starts_the_jobs_and_stops_not_ready_first_then_closed(
    container: Container,
) -> None:
    async with container.serving():
        # Embedded default (no Redis): the scheduled jobs run in this process.
        assert (len(running_jobs()), container.readiness.draining, container.closed) == (
            1,
            False,
            False,
        )
    assert (running_jobs(), container.readiness.draining, container.closed) == ([], True, True)


async def test_the_apps_lifespan_is_the_containers(app: Starlette, container: Container) -> None:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            assert (await http.get("/health/ready")).status_code == 200
        assert len(running_jobs()) == 1
    assert (running_jobs(), container.readiness.draining, container.closed) == ([], True, True)
