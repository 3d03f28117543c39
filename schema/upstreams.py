"""Fields backed by an upstream service, declared on a Strawberry type.

A source (`domain.upstreams.UpstreamSource`) says which upstream answers and how a batch
of keys is asked; `upstream_field` puts a field on a type that reads it:

    RATES = UpstreamSource(upstream="exchange_rates", name="exchange_rates", http=...)

    async def _price_in(root: strawberry.Parent[Priced], info: Info, currency: str) -> Money | None:
        rate = await upstreams.load(info, RATES, (root.price.currency, currency))
        ...

    class Item(Node):
        price_in = upstreams.upstream_field(RATES, _price_in, description="...")

Every key a request asks of one source goes to its upstream in one batched call (a
per-request dataloader). The field must be nullable: when the upstream fails, that
field is null with `UPSTREAM_UNAVAILABLE` or `UPSTREAM_TIMEOUT` and the rest of the
response stands. The composition root finds every declared field (`declared_fields`)
and builds one client per upstream they name, from `UPSTREAMS__<name>__*`; metrics and
`/health/ready` report each one's circuit breaker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLInterfaceType, GraphQLNonNull, GraphQLObjectType, GraphQLSchema

from domain.upstreams import UpstreamSource
from resolvers import upstreams as upstream_resolvers
from resolvers.context import Context

# The key of a field's source in `strawberry.field(metadata=...)`.
UPSTREAM_SOURCE = "upstream-source"


def upstream_field(
    source: UpstreamSource[Any, Any],
    resolver: Callable[..., Any],
    *,
    description: str,
    name: str | None = None,
) -> Any:
    """A field on a Strawberry type answered by `resolver`, which asks `source` through
    `load`; the resolver's return type must be nullable (checked at start-up)."""
    return strawberry.field(
        resolver=resolver, description=description, name=name, metadata={UPSTREAM_SOURCE: source}
    )


async def load[K, V](
    info: strawberry.Info[Context, None], source: UpstreamSource[K, V], key: K
) -> V | None:
    """`source`'s value for `key` (None when the upstream does not know it), batched with
    the request's other keys. Raises UpstreamUnavailableError, UpstreamTimeoutError."""
    return await upstream_resolvers.load(info.context, source, key)


@dataclass(frozen=True, slots=True)
class DeclaredField:
    """A field backed by an upstream: `Type.field` and its source."""

    coordinate: str
    source: UpstreamSource[Any, Any]


def declared_fields(schema: GraphQLSchema) -> list[DeclaredField]:
    """Every field of `schema` declared with `upstream_field`, by coordinate. Raises
    ValueError for a field that is not nullable, or two sources sharing a name."""
    found: list[DeclaredField] = []
    names: dict[str, UpstreamSource[Any, Any]] = {}
    for type_name, graphql_type in sorted(schema.type_map.items()):
        if not isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in graphql_type.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            source = (getattr(definition, "metadata", None) or {}).get(UPSTREAM_SOURCE)
            if not isinstance(source, UpstreamSource):
                continue
            coordinate = f"{type_name}.{field_name}"
            if isinstance(field.type, GraphQLNonNull):
                raise ValueError(
                    f"{coordinate} is backed by the upstream {source.upstream}: its type must "
                    "be nullable (a failed call nulls that field only)"
                )
            if names.setdefault(source.name, source) is not source:
                raise ValueError(f"two upstream sources are named {source.name}")
            found.append(DeclaredField(coordinate, source))
    return found
