"""Running one handler on one event: skip a repeat, retry with backoff, give up cleanly.

Transport-neutral: the Redis stream worker (`persistence.stream_worker`) and the
in-process dispatcher (`persistence.event_dispatch`) both call `HandlerRunner.run`.
A handler that completed an event is remembered by `(handler name, event_id)` for
`remember_seconds`, so a second delivery of it (the relay publishing again after a
crash, a redelivered stream entry) has no second effect.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog
from redis.asyncio import Redis

from domain.events import DomainEvent
from domain.handlers import Handler

log = structlog.get_logger("gateway.handlers")

type Sleep = Callable[[float], Awaitable[None]]
# (handler name, outcome, seconds): the metrics hook.
type Observe = Callable[[str, str, float], None]
# (handler name, event): a span around each attempt (the tracing hook).
type Span = Callable[[str, DomainEvent], AbstractContextManager[object]]


class Outcome(StrEnum):
    DONE = "done"
    REPEAT = "repeat"  # completed before: skipped
    DEAD = "dead"  # failed every attempt: for the dead-letter stream


class ProcessedEvents(Protocol):
    """Which events each handler completed (for a while)."""

    async def completed(self, handler: str, event_id: str) -> bool: ...

    async def complete(self, handler: str, event_id: str) -> None: ...


class MemoryProcessedEvents:
    """`ProcessedEvents` for one process: the last `size` completions."""

    def __init__(self, size: int = 100_000) -> None:
        self._size = size
        self._done: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def completed(self, handler: str, event_id: str) -> bool:
        return (handler, event_id) in self._done

    async def complete(self, handler: str, event_id: str) -> None:
        self._done[(handler, event_id)] = None
        while len(self._done) > self._size:
            self._done.popitem(last=False)


class RedisProcessedEvents:
    """`ProcessedEvents` shared by every worker: one key per completion, expiring."""

    def __init__(self, redis: Redis, *, prefix: str, remember_seconds: int) -> None:
        self._redis, self._prefix, self._ttl = redis, prefix, remember_seconds

    def _key(self, handler: str, event_id: str) -> str:
        return f"{self._prefix}{handler}:{event_id}"

    async def completed(self, handler: str, event_id: str) -> bool:
        return bool(await self._redis.exists(self._key(handler, event_id)))

    async def complete(self, handler: str, event_id: str) -> None:
        await self._redis.set(self._key(handler, event_id), b"1", ex=self._ttl)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all, waiting base * 2^(n-1) seconds (at most `max_seconds`)."""

    attempts: int = 5
    base_seconds: float = 0.5
    max_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("attempts must be at least 1 and delays non-negative")

    def delay(self, failed_attempt: int) -> float:
        """The wait after the `failed_attempt`-th failure (1-based)."""
        return float(min(self.max_seconds, self.base_seconds * 2 ** (failed_attempt - 1)))


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    attempts: int
    error: str | None = None


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())[:500]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class HandlerRunner:
    """Runs a handler on an event with the policy; never raises for the handler's fault."""

    def __init__(
        self,
        processed: ProcessedEvents,
        policy: RetryPolicy | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        observe: Observe | None = None,
        span: Span | None = None,
    ) -> None:
        self._processed = processed
        self.policy = policy or RetryPolicy()
        self._sleep, self._observe = sleep, observe
        self._span = span

    async def run(self, handler: Handler, event: DomainEvent) -> Result:
        if await self._processed.completed(handler.name, event.event_id):
            self._record(handler, Outcome.REPEAT, 0.0)
            return Result(Outcome.REPEAT, 0)
        error = ""
        for attempt in range(1, self.policy.attempts + 1):
            started = time.perf_counter()
            try:
                with self._span(handler.name, event) if self._span else nullcontext():
                    await handler.handle(event)
            except Exception as exc:  # the handler's fault: retried, then dead-lettered
                error = _describe(exc)
                self._record(handler, "failed", time.perf_counter() - started)
                log.warning(
                    "event handler failed",
                    handler=handler.name,
                    event_id=event.event_id,
                    event_type=event.name,
                    attempt=attempt,
                    error=error,
                )
                if attempt < self.policy.attempts:
                    await self._sleep(self.policy.delay(attempt))
                continue
            await self._processed.complete(handler.name, event.event_id)
            self._record(handler, Outcome.DONE, time.perf_counter() - started)
            return Result(Outcome.DONE, attempt)
        log.error(
            "event handler gave up: dead-lettered",
            handler=handler.name,
            event_id=event.event_id,
            event_type=event.name,
            attempts=self.policy.attempts,
            error=error,
        )
        self._record(handler, Outcome.DEAD, 0.0)
        return Result(Outcome.DEAD, self.policy.attempts, error)

    def _record(self, handler: Handler, outcome: str, seconds: float) -> None:
        if self._observe is not None:
            self._observe(handler.name, str(outcome), seconds)
