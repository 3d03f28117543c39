"""One upstream service: its shared HTTP client and the resilience around every call.

A call goes: the circuit breaker (refused while open), the bulkhead (a slot, or refused
after a bounded wait), the request under the attempt timeout; a connection failure, a
timeout or a 5xx is a failure for the breaker and, for an idempotent call only, is
retried with exponential backoff and jitter while the call's deadline allows. A call
that is not idempotent (POST, PATCH, unless the caller says otherwise) is sent once:
the upstream may have acted on it before failing to answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from domain.errors import UpstreamTimeoutError, UpstreamUnavailableError
from upstreams.breaker import BreakerOpenError, BreakerState, CircuitBreaker
from upstreams.bulkhead import Bulkhead, BulkheadFullError

# RFC 9110, section 9.2.2: repeating these requests has the effect of sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class UpstreamPolicy:
    """How one upstream is called (the settings' values; see UpstreamSettings)."""

    timeout_seconds: float = 1.0
    deadline_seconds: float = 3.0
    retries: int = 2
    backoff_seconds: float = 0.05
    backoff_max_seconds: float = 0.5
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0
    bulkhead_size: int = 20
    bulkhead_wait_seconds: float = 0.05


class UpstreamObserver(Protocol):
    """Told what every call did (the gateway's metrics implement it)."""

    def upstream_call(self, upstream: str, outcome: str, seconds: float) -> None:
        """One attempt: `ok`, `error` (connection or 5xx), `timeout`, `open`, `full`."""

    def upstream_retry(self, upstream: str) -> None: ...

    def upstream_state(self, upstream: str, state: str) -> None: ...

    def upstream_in_flight(self, upstream: str, in_flight: int) -> None: ...


class Unobserved:
    """An observer that records nothing (a client made without metrics, as in tests)."""

    def upstream_call(self, upstream: str, outcome: str, seconds: float) -> None:
        return None

    def upstream_retry(self, upstream: str) -> None:
        return None

    def upstream_state(self, upstream: str, state: str) -> None:
        return None

    def upstream_in_flight(self, upstream: str, in_flight: int) -> None:
        return None


class _AttemptFailedError(Exception):
    """One attempt failed in a way a repeat may mend (connection, timeout, 5xx)."""

    def __init__(self, reason: str, *, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.timed_out = reason, timed_out


class Upstream:
    """One upstream: a shared `httpx.AsyncClient` (its `base_url` set), its breaker and
    bulkhead. `request` raises UpstreamUnavailableError or UpstreamTimeoutError."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        policy: UpstreamPolicy,
        *,
        observer: UpstreamObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name, self.client, self.policy = name, client, policy
        self._observer: UpstreamObserver = observer or Unobserved()
        self._clock, self._sleep = clock, sleep
        self.breaker = CircuitBreaker(
            policy.breaker_failures,
            policy.breaker_reset_seconds,
            clock=clock,
            on_change=lambda state: self._observer.upstream_state(name, state.value),
        )
        self.bulkhead = Bulkhead(
            policy.bulkhead_size,
            policy.bulkhead_wait_seconds,
            on_change=lambda n: self._observer.upstream_in_flight(name, n),
        )
        self._observer.upstream_state(name, BreakerState.CLOSED.value)

    @property
    def state(self) -> BreakerState:
        return self.breaker.state

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The upstream's answer, any status below 500 (the adapter reads it).

        `idempotent` defaults to what the method says (RFC 9110); only an idempotent
        call is retried. Raises UpstreamUnavailableError (breaker open, bulkhead full,
        connection failed or 5xx after the retries) or UpstreamTimeoutError.
        """
        repeatable = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        policy = self.policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(1 + (policy.retries if repeatable else 0)),
            wait=wait_exponential_jitter(
                multiplier=policy.backoff_seconds,
                max=policy.backoff_max_seconds,
                jitter=policy.backoff_seconds,
            ),
            retry=retry_if_exception_type(_AttemptFailedError),
            sleep=self._sleep,
            before_sleep=self._retrying,
            reraise=True,
        )
        try:
            async with asyncio.timeout(policy.deadline_seconds):
                async for attempt in retrying:
                    with attempt:
                        return await self._attempt(method, path, params, json)
        except TimeoutError:  # the call's deadline, retries and backoff included
            raise UpstreamTimeoutError(self.name) from None
        except _AttemptFailedError as failure:
            if failure.timed_out:
                raise UpstreamTimeoutError(self.name) from None
            raise UpstreamUnavailableError(self.name, failure.reason) from None
        raise AssertionError("tenacity ends with an answer or an error")  # pragma: no cover

    def _retrying(self, _state: RetryCallState) -> None:
        self._observer.upstream_retry(self.name)

    async def _attempt(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> httpx.Response:
        try:
            trial = self.breaker.admit()
        except BreakerOpenError as refused:
            self._observer.upstream_call(self.name, "open", 0.0)
            raise UpstreamUnavailableError(
                self.name, "circuit open", retry_after=refused.retry_after
            ) from None
        settled = False
        try:
            async with self.bulkhead.slot():
                started = self._clock()
                outcome, failure, response = await self._send(method, path, params, body)
                self._observer.upstream_call(self.name, outcome, self._clock() - started)
                if failure is None:
                    self.breaker.succeeded(trial)
                    settled = True
                    assert response is not None
                    return response
                self.breaker.failed(trial)
                settled = True
                raise failure
        except BulkheadFullError:
            self._observer.upstream_call(self.name, "full", 0.0)
            raise UpstreamUnavailableError(self.name, "too many calls in flight") from None
        finally:
            if not settled:
                self.breaker.abandoned(trial)

    async def _send(
        self, method: str, path: str, params: Mapping[str, str] | None, body: Any
    ) -> tuple[str, _AttemptFailedError | None, httpx.Response | None]:
        try:
            async with asyncio.timeout(self.policy.timeout_seconds):
                response = await self.client.request(method, path, params=params, json=body)
        except (TimeoutError, httpx.TimeoutException):
            return "timeout", _AttemptFailedError("timed out", timed_out=True), None
        except httpx.TransportError as error:  # refused, reset, protocol errors
            return "error", _AttemptFailedError(f"connection failed ({type(error).__name__})"), None
        if response.status_code >= 500:
            return "error", _AttemptFailedError(f"answered {response.status_code}"), None
        return "ok", None, response
