"""Upstream sources: what a schema field asks of another service, declared as data.

A source names its upstream (the `<name>` of the `UPSTREAMS__<name>__*` settings) and
how one batch of keys is asked of it: an HTTP/JSON call, a GraphQL document, or both
(the upstream's `KIND` setting then picks one). The composition root builds one client
per upstream any declared source names; each request batches a source's keys through
one dataloader, so a page of objects costs one call per batch, not one per object.

A call's functions are plain Python: `params`/`body`/`variables` turn a batch of keys
into the request, `read` turns the answer into a value per key it knows (a key left out
is null, not an error). A `read` that raises KeyError, TypeError, ValueError or an
ArithmeticError (a decimal that does not parse) makes the answer unreadable:
`UpstreamUnavailableError`, as a failed call.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

# What `json.loads` returns: dicts, lists, strings, numbers, booleans and None.
type Json = object

# Upstream names are settings keys: `UPSTREAMS__<name>__URL` splits at `__`.
UPSTREAM_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class UpstreamKind(enum.StrEnum):
    HTTP = "http"
    GRAPHQL = "graphql"


@dataclass(frozen=True, slots=True)
class HttpCall[K, V]:
    """`method path` with the batch's `params` (query string) and `body` (JSON); the
    answer must be 2xx JSON. Retried only when idempotent: by default as the method says
    (RFC 9110: GET, HEAD, OPTIONS, PUT, DELETE), or as `idempotent` says."""

    path: str
    read: Callable[[Json, Sequence[K]], Mapping[K, V]]
    method: str = "GET"
    params: Callable[[Sequence[K]], Mapping[str, str]] | None = None
    body: Callable[[Sequence[K]], Json] | None = None
    idempotent: bool | None = None


@dataclass(frozen=True, slots=True)
class GraphQLCall[K, V]:
    """One GraphQL document with the batch's `variables`; `read` gets the answer's
    `data`. Retried only when every operation in it is a query."""

    document: str
    variables: Callable[[Sequence[K]], Mapping[str, Json]]
    read: Callable[[Mapping[str, Json], Sequence[K]], Mapping[K, V]]


@dataclass(frozen=True, slots=True)
class UpstreamSource[K, V]:
    """What one upstream answers by key (a rate by currency pair, an estimate by order).

    `name` names its dataloader in metrics and spans (unique among sources); at most
    `max_batch` keys go in one call (a bounded query string or body). Raises ValueError
    for a source that cannot work.
    """

    upstream: str
    name: str
    http: HttpCall[K, V] | None = None
    graphql: GraphQLCall[K, V] | None = None
    max_batch: int = 100

    def __post_init__(self) -> None:
        if not UPSTREAM_NAME.match(self.upstream):
            raise ValueError(
                f"upstream name {self.upstream!r}: lower-case words joined by single "
                "underscores (it is the <name> of UPSTREAMS__<name>__*)"
            )
        if self.http is None and self.graphql is None:
            raise ValueError(f"source {self.name}: declare an http call, a graphql call or both")
        if self.max_batch < 1:
            raise ValueError(f"source {self.name}: max_batch must be at least 1")

    @property
    def kinds(self) -> frozenset[UpstreamKind]:
        """The kinds of upstream this source can ask."""
        kinds = {UpstreamKind.HTTP} if self.http is not None else set()
        return frozenset(kinds | ({UpstreamKind.GRAPHQL} if self.graphql is not None else set()))


class UpstreamFetcher(Protocol):
    """Asks declared sources of their upstreams (the gateway's clients implement it)."""

    async def fetch[K, V](self, source: UpstreamSource[K, V], keys: Sequence[K]) -> Mapping[K, V]:
        """The value of each key the upstream knows, in as few calls as `max_batch` allows.

        Raises UpstreamUnavailableError (also for an answer `read` cannot read, and for
        an upstream without a client) or UpstreamTimeoutError.
        """
        ...
