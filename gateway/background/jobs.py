"""Scheduled jobs: work that runs every so often, in the worker (or in serve, embedded).

A job must be idempotent and safe to run twice at once: with REDIS__URL each tick is
claimed with a key living one interval (`SET NX PX`), so normally one worker runs it
per interval, but a run outliving its interval may overlap with the next one. The demo domain's
job cancels orders left unpaid for `JOBS__UNPAID_ORDER_MINUTES` (each cancel is a
compare-and-set, so racing workers release each order's stock once); the audit trail's
deletes entries older than `AUDIT__RETENTION_DAYS` (a delete by age: running it twice
deletes nothing more).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio import Redis

from domain.errors import UnavailableError
from domain.outages import describe
from gateway.settings import AuditSettings, JobsSettings
from resolvers.context import Services

log = structlog.get_logger("gateway.jobs")

type Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[], Awaitable[object]]


def application_jobs(
    settings: JobsSettings,
    services: Services,
    clock: Clock = _utcnow,
    *,
    audit: AuditSettings,
) -> list[PeriodicJob]:
    """The application's scheduled jobs: the demo domain's and the audit trail's purge."""
    unpaid_for = timedelta(minutes=settings.unpaid_order_minutes)
    audit_kept = timedelta(days=audit.retention_days)

    async def cancel_unpaid_orders() -> list[int]:
        return await services.orders.cancel_unpaid(clock() - unpaid_for)

    async def purge_audit_log() -> int:
        return await services.audit.purge(clock() - audit_kept)

    return [
        PeriodicJob(
            "cancel-unpaid-orders", settings.unpaid_order_check_seconds, cancel_unpaid_orders
        ),
        PeriodicJob("purge-audit-log", audit.purge_check_seconds, purge_audit_log),
    ]


class Scheduler:
    """Runs each job every `every_seconds` until cancelled; a failing run is logged."""

    def __init__(
        self,
        jobs: Sequence[PeriodicJob],
        redis: Redis | None = None,
        *,
        prefix: str = "gateway:jobs:",
    ) -> None:
        self._jobs, self._redis, self._prefix = list(jobs), redis, prefix

    async def tick(self, job: PeriodicJob) -> bool:
        """Run `job` once unless another worker holds this tick; whether it ran."""
        key = f"{self._prefix}{job.name}"
        if self._redis is not None and not await self._redis.set(
            key, b"1", nx=True, px=max(1, int(job.every_seconds * 1000))
        ):
            return False
        try:
            result = await job.run()
        except UnavailableError:
            # The database is down: its outage is logged where it is seen (the engine's
            # `dependency outage` lines: started, summed up, ended), not again every run.
            return True
        except Exception as error:  # one failed run must not stop the schedule
            log.warning("scheduled job failed", job=job.name, error=describe(error))
            return True
        affected = len(result) if isinstance(result, list) else result
        if isinstance(affected, int) and affected:
            log.info("scheduled job ran", job=job.name, affected=affected)
        return True

    async def run(self) -> None:
        await asyncio.gather(*(self._every(job) for job in self._jobs))

    async def _every(self, job: PeriodicJob) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.tick(job)
            await asyncio.sleep(job.every_seconds)
