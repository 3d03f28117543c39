"""The upstream services behind declared fields: one client per upstream a field names.

The schema's declared fields (`schema.upstreams.declared_fields`) say which upstreams
exist; `UPSTREAMS__<name>__*` (or the defaults) says how each is called. Everything is
checked before a client is made, and a refusal names the variable in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import httpx
import strawberry
from starlette.types import ASGIApp

from domain.upstreams import UpstreamKind
from gateway.settings import Settings, SettingsError, UpstreamSettings, upstream_problem
from schema.upstreams import DeclaredField, declared_fields
from upstreams.client import Upstream, UpstreamObserver, UpstreamPolicy
from upstreams.exchange_rates.service import ExchangeRateService
from upstreams.graphql import is_query
from upstreams.sources import Configured, SourceFetcher

# Upstreams that ship an example service, served in process when their URL is unset
# (requests never leave the process; the host is only a name).
EMBEDDED_UPSTREAMS: dict[str, Callable[[], ASGIApp]] = {
    "exchange_rates": lambda: ExchangeRateService().app,
}


def upstream_policy(settings: UpstreamSettings) -> UpstreamPolicy:
    return UpstreamPolicy(
        timeout_seconds=settings.timeout_seconds,
        deadline_seconds=settings.deadline_seconds,
        retries=settings.retries,
        backoff_seconds=settings.backoff_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        breaker_failures=settings.breaker_failures,
        breaker_reset_seconds=settings.breaker_reset_seconds,
        bulkhead_size=settings.bulkhead_size,
        bulkhead_wait_seconds=settings.bulkhead_wait_seconds,
    )


def upstream_client(name: str, settings: UpstreamSettings) -> httpx.AsyncClient:
    """The shared client of the upstream `name`: at UPSTREAMS__<name>__URL, or its
    example served in process (`EMBEDDED_UPSTREAMS`; the caller checked there is one).

    Its pool holds as many connections as the bulkhead lets calls through. `trust_env`
    is off: proxies come from settings, not from whatever HTTP_PROXY the process inherited.
    """
    size = settings.bulkhead_size
    if settings.url:
        return httpx.AsyncClient(
            base_url=settings.url,
            timeout=settings.timeout_seconds,
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            trust_env=False,
        )
    return httpx.AsyncClient(
        base_url=f"http://{name.replace('_', '-')}.embedded",
        transport=httpx.ASGITransport(app=EMBEDDED_UPSTREAMS[name]()),
        trust_env=False,
    )


def _kind(name: str, settings: UpstreamSettings, fields: Sequence[DeclaredField]) -> UpstreamKind:
    """The kind the upstream is asked in: its setting, or what every source offers."""
    offered = frozenset.intersection(*(f.source.kinds for f in fields))
    wanted = UpstreamKind(settings.kind) if settings.kind is not None else None
    if wanted is None:
        wanted = UpstreamKind.HTTP if UpstreamKind.HTTP in offered else next(iter(offered), None)
    variable = f"UPSTREAMS__{name.upper()}__KIND"
    if wanted is None:
        every = ", ".join(sorted(f.coordinate for f in fields))
        raise SettingsError(
            f"invalid settings: {variable}: the sources of {every} have no kind in common"
        )
    if wanted not in offered:
        lacking = ", ".join(sorted(f.coordinate for f in fields if wanted not in f.source.kinds))
        raise SettingsError(
            f"invalid settings: {variable}: {wanted} is not offered by the sources of {lacking}"
        )
    return wanted


def upstream_sources(
    settings: Settings, schema: strawberry.Schema, observer: UpstreamObserver
) -> tuple[SourceFetcher, dict[str, Upstream]]:
    """One client per upstream a declared field names (`UPSTREAMS__<name>__*`, or the
    defaults), and the fetcher asking them. Raises SettingsError for an entry no field
    names, a missing URL, a kind the sources do not offer or bounds past the operation's;
    ValueError for a field that cannot work (not nullable, a GraphQL document that does
    not parse)."""
    fields = declared_fields(schema._schema)
    by_upstream: dict[str, list[DeclaredField]] = {}
    for declared in fields:
        by_upstream.setdefault(declared.source.upstream, []).append(declared)
        if declared.source.graphql is not None:
            is_query(declared.source.graphql.document)  # raises ValueError at start-up
    for name in sorted(settings.upstreams):
        if name not in by_upstream:
            known = ", ".join(sorted(by_upstream)) or "none"
            raise SettingsError(
                f"invalid settings: UPSTREAMS__{name.upper()}: no declared field is backed "
                f"by an upstream {name} (declared: {known})"
            )
    limit = settings.graphql.execution_timeout_seconds
    planned: list[tuple[str, UpstreamSettings, UpstreamKind]] = []
    for name, declared_here in sorted(by_upstream.items()):
        config = settings.upstream(name)
        problem = upstream_problem(name, config, limit)
        if problem is not None:
            raise SettingsError(f"invalid settings: {problem}")
        if not config.url and name not in EMBEDDED_UPSTREAMS:
            raise SettingsError(
                f"invalid settings: UPSTREAMS__{name.upper()}__URL is required: "
                f"{', '.join(f.coordinate for f in declared_here)} asks the upstream {name}"
            )
        planned.append((name, config, _kind(name, config, declared_here)))
    # Clients only once everything is checked: none is left unclosed by a refusal.
    clients: dict[str, Upstream] = {}
    configured: dict[str, Configured] = {}
    for name, config, kind in planned:
        upstream = Upstream(
            name, upstream_client(name, config), upstream_policy(config), observer=observer
        )
        clients[name] = upstream
        configured[name] = Configured(upstream, kind, config.graphql_path)
    return SourceFetcher(configured), clients
