"""Background jobs: one-off and delayed work for application code, run after the commit.

    jobs = Jobs()

    @jobs.job("send-invoice")
    async def send_invoice(arguments: Mapping[str, Json]) -> None: ...

    async with uow() as unit:                     # with a change: both or neither
        ...
        unit.record(jobs.request("send-invoice", {"order": 7}, delay=timedelta(minutes=5)))
        await unit.commit()

    await JobQueue(uow, jobs).enqueue("send-invoice", {"order": 7})   # on its own

A request is an event (`JobRequested`): stored in the outbox in the transaction that
asked for it (a rolled-back change asks for nothing), published by the relay once due,
and run by the `jobs` handler with the handlers' machinery: at least once, skipped
when already done (by its id), retried with exponential backoff, dead-lettered after
the last attempt, counted and traced. A job must therefore be idempotent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.events import DomainEvent
from domain.handlers import EventHandlers
from domain.ports import UnitOfWorkFactory

type Json = bool | int | float | str | list[Json] | dict[str, Json] | None
type RunJob = Callable[[Mapping[str, Json]], Awaitable[None]]
type Clock = Callable[[], datetime]

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
HANDLER_NAME = "jobs"


def _now() -> datetime:
    return datetime.now(UTC)


class UnknownJobError(LookupError):
    """A request names a job this process does not know (a typo, or version skew)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequested(DomainEvent):
    """Run job `job` with `arguments`, not before `not_before`; `event_id` is the job's id."""

    job: str
    arguments: dict[str, Json] = field(default_factory=dict)
    not_before: datetime | None = None

    @property
    def aggregate(self) -> str:
        # Its own aggregate: a delayed job holds back no other event.
        return f"Job:{self.event_id}"

    @property
    def deliver_after(self) -> datetime | None:
        return self.not_before


class Jobs:
    """The application's jobs by name; `request` makes the event that asks for one."""

    def __init__(self, clock: Clock = _now) -> None:
        self._jobs: dict[str, RunJob] = {}
        self._clock = clock

    def add(self, name: str, run: RunJob) -> None:
        """Register `run` as job `name`; raises ValueError for a bad or taken name."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"job name {name!r}: lower-case letters, digits and dashes")
        if name in self._jobs:
            raise ValueError(f"job name {name!r} is already registered")
        self._jobs[name] = run

    def job(self, name: str) -> Callable[[RunJob], RunJob]:
        """Decorator form of `add`."""

        def register(run: RunJob) -> RunJob:
            self.add(name, run)
            return run

        return register

    def request(
        self,
        name: str,
        arguments: Mapping[str, Json] | None = None,
        *,
        delay: timedelta | None = None,
        at: datetime | None = None,
    ) -> JobRequested:
        """The event asking for job `name` now, after `delay` or at `at` (record it on a unit
        of work); raises UnknownJobError, or ValueError for arguments JSON cannot carry."""
        if name not in self._jobs:
            raise UnknownJobError(f"no job named {name!r}")
        if delay is not None and at is not None:
            raise ValueError("give a delay or a time, not both")
        if at is not None and at.tzinfo is None:
            raise ValueError("`at` must be an aware datetime")
        values = dict(arguments or {})
        try:
            # Stored as JSON: what would not come back the same is refused now, not later.
            if json.loads(json.dumps(values, allow_nan=False)) != values:
                raise ValueError("arguments change when stored as JSON (use lists, str keys)")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"job {name!r}: arguments must be JSON values: {exc}") from None
        not_before = at if at is not None else self._clock() + delay if delay else None
        return JobRequested(job=name, arguments=values, not_before=not_before)

    async def run(self, event: DomainEvent) -> None:
        """The `jobs` handler: run the job the event asks for; raises what the job raises,
        or UnknownJobError (retried, then dead-lettered, like any handler failure)."""
        if not isinstance(event, JobRequested):
            return
        run = self._jobs.get(event.job)
        if run is None:
            raise UnknownJobError(f"no job named {event.job!r}")
        await run(event.arguments)

    def register(self, handlers: EventHandlers) -> None:
        """Have `handlers` run the jobs (under the handler name `jobs`)."""
        handlers.add(HANDLER_NAME, (JobRequested,), self.run)

    def __contains__(self, name: object) -> bool:
        return name in self._jobs


class JobQueue:
    """Enqueue a job on its own transaction (not tied to a change)."""

    def __init__(self, uow: UnitOfWorkFactory, jobs: Jobs) -> None:
        self._uow, self._jobs = uow, jobs

    async def enqueue(
        self,
        name: str,
        arguments: Mapping[str, Json] | None = None,
        *,
        delay: timedelta | None = None,
        at: datetime | None = None,
    ) -> str:
        """Store the request; its job id. Raises as `Jobs.request` does."""
        request = self._jobs.request(name, arguments, delay=delay, at=at)
        async with self._uow() as unit:
            unit.record(request)
            await unit.commit()
        return request.event_id
