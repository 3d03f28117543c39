"""Declared upstream fields, built by the composition root from `UPSTREAMS__<name>__*`: one
client per upstream a field names, each with its own timeout, retries (idempotent calls
only) and bulkhead, against example services on real loopback sockets; a map entry or a
field that cannot work stops start-up naming the variable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
import strawberry

from domain.errors import UpstreamTimeoutError, UpstreamUnavailableError
from domain.upstreams import GraphQLCall, HttpCall, Json, UpstreamSource
from gateway.container import upstream_sources
from gateway.settings import Settings, SettingsError, load_settings
from resolvers.context import Context
from schema import upstreams
from tests.gateway.realtime.helpers import eventually
from tests.upstreams.running import running
from upstreams.client import Upstream
from upstreams.exchange_rates.service import ExchangeRateService
from upstreams.sources import SourceFetcher

type Info = strawberry.Info[Context, None]


def _read_rates(body: Json, keys: Sequence[str]) -> Mapping[str, str]:
    rates: Any = body["rates"]  # type: ignore[index]  # a wrong shape is unreadable
    return {key: rates[key] for key in keys if key in rates}


def _read_order(body: Json, keys: Sequence[str]) -> Mapping[str, bool]:
    accepted: Any = body["accepted"]  # type: ignore[index]  # a wrong shape is unreadable
    return dict.fromkeys(keys, bool(accepted))


# Two upstreams, three sources: quotes by GET (idempotent), orders by POST (sent once),
# and a graphql-only source on the orders desk.
QUOTES: UpstreamSource[str, str] = UpstreamSource(
    upstream="quotes",
    name="quotes",
    http=HttpCall(path="/rates", params=lambda keys: {"pairs": ",".join(keys)}, read=_read_rates),
    max_batch=2,
)
ORDERS: UpstreamSource[str, bool] = UpstreamSource(
    upstream="orders_desk",
    name="orders",
    http=HttpCall(
        path="/orders", method="POST", body=lambda keys: {"pairs": list(keys)}, read=_read_order
    ),
)
DESK_RATES: UpstreamSource[str, str] = UpstreamSource(
    upstream="orders_desk",
    name="desk_rates",
    graphql=GraphQLCall(
        document="query($pairs: [String!]!) { rates(pairs: $pairs) { pair rate } }",
        variables=lambda keys: {"pairs": list(keys)},
        read=lambda data, keys: {},
    ),
)


async def _quote(info: Info, pair: str) -> str | None:
    return await upstreams.load(info, QUOTES, pair)


async def _order(info: Info, pair: str) -> bool | None:
    return await upstreams.load(info, ORDERS, pair)


async def _required(info: Info, pair: str) -> str:
    raise AssertionError("never run")


@strawberry.type
class Query:
    quote = upstreams.upstream_field(QUOTES, _quote, description="A quote.")
    order = upstreams.upstream_field(ORDERS, _order, description="An order.")


@strawberry.type
class WithGraphQL(Query):
    desk = upstreams.upstream_field(DESK_RATES, _quote, description="Desk rates.")


SCHEMA = strawberry.Schema(query=Query)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.states: dict[str, str] = {}

    def upstream_call(self, upstream: str, outcome: str, seconds: float) -> None:
        self.calls.append((upstream, outcome))

    def upstream_retry(self, upstream: str) -> None:
        return None

    def upstream_state(self, upstream: str, state: str) -> None:
        self.states[upstream] = state

    def upstream_in_flight(self, upstream: str, in_flight: int) -> None:
        return None


@pytest.fixture
async def services() -> AsyncIterator[tuple[tuple[ExchangeRateService, str], ...]]:
    quotes, desk = ExchangeRateService(), ExchangeRateService()
    async with running(quotes) as quotes_url, running(desk) as desk_url:
        yield (quotes, quotes_url), (desk, desk_url)


def entry(url: str, **values: Any) -> dict[str, Any]:
    # Generous bounds and no backoff unless a test says otherwise.
    return {
        "url": url,
        "timeout_seconds": 5,
        "deadline_seconds": 8,
        "backoff_seconds": 0,
        "backoff_max_seconds": 0,
        "breaker_failures": 100,
        **values,
    }


def settings_for(quotes: dict[str, Any], desk: dict[str, Any]) -> Settings:
    return load_settings(upstreams={"quotes": quotes, "orders_desk": desk})


@asynccontextmanager
async def sources(
    settings: Settings, recorder: Recorder
) -> AsyncIterator[tuple[SourceFetcher, Mapping[str, Upstream]]]:
    """The fetcher and clients the composition root makes for SCHEMA; clients closed after."""
    fetcher, clients = upstream_sources(settings, SCHEMA, recorder)
    try:
        yield fetcher, clients
    finally:
        for client in clients.values():
            await client.client.aclose()


async def test_each_declared_upstream_gets_its_own_client_and_settings(
    services: tuple[tuple[ExchangeRateService, str], ...],
) -> None:
    (quotes, quotes_url), (desk, desk_url) = services
    recorder = Recorder()
    async with sources(
        settings_for(entry(quotes_url, retries=3), entry(desk_url, retries=1, bulkhead_size=4)),
        recorder,
    ) as (fetcher, clients):
        found = await fetcher.fetch(QUOTES, ["USD:EUR", "USD:GBP", "USD:XXX"])
        ordered = await fetcher.fetch(ORDERS, ["USD:EUR"])
        assert (found, ordered) == (
            {"USD:EUR": "0.920000", "USD:GBP": "0.790000"},
            {"USD:EUR": True},
        )
        assert {
            name: (str(c.client.base_url), c.policy.retries) for name, c in clients.items()
        } == {
            "orders_desk": (f"{desk_url}", 1),
            "quotes": (f"{quotes_url}", 3),
        }
        # Two calls for three keys (max_batch 2), to the quotes service only.
        assert (list(quotes.stats.queries), desk.stats.requests) == (
            ["pairs=USD%3AEUR%2CUSD%3AGBP", "pairs=USD%3AXXX"],
            1,
        )
        # Metrics and readiness see every declared upstream's breaker.
        assert recorder.states == {"orders_desk": "closed", "quotes": "closed"}


async def test_retries_follow_each_upstreams_setting_and_never_repeat_a_post(
    services: tuple[tuple[ExchangeRateService, str], ...],
) -> None:
    (quotes, quotes_url), (desk, desk_url) = services
    quotes.behaviour.fail_status = desk.behaviour.fail_status = 503
    async with sources(
        settings_for(entry(quotes_url, retries=3), entry(desk_url, retries=2)), Recorder()
    ) as (fetcher, _clients):
        with pytest.raises(UpstreamUnavailableError) as quote_failed:
            await fetcher.fetch(QUOTES, ["USD:EUR"])
        with pytest.raises(UpstreamUnavailableError) as order_failed:
            await fetcher.fetch(ORDERS, ["USD:EUR"])
    assert (str(quote_failed.value), str(order_failed.value)) == (
        "the upstream quotes is unavailable: answered 503",
        "the upstream orders_desk is unavailable: answered 503",
    )
    # The GET: 1 + UPSTREAMS__QUOTES__RETRIES attempts; the POST: once, whatever
    # UPSTREAMS__ORDERS_DESK__RETRIES says.
    assert (quotes.stats.requests, desk.stats.requests) == (4, 1)


async def test_a_slow_upstream_times_out_by_its_own_timeout_and_the_other_answers(
    services: tuple[tuple[ExchangeRateService, str], ...],
) -> None:
    (quotes, quotes_url), (_, desk_url) = services
    quotes.behaviour.gate = asyncio.Event()  # answers only when the test ends
    async with sources(
        settings_for(
            entry(quotes_url, timeout_seconds=0.2, deadline_seconds=2, retries=1),
            entry(desk_url),
        ),
        Recorder(),
    ) as (fetcher, _clients):
        with pytest.raises(UpstreamTimeoutError) as slow:
            await fetcher.fetch(QUOTES, ["USD:EUR"])
        ordered = await fetcher.fetch(ORDERS, ["USD:EUR"])
    # Each attempt gave up after 0.2 s (the deadline, 2 s, was not what fired): two
    # attempts reached the service; the other upstream answered.
    assert (str(slow.value), quotes.stats.requests, ordered) == (
        "the upstream quotes took too long",
        2,
        {"USD:EUR": True},
    )


async def test_the_bulkhead_bounds_calls_in_flight_per_upstream(
    services: tuple[tuple[ExchangeRateService, str], ...],
) -> None:
    (quotes, quotes_url), (_, desk_url) = services
    gate = quotes.behaviour.gate = asyncio.Event()
    async with sources(
        settings_for(
            entry(quotes_url, retries=0, bulkhead_size=3, bulkhead_wait_seconds=5),
            entry(desk_url),
        ),
        Recorder(),
    ) as (fetcher, _clients):
        calls = [
            asyncio.create_task(fetcher.fetch(QUOTES, [f"USD:{code}"]))
            for code in ("EUR", "GBP", "CHF", "JPY", "CAD", "USD", "EUR")
        ]
        await eventually(lambda: quotes.stats.in_flight == 3)
        held = quotes.stats.requests
        gate.set()
        answers = await asyncio.gather(*calls)
    # Seven calls, three at a time: the others waited for a slot, then all answered.
    assert (held, quotes.stats.max_in_flight, quotes.stats.requests, len(answers)) == (3, 3, 7, 7)


def test_an_entry_no_declared_field_names_is_refused_naming_its_variable() -> None:
    settings = load_settings(
        upstreams={"quotes": {"url": "http://q"}, "quotse": {"url": "http://q"}}
    )
    with pytest.raises(SettingsError) as refused:
        upstream_sources(settings, SCHEMA, Recorder())
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__QUOTSE: no declared field is backed by an upstream "
        "quotse (declared: orders_desk, quotes)"
    )


def test_an_upstream_without_a_url_or_an_example_is_refused_naming_its_variable() -> None:
    settings = load_settings(upstreams={"orders_desk": {"url": "http://desk"}})
    with pytest.raises(SettingsError) as refused:
        upstream_sources(settings, SCHEMA, Recorder())
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__QUOTES__URL is required: Query.quote asks the upstream quotes"
    )


def test_a_kind_the_sources_do_not_offer_is_refused_naming_its_variable() -> None:
    schema = strawberry.Schema(query=WithGraphQL)
    settings = load_settings(
        upstreams={"quotes": {"url": "http://q"}, "orders_desk": {"url": "http://desk"}}
    )
    with pytest.raises(SettingsError) as refused:
        upstream_sources(settings, schema, Recorder())
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__ORDERS_DESK__KIND: the sources of WithGraphQL.desk, "
        "WithGraphQL.order have no kind in common"
    )
    settings = load_settings(
        upstreams={
            "quotes": {"url": "http://q"},
            "orders_desk": {"url": "http://desk", "kind": "graphql"},
        }
    )
    with pytest.raises(SettingsError) as refused:
        upstream_sources(settings, schema, Recorder())
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__ORDERS_DESK__KIND: graphql is not offered by the "
        "sources of WithGraphQL.order"
    )


def test_a_default_bound_past_the_operation_timeout_is_refused_naming_its_variable() -> None:
    settings = load_settings(
        graphql={"execution_timeout_seconds": 2},
        database={"statement_timeout_seconds": 1},
        upstreams={"orders_desk": {"url": "http://desk", "deadline_seconds": 1}},
    )
    with pytest.raises(SettingsError) as refused:
        upstream_sources(settings, SCHEMA, Recorder())
    assert str(refused.value) == (
        "invalid settings: UPSTREAMS__QUOTES__DEADLINE_SECONDS (3 s) must be below "
        "GRAPHQL__EXECUTION_TIMEOUT_SECONDS (2 s)"
    )


def test_a_declared_field_that_is_not_nullable_is_refused() -> None:
    @strawberry.type
    class Strict:
        quote = upstreams.upstream_field(QUOTES, _required, description="Never null.")

    with pytest.raises(ValueError, match=r"^Strict\.quote is backed by the upstream quotes: "):
        upstream_sources(Settings(), strawberry.Schema(query=Strict), Recorder())
