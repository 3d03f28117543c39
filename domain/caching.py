"""Cache hints: how long an answer may be reused, and by whom (the neutral vocabulary
the schema's hints, the response cache and the transports' headers share)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
