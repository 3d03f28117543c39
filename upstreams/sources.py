"""Declared upstream sources (`domain.upstreams`) asked through their upstreams' clients.

The fetcher holds one `Upstream` per configured upstream (built by the composition root
from `UPSTREAMS__<name>__*`) and the kind each one speaks; a source's batch of keys
becomes its HTTP call or its GraphQL document on that upstream, under the upstream's
timeout, retries (idempotent calls only), breaker and bulkhead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from domain.errors import UpstreamUnavailableError
from domain.upstreams import GraphQLCall, HttpCall, UpstreamKind, UpstreamSource
from upstreams.client import Upstream
from upstreams.graphql import GraphQLUpstream

# What a source's `read` may raise on an answer of the wrong shape.
_UNREADABLE = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError)


@dataclass(frozen=True, slots=True)
class Configured:
    """One upstream's client and how it is spoken to."""

    upstream: Upstream
    kind: UpstreamKind
    graphql_path: str = "/graphql"


class SourceFetcher:
    """The domain's `UpstreamFetcher` over the configured upstreams, by name."""

    def __init__(self, upstreams: Mapping[str, Configured]) -> None:
        self._upstreams = dict(upstreams)

    async def fetch[K, V](self, source: UpstreamSource[K, V], keys: Sequence[K]) -> Mapping[K, V]:
        """Raises UpstreamUnavailableError or UpstreamTimeoutError."""
        configured = self._upstreams.get(source.upstream)
        if configured is None:
            raise UpstreamUnavailableError(source.upstream, "not configured")
        found: dict[K, V] = {}
        for start in range(0, len(keys), source.max_batch):
            batch = keys[start : start + source.max_batch]
            if configured.kind is UpstreamKind.GRAPHQL:
                assert source.graphql is not None  # the composition root checked the kinds
                found.update(await _graphql(configured, source.graphql, batch))
            else:
                assert source.http is not None
                found.update(await _http(configured.upstream, source.http, batch))
        return found


async def _http[K, V](
    upstream: Upstream, call: HttpCall[K, V], batch: Sequence[K]
) -> Mapping[K, V]:
    response = await upstream.request(
        call.method,
        call.path,
        params=call.params(batch) if call.params is not None else None,
        json=call.body(batch) if call.body is not None else None,
        idempotent=call.idempotent,
    )
    try:
        if not 200 <= response.status_code < 300:
            raise ValueError(f"answered {response.status_code}")
        return call.read(response.json(), batch)
    except _UNREADABLE as error:
        raise UpstreamUnavailableError(upstream.name, f"unreadable answer ({error})") from None


async def _graphql[K, V](
    configured: Configured, call: GraphQLCall[K, V], batch: Sequence[K]
) -> Mapping[K, V]:
    endpoint = GraphQLUpstream(configured.upstream, configured.graphql_path)
    data = await endpoint.execute(call.document, call.variables(batch))
    try:
        return call.read(data, batch)
    except _UNREADABLE as error:
        raise UpstreamUnavailableError(
            configured.upstream.name, f"unreadable answer ({error})"
        ) from None
