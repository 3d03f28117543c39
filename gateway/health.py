"""Liveness and readiness endpoints for orchestrators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

type Check = Callable[[], Awaitable[bool]]


async def live(_: Request) -> Response:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


class Readiness:
    """Runs every dependency check concurrently; 503 while any is down or draining."""

    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)
        self.draining = False

    async def handle(self, _: Request) -> Response:
        names = list(self._checks)
        results = await asyncio.gather(*(self._checks[name]() for name in names))
        report = {name: "ok" if ok else "down" for name, ok in zip(names, results, strict=True)}
        ready = all(results) and not self.draining
        body = {
            "status": "ready" if ready else ("draining" if self.draining else "unavailable"),
            "checks": report,
        }
        return JSONResponse(
            body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"}
        )
