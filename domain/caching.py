"""Cache hints: how long an answer may be reused, and by whom (the neutral vocabulary
the schema's hints, the response cache and the transports' headers share), and the
port of the store the response cache keeps answers in."""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol


class CacheScope(enum.Enum):
    """`PUBLIC`: every caller with the same roles; `PRIVATE`: only the caller it was for."""

    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@dataclass(frozen=True, slots=True)
class CacheHint:
    """How long a value may be reused (`max_age`, seconds), and by whom."""

    max_age: int
    scope: CacheScope = CacheScope.PUBLIC

    def __post_init__(self) -> None:
        if self.max_age < 0:
            raise ValueError("max_age must be 0 or more seconds")

    def restrict(self, other: CacheHint) -> CacheHint:
        """The policy that satisfies both: the shorter age, private if either is."""
        scope = (
            CacheScope.PRIVATE
            if CacheScope.PRIVATE in (self.scope, other.scope)
            else CacheScope.PUBLIC
        )
        return CacheHint(min(self.max_age, other.max_age), scope)


class ResponseCacheStore(Protocol):
    """Cached answers by key and tag; a Redis store raises UnavailableError when unreachable."""

    async def generation(self) -> int:
        """The current eviction generation (read before computing an answer)."""
        ...

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        """The current eviction generation and the entry under `key` (None: never stored,
        expired or evicted), read together: one round trip to Redis, not two."""
        ...

    async def put(
        self, key: str, value: bytes, ttl_seconds: int, tags: Collection[str], generation: int
    ) -> bool:
        """Store unless a tag was evicted after `generation`; whether it was stored."""
        ...

    async def evict(self, tags: Collection[str]) -> int:
        """Drop every entry filed under any of `tags`; how many were dropped."""
        ...
