"""Where idempotency keys and the answers they produced are kept: Redis or this process.

A record is claimed (in flight) before the request executes and completed with its
answer afterwards; both expire. Redis shares them across replicas (production); the
in-process store serves the embedded single-replica default and forgets on restart.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import UnavailableError
from domain.idempotency import IdempotencyRecord, StoredAnswer

DEFAULT_PREFIX = "gateway:idempotency:"


def encode(record: IdempotencyRecord) -> bytes:
    answer = record.answer
    payload: dict[str, Any] = {"f": record.fingerprint}
    if answer is not None:
        payload.update(
            s=answer.status,
            h=[list(pair) for pair in answer.headers],
            b=base64.b64encode(answer.body).decode("ascii"),
        )
    return orjson.dumps(payload)


def decode(raw: bytes | str) -> IdempotencyRecord:
    payload = orjson.loads(raw)
    if "s" not in payload:
        return IdempotencyRecord(payload["f"])
    answer = StoredAnswer(
        status=int(payload["s"]),
        headers=tuple((str(name), str(value)) for name, value in payload["h"]),
        body=base64.b64decode(payload["b"]),
    )
    return IdempotencyRecord(payload["f"], answer)


class MemoryIdempotencyStore:
    """`IdempotencyStore` in this process (one replica); expired records are swept on claim."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_records: int = 100_000
    ) -> None:
        self._clock = clock
        self._max = max_records
        self._records: dict[str, tuple[float, bytes]] = {}

    def _live(self, key: str) -> bytes | None:
        found = self._records.get(key)
        if found is None:
            return None
        expires, raw = found
        if expires <= self._clock():
            del self._records[key]
            return None
        return raw

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (expires, _) in self._records.items() if expires <= now]:
            del self._records[key]

    async def claim(
        self, key: str, fingerprint: str, ttl_seconds: float
    ) -> IdempotencyRecord | None:
        held = self._live(key)
        if held is not None:
            return decode(held)
        if len(self._records) >= self._max:
            self._sweep()
            if len(self._records) >= self._max:
                raise UnavailableError("too many idempotency keys are held; retry later")
        self._records[key] = (self._clock() + ttl_seconds, encode(IdempotencyRecord(fingerprint)))
        return None

    async def get(self, key: str) -> IdempotencyRecord | None:
        held = self._live(key)
        return None if held is None else decode(held)

    async def complete(self, key: str, record: IdempotencyRecord, ttl_seconds: float) -> None:
        self._records[key] = (self._clock() + ttl_seconds, encode(record))

    async def release(self, key: str) -> None:
        self._records.pop(key, None)


class RedisIdempotencyStore:
    """`IdempotencyStore` in Redis: `SET NX PX` claims, so one replica executes a key."""

    def __init__(self, redis: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis, self._prefix = redis, prefix

    async def claim(
        self, key: str, fingerprint: str, ttl_seconds: float
    ) -> IdempotencyRecord | None:
        name = self._prefix + key
        raw = encode(IdempotencyRecord(fingerprint))
        try:
            # A record released between SET NX and GET is claimed on a second try.
            for _ in range(2):
                if await self._redis.set(name, raw, nx=True, px=_ms(ttl_seconds)):
                    return None
                held = await self._redis.get(name)
                if held is not None:
                    return decode(held)
        except RedisError as exc:
            raise UnavailableError("the idempotency store is unavailable") from exc
        raise UnavailableError("the idempotency key is changing too fast; retry")

    async def get(self, key: str) -> IdempotencyRecord | None:
        try:
            held = await self._redis.get(self._prefix + key)
        except RedisError as exc:
            raise UnavailableError("the idempotency store is unavailable") from exc
        return None if held is None else decode(held)

    async def complete(self, key: str, record: IdempotencyRecord, ttl_seconds: float) -> None:
        try:
            await self._redis.set(self._prefix + key, encode(record), px=_ms(ttl_seconds))
        except RedisError as exc:
            raise UnavailableError("the idempotency store is unavailable") from exc

    async def release(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError as exc:
            raise UnavailableError("the idempotency store is unavailable") from exc


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
