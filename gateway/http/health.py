"""Liveness and readiness endpoints for orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import redis.asyncio
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

type Check = Callable[[], Awaitable[bool]]
# Each upstream's circuit breaker state (`closed`, `open`, `half_open`), read, not probed.
type UpstreamStates = Callable[[], Mapping[str, str]]
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


class DatabaseReadiness(Protocol):
    """The database answers and is at the migration the code expects (the composition
    root's `persistence.database_check.DatabaseCheck`)."""

    async def __call__(self) -> bool:
        """Whether the database answers and is migrated; never raises."""
        ...

    def report(self) -> dict[str, str | None] | None:
        """What to tell a probe while the database is behind (None otherwise)."""
        ...


async def live(_: Request) -> Response:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


class Readiness:
    """Runs every dependency check concurrently; 503 while any is down or draining.

    Upstream services are reported, never required: a replica whose breaker to an
    upstream is open still serves everything else (those fields answer null), so it is
    `degraded` with a 200; taking it out of rotation would only move its traffic to
    replicas that see the same upstream.
    """

    def __init__(
        self,
        checks: Mapping[str, Check],
        *,
        observer: ReadinessObserver | None = None,
        database: DatabaseReadiness | None = None,
        upstreams: UpstreamStates | None = None,
    ) -> None:
        self._checks = dict(checks)
        self._observer = observer
        self._database = database
        self._upstreams = upstreams
        self.draining = False

    async def handle(self, _: Request) -> Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[name]() for name in names))
        report = {name: "ok" if ok else "down" for name, ok in zip(names, results, strict=True)}
        ready = all(results) and not self.draining
        if self._observer is not None:
            self._observer(dict(zip(names, results, strict=True)), ready)
        upstreams = dict(self._upstreams()) if self._upstreams is not None else {}
        degraded = any(state != "closed" for state in upstreams.values())
        status = "degraded" if degraded else "ready"
        body: dict[str, object] = {
            "status": status if ready else ("draining" if self.draining else "unavailable"),
            "checks": report,
        }
        if degraded:  # every upstream's state then; the metrics have them always
            body["upstreams"] = upstreams
        migrations = self._database.report() if self._database is not None else None
        if migrations is not None:
            report["database"] = "not migrated"
            body["migrations"] = migrations
        return JSONResponse(
            body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"}
        )
