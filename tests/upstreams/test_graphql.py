"""Another GraphQL endpoint as an upstream, against the example service's `/graphql` on
a real loopback socket: a query is retried like a GET, a mutation is sent once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from domain.errors import UpstreamUnavailableError
from domain.upstreams import UpstreamKind
from schema.exchange_rates import RATES
from tests.upstreams.running import running
from upstreams.client import Upstream, UpstreamPolicy
from upstreams.exchange_rates.service import ExchangeRateService
from upstreams.graphql import GraphQLUpstream, is_query
from upstreams.sources import Configured, SourceFetcher

POLICY = UpstreamPolicy(
    timeout_seconds=30, deadline_seconds=60, retries=2, backoff_seconds=0, breaker_failures=100
)


@pytest.fixture
async def service() -> AsyncIterator[ExchangeRateService]:
    served = ExchangeRateService()
    async with running(served) as url:
        served.app.state.url = url
        yield served


@pytest.fixture
async def upstream(service: ExchangeRateService) -> AsyncIterator[Upstream]:
    async with httpx.AsyncClient(base_url=service.app.state.url, trust_env=False) as client:
        yield Upstream("rates", client, POLICY)


@pytest.fixture
def endpoint(upstream: Upstream) -> GraphQLUpstream:
    return GraphQLUpstream(upstream)


async def test_rates_come_from_the_graphql_endpoint_in_one_request(
    service: ExchangeRateService, upstream: Upstream
) -> None:
    fetcher = SourceFetcher({"exchange_rates": Configured(upstream, UpstreamKind.GRAPHQL)})
    found = await fetcher.fetch(RATES, [("USD", "JPY"), ("GBP", "EUR"), ("USD", "XXX")])
    assert (found, service.stats.requests) == (
        {("USD", "JPY"): Decimal("151.200000"), ("GBP", "EUR"): Decimal("1.164557")},
        1,
    )


async def test_a_failing_query_is_retried_and_a_mutation_is_sent_once(
    service: ExchangeRateService, endpoint: GraphQLUpstream
) -> None:
    service.behaviour.fail_status = 503
    with pytest.raises(UpstreamUnavailableError):
        await endpoint.execute('{ rates(pairs: ["USD:EUR"]) { rate } }')
    after_query = service.stats.requests
    with pytest.raises(UpstreamUnavailableError):
        await endpoint.execute('mutation { placeOrder(pair: "USD:EUR") }')
    assert (after_query, service.stats.requests) == (3, 4)


async def test_an_answer_with_errors_and_no_data_is_upstream_unavailable(
    endpoint: GraphQLUpstream,
) -> None:
    with pytest.raises(UpstreamUnavailableError) as refused:
        await endpoint.execute("{ nothing }")
    assert str(refused.value) == (
        "the upstream rates is unavailable: answered errors: "
        "Cannot query field 'nothing' on type 'Query'."
    )


def test_only_a_document_of_queries_counts_as_idempotent() -> None:
    assert [
        is_query("{ a }"),
        is_query("query Q { a } query R { b }"),
        is_query("query Q { a } mutation M { b }"),
        is_query("subscription { a }"),
    ] == [True, True, False, False]
