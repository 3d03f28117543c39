"""Fields backed by declared upstream sources: a key in, the upstream's value out."""

from __future__ import annotations

from domain.upstreams import UpstreamSource
from resolvers.context import Context


async def load[K, V](context: Context, source: UpstreamSource[K, V], key: K) -> V | None:
    """`source`'s value for `key`, batched with every other key of the request; None when
    the upstream does not know it. Raises UpstreamUnavailableError, UpstreamTimeoutError."""
    return await context.loaders.upstream(source).load(key)
