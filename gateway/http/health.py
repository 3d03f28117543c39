"""Liveness and readiness endpoints for orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

type Check = Callable[[], Awaitable[bool]]
# Told every readiness result (each check, and the verdict): metrics watch it.
type ReadinessObserver = Callable[[Mapping[str, bool], bool], None]


async def ping_redis(url: str, timeout: float = 2.0) -> bool:  # noqa: ASYNC109  # probes pass their budget
    """Whether Redis answers PING within `timeout` seconds.

    A fresh connection each time: a pooled one broken by an outage would need a
    failed call of its own before it noticed, and probes are rare enough to afford it.
    """
    client = redis.asyncio.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, single_connection_client=True
    )
    try:
        async with asyncio.timeout(timeout):
            return bool(await client.ping())
    except (TimeoutError, OSError, RedisError):
        return False
    finally:
        await client.aclose()


async def live(_: Request) -> Response:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


class Readiness:
    """Runs every dependency check concurrently; 503 while any is down or draining."""

    def __init__(
        self, checks: Mapping[str, Check], *, observer: ReadinessObserver | None = None
    ) -> None:
        self._checks = dict(checks)
        self._observer = observer
        self.draining = False

    async def handle(self, _: Request) -> Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[name]() for name in names))
        report = {name: "ok" if ok else "down" for name, ok in zip(names, results, strict=True)}
        ready = all(results) and not self.draining
        if self._observer is not None:
            self._observer(dict(zip(names, results, strict=True)), ready)
        body = {
            "status": "ready" if ready else ("draining" if self.draining else "unavailable"),
            "checks": report,
        }
        return JSONResponse(
            body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"}
        )
