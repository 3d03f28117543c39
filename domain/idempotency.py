"""Idempotency keys: what a key holds (the request's fingerprint, then its answer as
sent) and the port of the store that keeps them (`persistence.idempotency` adapts
Redis and this process's memory; `gateway.http.idempotency` runs the protocol)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """An HTTP answer as it was sent: status, headers and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a key holds: the request's fingerprint and, once done, its answer."""

    fingerprint: str
    answer: StoredAnswer | None = None

    @property
    def in_flight(self) -> bool:
        return self.answer is None


class IdempotencyStore(Protocol):
    """Keys are already scoped (caller and key); raises UnavailableError if unreachable."""

    async def claim(
        self, key: str, fingerprint: str, ttl_seconds: float
    ) -> IdempotencyRecord | None:
        """Mark `key` in flight for this request; None if claimed, else the record holding it."""
        ...

    async def get(self, key: str) -> IdempotencyRecord | None:
        """The record under `key`, or None (never claimed, released or expired)."""
        ...

    async def complete(self, key: str, record: IdempotencyRecord, ttl_seconds: float) -> None:
        """Store the finished request's record for `ttl_seconds`."""
        ...

    async def release(self, key: str) -> None:
        """Forget `key`, so that a retry executes again."""
        ...
