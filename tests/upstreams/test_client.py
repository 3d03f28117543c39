"""One upstream's resilience, against the example service on a real loopback socket.

The breaker runs on a clock the test moves and the retries' backoff on a sleep the test
records, so nothing waits on real time except requests the test holds in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from domain.errors import DomainError, UpstreamTimeoutError, UpstreamUnavailableError
from domain.upstreams import UpstreamKind
from schema.exchange_rates import RATES
from tests.gateway.realtime.helpers import eventually
from tests.helpers import free_port
from tests.upstreams.running import running
from upstreams.breaker import BreakerState
from upstreams.client import Upstream, UpstreamPolicy
from upstreams.exchange_rates.service import Behaviour, ExchangeRateService
from upstreams.sources import Configured, SourceFetcher

# Generous per-call bounds: the tests that want a timeout set their own.
POLICY = UpstreamPolicy(
    timeout_seconds=30,
    deadline_seconds=60,
    retries=0,
    backoff_seconds=0.1,
    backoff_max_seconds=1.0,
    breaker_failures=3,
    breaker_reset_seconds=30,
    bulkhead_size=10,
    bulkhead_wait_seconds=30,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """The observer: every attempt's outcome, retries and states, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.retries = 0
        self.states: list[str] = []

    def upstream_call(self, upstream: str, outcome: str, seconds: float) -> None:
        self.calls.append(outcome)

    def upstream_retry(self, upstream: str) -> None:
        self.retries += 1

    def upstream_state(self, upstream: str, state: str) -> None:
        self.states.append(state)

    def upstream_in_flight(self, upstream: str, in_flight: int) -> None:
        return None


@dataclasses.dataclass
class Harness:
    service: ExchangeRateService
    url: str
    clock: Clock
    sleeps: list[float]
    recorder: Recorder

    def upstream(self, client: httpx.AsyncClient, **policy: Any) -> Upstream:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return Upstream(
            "rates",
            client,
            dataclasses.replace(POLICY, **policy),
            observer=self.recorder,
            clock=self.clock,
            sleep=sleep,
        )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    service = ExchangeRateService(Behaviour())
    async with running(service) as url:
        yield Harness(service, url, Clock(), [], Recorder())


@pytest.fixture
async def client(harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    # httpx's own pool (100) is wider than any bulkhead here: the bulkhead is what bounds.
    async with httpx.AsyncClient(base_url=harness.url, trust_env=False) as http:
        yield http


def described(error: DomainError) -> tuple[str, str, object]:
    return (type(error).__name__, str(error), getattr(error, "retry_after", None))


async def test_rates_come_from_the_service_in_one_request(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    fetcher = SourceFetcher(
        {"exchange_rates": Configured(harness.upstream(client), UpstreamKind.HTTP)}
    )
    found = await fetcher.fetch(RATES, [("USD", "EUR"), ("EUR", "GBP"), ("USD", "XXX")])
    assert (found, list(harness.service.stats.queries)) == (
        {("USD", "EUR"): Decimal("0.920000"), ("EUR", "GBP"): Decimal("0.858696")},
        ["pairs=USD%3AEUR%2CEUR%3AGBP%2CUSD%3AXXX"],
    )


async def test_the_breaker_opens_after_the_stated_failures_then_half_opens_and_closes(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    harness.service.behaviour.fail_status = 503
    upstream = harness.upstream(client)
    failures = []
    for _ in range(3):
        with pytest.raises(UpstreamUnavailableError) as failed:
            await upstream.request("GET", "/rates")
        failures.append(described(failed.value))
    assert (
        failures
        == [("UpstreamUnavailableError", "the upstream rates is unavailable: answered 503", 5)] * 3
    )
    assert (upstream.state, harness.service.stats.requests) == (BreakerState.OPEN, 3)

    # Open: refused without reaching the service, until the reset time has passed.
    harness.clock.now += 29.0
    with pytest.raises(UpstreamUnavailableError) as refused:
        await upstream.request("GET", "/rates")
    assert described(refused.value) == (
        "UpstreamUnavailableError",
        "the upstream rates is unavailable: circuit open",
        1,
    )
    assert harness.service.stats.requests == 3

    # Half-open: one trial; the service has recovered, so it closes.
    harness.clock.now += 1.0
    harness.service.behaviour.fail_status = None
    assert upstream.state is BreakerState.HALF_OPEN
    response = await upstream.request("GET", "/rates", params={"pairs": "USD:EUR"})
    assert (response.json(), upstream.state, harness.service.stats.requests) == (
        {"rates": {"USD:EUR": "0.920000"}},
        BreakerState.CLOSED,
        4,
    )
    assert (harness.recorder.calls, harness.recorder.states) == (
        ["error", "error", "error", "open", "ok"],
        ["closed", "open", "half_open", "closed"],
    )


async def test_a_retry_never_repeats_a_non_idempotent_call(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    harness.service.behaviour.fail_status = 503
    upstream = harness.upstream(client, retries=3, breaker_failures=100)
    with pytest.raises(UpstreamUnavailableError):
        await upstream.request("POST", "/orders", json={"pair": "USD:EUR"})
    assert (harness.service.stats.requests, harness.sleeps, harness.recorder.retries) == (1, [], 0)

    # The same failure on an idempotent call is tried 1 + 3 times, with growing waits.
    with pytest.raises(UpstreamUnavailableError):
        await upstream.request("GET", "/rates")
    assert (harness.service.stats.requests, harness.recorder.retries) == (5, 3)
    # 0.1 s * 2**n plus a jitter below 0.1 s (`backoff_seconds`), never past the maximum.
    bands = [(0.1 * 2**n, 0.1 * 2**n + 0.1) for n in range(3)]
    assert [low <= s <= high for s, (low, high) in zip(harness.sleeps, bands, strict=True)] == [
        True
    ] * 3

    # A POST the caller declares idempotent (a GraphQL query) is retried.
    with pytest.raises(UpstreamUnavailableError):
        await upstream.request("POST", "/orders", idempotent=True)
    assert harness.service.stats.requests == 9


async def test_a_non_idempotent_call_that_timed_out_is_not_sent_again(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    harness.service.behaviour.gate = asyncio.Event()  # never answers until the end
    upstream = harness.upstream(client, retries=3, timeout_seconds=0.2)
    with pytest.raises(UpstreamTimeoutError) as timed_out:
        await upstream.request("POST", "/orders")
    assert described(timed_out.value) == (
        "UpstreamTimeoutError",
        "the upstream rates took too long",
        None,
    )
    assert (harness.service.stats.requests, harness.recorder.calls) == (1, ["timeout"])


async def test_a_slow_idempotent_call_is_retried_then_answered_upstream_timeout(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    harness.service.behaviour.gate = asyncio.Event()
    upstream = harness.upstream(client, retries=1, timeout_seconds=0.2)
    with pytest.raises(UpstreamTimeoutError):
        await upstream.request("GET", "/rates")
    await eventually(lambda: harness.service.stats.requests == 2)
    assert harness.recorder.calls == ["timeout", "timeout"]


async def test_the_deadline_bounds_the_whole_call_with_its_retries(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    harness.service.behaviour.gate = asyncio.Event()
    upstream = harness.upstream(client, retries=10, timeout_seconds=0.3, deadline_seconds=0.5)
    with pytest.raises(UpstreamTimeoutError):
        await upstream.request("GET", "/rates")
    # The second attempt was cut by the deadline, not by its own timeout: no third one.
    assert harness.service.stats.requests <= 2


async def test_a_refused_connection_is_upstream_unavailable_after_the_retries(
    harness: Harness,
) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as nowhere:
        upstream = harness.upstream(nowhere, retries=2)
        with pytest.raises(UpstreamUnavailableError) as refused:
            await upstream.request("GET", "/rates")
    assert (described(refused.value), harness.recorder.calls, harness.recorder.retries) == (
        (
            "UpstreamUnavailableError",
            "the upstream rates is unavailable: connection failed (ConnectError)",
            5,
        ),
        ["error", "error", "error"],
        2,
    )


async def test_the_bulkhead_bounds_the_calls_in_flight_at_the_upstream(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    gate = harness.service.behaviour.gate = asyncio.Event()
    upstream = harness.upstream(client, bulkhead_size=3)
    calls = [asyncio.create_task(upstream.request("GET", "/rates")) for _ in range(10)]
    await eventually(lambda: harness.service.stats.in_flight == 3)
    await asyncio.sleep(0.2)  # room for a fourth to arrive, were the bound broken
    assert (harness.service.stats.in_flight, upstream.bulkhead.in_flight) == (3, 3)
    gate.set()
    answers = await asyncio.gather(*calls)
    assert [a.status_code for a in answers] == [200] * 10
    assert (harness.service.stats.max_in_flight, harness.service.stats.requests) == (3, 10)


async def test_a_full_bulkhead_refuses_after_its_wait_without_calling(
    harness: Harness, client: httpx.AsyncClient
) -> None:
    gate = harness.service.behaviour.gate = asyncio.Event()
    upstream = harness.upstream(client, bulkhead_size=1, bulkhead_wait_seconds=0.05)
    held = asyncio.create_task(upstream.request("GET", "/rates"))
    await eventually(lambda: harness.service.stats.in_flight == 1)
    with pytest.raises(UpstreamUnavailableError) as refused:
        await upstream.request("GET", "/rates")
    gate.set()
    await held
    assert (described(refused.value), harness.service.stats.requests, upstream.state) == (
        (
            "UpstreamUnavailableError",
            "the upstream rates is unavailable: too many calls in flight",
            5,
        ),
        1,
        BreakerState.CLOSED,  # our own limit says nothing of the upstream's health
    )
