"""Idempotency keys (IETF httpapi `Idempotency-Key` draft) for `/graphql` and REST.

A client sends a key with a request that changes something; the first request with
that key executes and its answer is stored (scoped to the caller, for a TTL); a retry
with the same key and the same request gets that answer again instead of doing the
change twice. The same key with a different request is refused (422); a retry while
the first is still executing waits up to a bound for its answer, then gets 409.

Answers that say nothing happened yet (rate limited, timed out before commit,
unavailable) are not stored, so a retry executes. Anonymous callers' keys are
ignored: without a principal there is no scope to keep one client's answers (tokens,
for `login`) from another.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from domain.errors import DomainError
from domain.idempotency import IdempotencyRecord, IdempotencyStore, StoredAnswer
from schema import errors as error_table
from schema.errors import ErrorRule

logger = logging.getLogger(__name__)

HEADER = "idempotency-key"
EXTENSION = "idempotencyKey"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# GraphQL codes of answers after which nothing was changed, so a retry must execute.
NOT_STORED_CODES = frozenset(
    {error_table.TIMEOUT.code, "UNAVAILABLE", "RATE_LIMITED", "MAX_COST_EXCEEDED"}
)


class IdempotencyError(Exception):
    """The key cannot be used for this request; `rule` gives code and status."""

    def __init__(
        self, rule: ErrorRule, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.rule, self.headers = rule, headers or {}


def parse_key(raw: object) -> str:
    """The key from a header (an RFC 8941 string, quoted; a bare token is accepted too)
    or a request extension; raises IdempotencyError (400) when it is not usable."""
    if not isinstance(raw, str):
        raise IdempotencyError(error_table.BAD_REQUEST, "the idempotency key must be a string")
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in key):
        raise IdempotencyError(
            error_table.BAD_REQUEST,
            f"the idempotency key must be 1-{MAX_KEY_LENGTH} printable ASCII characters",
        )
    return key


def fingerprint(*parts: object) -> str:
    """A digest of what makes two requests the same request (JSON-comparable parts)."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Outcome:
    answer: StoredAnswer
    replayed: bool


class Idempotency:
    """Runs a request at most once per (caller, key); see the module docstring."""

    def __init__(
        self,
        store: IdempotencyStore,
        *,
        ttl_seconds: float = 86_400,
        in_flight_seconds: float = 300,
        wait_seconds: float = 10,
        poll_seconds: float = 0.05,
    ) -> None:
        self._store = store
        self._ttl, self._in_flight = ttl_seconds, in_flight_seconds
        self._wait, self._poll = wait_seconds, poll_seconds

    async def run(
        self,
        caller: int,
        key: str,
        request_fingerprint: str,
        produce: Callable[[], Awaitable[StoredAnswer]],
        *,
        stored: Callable[[StoredAnswer], bool],
    ) -> Outcome:
        """The answer of the first request with this key; `produce` runs at most once.

        `stored` says whether an answer is final (kept) or transient (key released).
        Raises IdempotencyError: 422 for another request under the key, 409 while the
        first is still executing after the wait; UnavailableError if the store is down.
        """
        scoped = f"{caller}:{hashlib.sha256(key.encode()).hexdigest()}"
        deadline = time.monotonic() + self._wait
        while True:
            held = await self._store.claim(scoped, request_fingerprint, self._in_flight)
            if held is None:
                return Outcome(
                    await self._execute(scoped, request_fingerprint, produce, stored), False
                )
            while held is not None:
                if held.fingerprint != request_fingerprint:
                    raise IdempotencyError(
                        error_table.IDEMPOTENCY_KEY_REUSED,
                        "this idempotency key was used for a different request",
                    )
                if held.answer is not None:
                    return Outcome(held.answer, True)
                if time.monotonic() >= deadline:
                    raise IdempotencyError(
                        error_table.IDEMPOTENCY_KEY_IN_USE,
                        "a request with this idempotency key is still being processed",
                        {"Retry-After": "1"},
                    )
                await asyncio.sleep(self._poll)
                held = await self._store.get(scoped)
            # Released (the first answer was transient) or expired: claim it again.

    async def _execute(
        self,
        scoped: str,
        request_fingerprint: str,
        produce: Callable[[], Awaitable[StoredAnswer]],
        stored: Callable[[StoredAnswer], bool],
    ) -> StoredAnswer:
        try:
            answer = await produce()
        except BaseException:
            await asyncio.shield(self._release(scoped))
            raise
        if not stored(answer):
            await self._release(scoped)
            return answer
        try:
            record = IdempotencyRecord(request_fingerprint, answer)
            await self._store.complete(scoped, record, self._ttl)
        except DomainError:
            # The change is done: its answer goes out. Retries see the claim until it
            # expires (in-flight TTL) and get 409 meanwhile, never a second execution.
            logger.exception("could not store the answer of an idempotent request")
        return answer

    async def _release(self, scoped: str) -> None:
        try:
            await self._store.release(scoped)
        except DomainError:
            logger.exception("could not release an idempotency key")
