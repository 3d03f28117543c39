"""Scheduled jobs through a database outage: the outage's lines, not one per run.

The database sits behind a TCP proxy the test cuts and restores; the jobs are ticked by
hand, as the scheduler does every `every_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from gateway.background.jobs import PeriodicJob, Scheduler, application_jobs
from gateway.container import build_container
from gateway.settings import Settings
from persistence import migrate
from tests.gateway.observability.capture import LogCapture
from tests.gateway.observability.proxy import TcpProxy
from tests.helpers import scratch_postgres_database
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_service


@pytest.fixture(scope="module")
def jobs_database(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_job_outages") as url:
        asyncio.run(migrate.upgrade(url))
        yield url


async def test_jobs_in_a_database_outage_log_the_outage_not_each_run(
    jobs_database: str, logs: LogCapture
) -> None:
    async with TcpProxy(POSTGRES_HOST, POSTGRES_PORT) as proxy:
        url = sa.make_url(jobs_database).set(host="127.0.0.1", port=proxy.port)
        settings = Settings(
            database={"url": url.render_as_string(hide_password=False)},
            security={"secret_key": "s" * 40},
        )
        container = build_container(settings)
        try:
            jobs = application_jobs(settings.jobs, container.services, audit=settings.audit)
            failing = PeriodicJob("always-failing", 60, _fails)
            scheduler = Scheduler([*jobs, failing])
            await proxy.cut()
            for _ in range(3):  # three periods of every job while the database is down
                assert [await scheduler.tick(job) for job in jobs] == [True] * len(jobs)
            proxy.restore()
            assert [await scheduler.tick(job) for job in jobs] == [True] * len(jobs)
            await scheduler.tick(failing)
        finally:
            await container.aclose()

    assert [
        (line["event"], line.get("component") or line.get("job"))
        for line in logs.lines()
        if line["level"] in {"warning", "error"} or "outage" in line["event"]
    ] == [
        ("dependency outage started", "queries"),
        ("dependency outage ended", "queries"),
        # Any other failure is still logged at every run.
        ("scheduled job failed", "always-failing"),
    ]


async def _fails() -> None:
    raise RuntimeError("a bug in the job")
