"""A response's status line and headers written with its body, in one write.

uvicorn's httptools protocol writes a response in two: the status line and headers at
`http.response.start`, the body at the first `http.response.body`. Each `write` on an
idle socket is a `send` at once (uvloop's and asyncio's transports alike), and on
loopback a `send` is most of the server's own cost of a small response: under `make
bench`, uvicorn's `send` held a quarter of the gateway's samples for the persisted
trivial query (docs/benchmarks/design-notes.md, "One write a response").

Here the transport a request's cycle writes through holds the head of a response that
declares its length and writes it with the first body bytes. Nothing else is held: a
`100 Continue` (the client waits for it before sending the body), the head of a streamed
(chunked) response, whose first chunk may come much later (server-sent events), and a
HEAD response's, which has no body to wait for (the wrapper is not used for HEAD).
Closing the transport first writes a head still held (an application that failed after
starting its response: the client gets what it got before, the head, then the close).
"""

from __future__ import annotations

import asyncio
from typing import Any

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# uvicorn writes header names in lower case.
_LENGTH = b"\r\ncontent-length: "


class HeadWithBody:
    """A connection's transport as one response's cycle sees it (its `write` and `close`;
    the rest is the transport's own)."""

    __slots__ = ("_head", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
            return
        if not self._started and data != _CONTINUE:
            self._started = True  # the first write past a 100 Continue is the head
            if _LENGTH in data:
                self._head = data
                return
        self._transport.write(data)

    def close(self) -> None:
        head, self._head = self._head, None
        if head is not None:
            self._transport.write(head)
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
