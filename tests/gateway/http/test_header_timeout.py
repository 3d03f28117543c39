"""A connection that trickles its request headers is closed after the header bound.

A real uvicorn server (the options `gateway serve` uses, both HTTP protocols) and real
sockets. The bound is short (0.3 s) and the trickle is long (one byte every 50 ms for
up to 10 s), so the outcome does not hinge on timing: without the bound the server
would wait for the whole trickle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Literal

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gateway.server import uvicorn_options
from gateway.settings import ServerSettings
from tests.gateway.realtime.helpers import eventually

BOUND_SECONDS = 0.3
# The keep-alive test's bound: its first request must come within one bound of the
# connection opening, so the bound is long enough that a busy machine's pause between
# the test's steps cannot use it up.
KEEP_ALIVE_BOUND_SECONDS = 1.5
TRICKLE_SECONDS = 10.0
REQUEST = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


async def ok(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def bound() -> float:
    return BOUND_SECONDS


@pytest.fixture(params=["httptools", "h11"])
async def port(request: pytest.FixtureRequest, bound: float) -> AsyncIterator[int]:
    http: Literal["httptools", "h11"] = request.param
    settings = ServerSettings(http=http, loop="asyncio", header_timeout_seconds=bound)
    options = uvicorn_options(settings, "warning")
    config = uvicorn.Config(ok, host="127.0.0.1", port=0, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    listening: int = server.servers[0].sockets[0].getsockname()[1]
    yield listening
    server.should_exit = True
    await task


async def trickle(port: int, head: bytes) -> tuple[bytes, float]:
    """Send `head` at once, then a header one byte at a time until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    started = time.monotonic()
    received = b""
    try:
        for byte in b"X-Slow: " + b"a" * int(TRICKLE_SECONDS / 0.05):
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                received = await asyncio.wait_for(reader.read(1024), 0.05)
            except TimeoutError:
                continue
            if received == b"":
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return received, time.monotonic() - started


async def test_a_trickling_request_line_and_headers_are_cut_off(port: int) -> None:
    received, seconds = await trickle(port, b"GET / HTTP/1.1\r\n")
    assert received == b""
    assert seconds < TRICKLE_SECONDS / 2  # closed long before the trickle would end


async def test_a_silent_connection_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await asyncio.wait_for(reader.read(1024), TRICKLE_SECONDS) == b""
    finally:
        writer.close()


@pytest.mark.parametrize("bound", [KEEP_ALIVE_BOUND_SECONDS])
async def test_a_keep_alive_connection_gets_a_fresh_bound_for_each_request(
    port: int, bound: float
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    try:
        answers = []
        for _ in range(3):
            # Together the pauses pass one bound after the connection opened.
            await asyncio.sleep(bound * 0.4)
            writer.write(REQUEST)
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            body = await asyncio.wait_for(reader.readexactly(2), 5)
            answers.append((head.split(b"\r\n", 1)[0], body))
        assert answers == [(b"HTTP/1.1 200 OK", b"ok")] * 3
        # The last request came after the connection's first bound would have closed it.
        assert time.monotonic() - opened > bound
    finally:
        writer.close()
