"""Jobs for the job tests: a settable clock, and jobs that note, fail for a while, or fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.jobs import Jobs, Json

START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Work:
    """What the jobs did: each run's arguments, by job."""

    runs: list[tuple[str, dict[str, Json]]] = field(default_factory=list)

    def jobs(self, clock: Clock, *, failures: int = 2) -> Jobs:
        jobs = Jobs(clock)

        @jobs.job("note")
        async def note(arguments: Mapping[str, Json]) -> None:
            self.runs.append(("note", dict(arguments)))

        @jobs.job("flaky")
        async def flaky(arguments: Mapping[str, Json]) -> None:
            self.runs.append(("flaky", dict(arguments)))
            if sum(1 for name, _ in self.runs if name == "flaky") <= failures:
                raise ConnectionError("the mail server hung up")

        @jobs.job("broken")
        async def broken(arguments: Mapping[str, Json]) -> None:
            self.runs.append(("broken", dict(arguments)))
            raise ValueError("cannot do this one")

        return jobs
