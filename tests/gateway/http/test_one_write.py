"""A response's head goes out with its body in one write; nothing a client waits for is held.

First the transport a cycle writes through, against a recording transport; then a real
uvicorn server with the gateway's protocol (`gateway.server.uvicorn_options`, httptools)
and real sockets, for what the client reads: lengths, HEAD, `100 Continue`, a streamed
response whose first chunk comes late, keep-alive and pipelined requests, and an
application failing after it started its response.
"""

from __future__ import annotations

import asyncio
import logging
from asyncio import selector_events
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gateway.http.one_write import HeadWithBody
from gateway.server import uvicorn_options
from gateway.settings import ServerSettings
from tests.gateway.realtime.helpers import eventually

HEAD = b"HTTP/1.1 200 OK\r\ndate: x\r\ncontent-length: 2\r\n\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\ndate: x\r\ntransfer-encoding: chunked\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def _wrapped() -> tuple[HeadWithBody, Recording]:
    recording = Recording()
    return HeadWithBody(recording), recording  # type: ignore[arg-type]  # a stand-in


def test_a_head_with_a_length_is_written_with_the_first_body_bytes() -> None:
    transport, recording = _wrapped()
    transport.write(HEAD)
    assert recording.writes == []
    transport.write(b"ok")
    assert recording.writes == [HEAD + b"ok"]


def test_after_the_head_every_write_goes_at_once_whatever_it_holds() -> None:
    transport, recording = _wrapped()
    transport.write(HEAD)
    transport.write(b"")  # an empty first body (a 304, a 204)
    transport.write(HEAD)  # a body that looks like a head is a body
    assert recording.writes == [HEAD, HEAD]


def test_a_continue_and_a_streamed_head_are_not_held() -> None:
    transport, recording = _wrapped()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    transport.write(CHUNKED)
    assert recording.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", CHUNKED]


def test_closing_writes_a_held_head_first_and_the_rest_is_the_transports() -> None:
    transport, recording = _wrapped()
    transport.write(HEAD)
    assert not transport.is_closing()
    transport.close()
    assert (recording.writes, recording.closed) == ([HEAD], True)
    assert transport.is_closing()


# --- through a real server --------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/echo":  # reads the body first: a client sending Expect waits for 100
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await _answer(send, body)
    elif path == "/stream":
        start: Any = {"type": "http.response.start", "status": 200, "headers": []}
        await send(start)
        await _Stream.released.wait()  # the client must see the head before the first chunk
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
    elif path == "/fail":
        headers = [(b"content-length", b"10")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        raise RuntimeError("failed after starting its response")
    else:
        await _answer(send, b"ok")


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Stream:
    released = asyncio.Event()  # a new one for each test's loop (the fixture)


@pytest.fixture
async def port() -> AsyncIterator[int]:
    _Stream.released = asyncio.Event()
    settings = ServerSettings(http="httptools", loop="asyncio")
    # uvicorn sets its loggers to the level it is given, for the rest of the process: put
    # back after, or the tests after this one lose uvicorn's warnings (test_logging).
    loggers = [logging.getLogger(f"uvicorn{part}") for part in ("", ".error", ".access", ".asgi")]
    levels = [logger.level for logger in loggers]
    options = uvicorn_options(settings, "critical")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started)
        bound: int = server.servers[0].sockets[0].getsockname()[1]
        yield bound
        _Stream.released.set()
        server.should_exit = True
        await task
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def _exchange(port: int, request: bytes, until: bytes, seconds: float = 10.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        received = b""
        async with asyncio.timeout(seconds):
            while until not in received:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                received += chunk
        return received
    finally:
        writer.close()


def _bodies(received: bytes) -> list[bytes]:
    """The bodies of the responses in `received` (each with a content-length)."""
    bodies = []
    for response in received.split(b"HTTP/1.1 ")[1:]:
        head, _, body = response.partition(b"\r\n\r\n")
        assert b"content-length: " in head, head
        bodies.append(body)
    return bodies


async def test_pipelined_responses_and_a_head_each_arrive_whole(port: int) -> None:
    get, head = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(get * 3 + head)  # the HEAD last: its head alone, no body to wait for
        received = b""
        async with asyncio.timeout(10):
            while received.count(b"HTTP/1.1 200 OK") < 4 or not received.endswith(b"\r\n\r\n"):
                chunk = await reader.read(65536)
                assert chunk, received
                received += chunk
    finally:
        writer.close()
    assert _bodies(received) == [b"ok", b"ok", b"ok", b""]


async def test_a_client_expecting_100_continue_gets_it_before_sending_its_body(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        async with asyncio.timeout(10):
            interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"hello")
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.readexactly(5)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert body == b"hello"
    finally:
        writer.close()


async def test_a_streamed_responses_head_arrives_before_its_first_chunk(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head
        _Stream.released.set()
        async with asyncio.timeout(10):
            rest = await reader.readuntil(b"0\r\n\r\n")
        assert rest == b"4\r\nlate\r\n0\r\n\r\n"
    finally:
        writer.close()


async def test_an_application_failing_after_its_head_leaves_the_head_then_the_close(
    port: int,
) -> None:
    received = await _exchange(port, b"GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", until=b"\0")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert received.endswith(b"content-length: 10\r\n\r\n")  # then closed: no body


async def test_a_response_with_a_length_is_one_write_on_the_socket(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's transports are asyncio's (loop="asyncio"): count what reaches them.
    writes: list[bytes] = []
    transport_type = getattr(selector_events, "_SelectorSocketTransport")  # noqa: B009  # private
    write = transport_type.write

    def counted(transport: Any, data: Any) -> None:
        if transport.get_extra_info("sockname")[1] == port:  # the server's side
            writes.append(bytes(data))
        write(transport, data)

    monkeypatch.setattr(transport_type, "write", counted)
    received = await _exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", until=b"\r\n\r\nok")
    assert _bodies(received) == [b"ok"]
    assert len(writes) == 1, writes
    assert writes[0] == received
