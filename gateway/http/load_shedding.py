"""A concurrency limit with load shedding: bounded in-flight requests, bounded waiting.

Past its CPU, one process only queues: every request waits behind all the others and
p99 grows without bound while nothing fails. Here at most `max_concurrency` requests
run at once; a request that cannot start within `queue_timeout` answers 503 with
`Retry-After` at once (a GraphQL error on the GraphQL path, problem+json elsewhere),
so the clients that are served keep their latency and the others can go elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.errors import UnavailableError
from gateway.http.negotiation import JSON, RequestError, negotiate
from gateway.http.problem_details import PROBLEM_JSON, problem_document
from gateway.http.request_id import request_id_of
from schema import errors as error_table

DEFAULT_EXEMPT = ("/health/live", "/health/ready", "/metrics")


class Slots:
    """At most `size` holders at once; the others wait in line, first come first served.

    What `asyncio.Semaphore` does for the load shedder, with a free slot taken by a
    plain call: the semaphore's `locked()` builds a generator over its waiters and its
    `acquire()` is a coroutine, both on every request (~0.5 µs of ~0.6 a request
    here, timeit), while a line forms only under overload.
    """

    __slots__ = ("_line", "free")

    def __init__(self, size: int) -> None:
        self.free = size
        self._line: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """A slot now, if one is free and nobody waits for one (no jumping the line)."""
        if self.free and not self._line:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """A slot, after those already waiting for one (bound it with `asyncio.timeout`)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a slot, then cancelled (or out of time) before it ran: the
                # next in line gets it, as `asyncio.Semaphore` passes it on.
                self.release()
            raise
        finally:
            # Out of the line whatever happened (`release` took it out if it served it).
            with contextlib.suppress(ValueError):
                self._line.remove(waiter)

    def release(self) -> None:
        """Give a slot back: to the first in line still waiting, else to the free ones."""
        line = self._line
        while line:
            waiter = line.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; `free` stays as it is
                return
        self.free += 1


class LoadSheddingMiddleware:
    """Admits at most `max_concurrency` HTTP requests at once; 503 when the wait is too long."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrency: int,
        queue_timeout_seconds: float,
        retry_after_seconds: int = 1,
        graphql_path: str = "/graphql",
        exempt_paths: Iterable[str] = DEFAULT_EXEMPT,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if queue_timeout_seconds < 0:
            raise ValueError("queue_timeout_seconds must not be negative")
        self.app = app
        self.slots = Slots(max_concurrency)
        self.queue_timeout = queue_timeout_seconds
        self.retry_after = retry_after_seconds
        self.graphql_path = graphql_path
        self.exempt = frozenset(exempt_paths)
        self.shed = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # WebSockets are long-lived and have their own per-user limit (gateway.realtime).
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        slots = self.slots
        # A free slot is taken without a coroutine or a timer; otherwise the request
        # waits in line, at most the queue timeout (`_admit`).
        if not slots.take() and not await self._admit():
            self.shed += 1
            await self._refuse(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()

    async def _admit(self) -> bool:
        # Every slot is taken: wait for one, at most the queue timeout.
        if self.queue_timeout == 0:
            return False
        try:
            async with asyncio.timeout(self.queue_timeout):
                await self.slots.wait()
        except TimeoutError:
            return False
        return True

    async def _refuse(self, scope: Scope, send: Send) -> None:
        rule = error_table.rule_for(UnavailableError("overloaded"))
        message = "the server is overloaded; retry later"
        body: dict[str, Any]
        if scope["path"] == self.graphql_path:
            try:
                media = negotiate(Headers(scope=scope).get("accept"))
            except RequestError:
                media = JSON
            content_type = f"{media}; charset=utf-8"
            extensions = {"code": rule.code, "retryAfter": self.retry_after}
            body = {"errors": [{"message": message, "extensions": extensions}]}
        else:
            content_type = PROBLEM_JSON
            body = problem_document(
                rule,
                message,
                instance=scope["path"],
                request_id=request_id_of(scope),
                members={"retryAfter": self.retry_after},
            )
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
            (b"retry-after", str(self.retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": rule.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
