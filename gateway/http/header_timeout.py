"""A bound on the time a client takes to send a request's headers (slowloris).

uvicorn has none: its keep-alive timeout runs only between requests and is cancelled
by the first byte, so a client sending one header byte a second holds a connection
(and its memory) for ever, and a few hundred such sockets exhaust a replica. These
subclasses of uvicorn's two HTTP protocols close the connection when the headers of a
request are not complete `header_timeout` seconds after the connection opened or the
request's first byte arrived (SERVER__HEADER_TIMEOUT_SECONDS). The body is not bounded
here (the execution timeout and the body limit are).

They lean on uvicorn's protocol internals (`connection_made`, `on_message_begin`,
`on_headers_complete`, h11's states), checked by tests/gateway/http/test_header_timeout.py
against both protocols.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.http.one_write import HeadWithBody


class _HeaderDeadline:
    """The timer: armed while a request's headers are awaited, closing the connection."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def _init_deadline(self, seconds: float) -> None:
        self._header_seconds = seconds
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_seconds, self._expired)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expired(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class HttpToolsHeaderTimeout(_HeaderDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline; each response's head written with
    its body (gateway/http/one_write.py, hooked where a request's cycle is made)."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_deadline(header_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        self._arm()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._disarm()
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle: none for an upgrade (a WebSocket) or a refused request.
        if cycle is not None and cycle is not before and cycle.scope["method"] != "HEAD":
            # Its head written with its body (gateway/http/one_write.py); the cycle's
            # task, just created, has not run yet.
            cycle.transport = cast(asyncio.Transport, HeadWithBody(self.transport))


class H11HeaderTimeout(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with a header deadline."""

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_deadline(header_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # h11 reports a request only once its headers are complete: until then the
        # client's side of the connection stays IDLE.
        if self.conn.their_state is h11.IDLE:
            self._arm()
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()


def header_timeout_protocol(
    http: str, seconds: float
) -> functools.partial[HttpToolsHeaderTimeout] | functools.partial[H11HeaderTimeout]:
    """uvicorn's `http` option: the protocol `http` names ("auto" as uvicorn picks it),
    bounded by `seconds`. A partial of a module-level class, so `--workers` can pickle it."""
    if http == "h11" or (http == "auto" and importlib.util.find_spec("httptools") is None):
        return functools.partial(H11HeaderTimeout, header_timeout=seconds)
    return functools.partial(HttpToolsHeaderTimeout, header_timeout=seconds)
