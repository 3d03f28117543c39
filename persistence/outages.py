"""Logging a dependency outage as an operator wants to read it: when it starts, how it
goes while it lasts, when it ends. Never a traceback per failed call.

One `Outage` per dependency and per user of it (the database, the Redis event bus, the
revocation broadcast ...). Callers report each failure and each success; the first
failure logs one warning, further failures are only counted and summed up at most every
`summary_seconds`, and the first success after them logs one line with the duration
and the count. Nothing runs in the background: lines are written by the reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from domain.outages import describe

log = structlog.get_logger("gateway.outages")

SUMMARY_SECONDS = 60.0


class Outage:
    """The state of one dependency as its user sees it: up, or down since when
    (a `domain.outages.OutageReport`)."""

    def __init__(
        self,
        dependency: str,
        *,
        component: str,
        summary_seconds: float = SUMMARY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency, self.component = dependency, component
        self._summary_seconds = summary_seconds
        self._clock = clock
        self._since: float | None = None
        self._failures = 0
        self._last_summary = 0.0
        self._last_error = ""

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException) -> None:
        """Report a failed call: logged if it starts an outage, else counted (and summed up)."""
        now = self._clock()
        self._failures += 1
        self._last_error = describe(error)
        if self._since is None:
            self._since, self._failures, self._last_summary = now, 1, now
            log.warning(
                "dependency outage started",
                dependency=self.dependency,
                component=self.component,
                error=self._last_error,
            )
        elif now - self._last_summary >= self._summary_seconds:
            self._last_summary = now
            log.warning(
                "dependency outage continues",
                dependency=self.dependency,
                component=self.component,
                seconds=round(now - self._since, 1),
                failures=self._failures,
                error=self._last_error,
            )

    def succeeded(self) -> None:
        """Report a successful call: logs the end of an outage, if there was one."""
        if self._since is None:
            return
        log.info(
            "dependency outage ended",
            dependency=self.dependency,
            component=self.component,
            seconds=round(self._clock() - self._since, 1),
            failures=self._failures,
        )
        self._since, self._failures = None, 0
