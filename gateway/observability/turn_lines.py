"""Log lines kept for the rest of an event-loop turn, then written with one write.

Under a server every access line was a `write` and a `flush`, a system call a request.
Requests on many connections finish in the same turn of the loop: their lines are
joined and written once, by a callback the turn schedules (`loop.call_soon`), which
runs before the loop next waits for I/O. A line may also be given as what it is
rendered from (`defer`): it is rendered then, with the turn's other lines. Outside a
running loop a line is written at once, as before.

Nothing is lost on a clean stop: the app's lifespan flushes on shutdown and an
`atexit` hook on exit. A process killed outright (SIGKILL) loses at most the lines of
the turn it was in, which are also the requests whose answers may not have left.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import weakref
from collections.abc import Callable
from typing import Any, BinaryIO

# A line as given (bytes), or how to render it and what from (rendered when written).
type _Pending = bytes | tuple[Callable[..., bytes], tuple[Any, ...]]

# Every buffer still in use, flushed at exit (weakly: a reconfigured one may go).
_LIVE: weakref.WeakSet[TurnLines] = weakref.WeakSet()


class TurnLines:
    """Lines for `output`, written at the end of the loop turn that added them."""

    __slots__ = ("__weakref__", "_lock", "_output", "_pending", "_scheduled_on")

    def __init__(self, output: BinaryIO) -> None:
        self._output = output
        self._pending: list[_Pending] = []
        # The loop a flush is scheduled on. Not a flag: a loop closed before its
        # callback ran (a test's) must not keep the next loop from scheduling one.
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        # A reader may flush from another thread (a test client's portal, exit).
        self._lock = threading.Lock()
        _LIVE.add(self)

    @property
    def output(self) -> BinaryIO:
        return self._output

    def add(self, line: bytes) -> None:
        """`line` (ending in a newline), written by the end of this loop turn."""
        self._keep(line)

    def defer[*Args](self, render: Callable[[*Args], bytes], *args: *Args) -> None:
        """The line `render(*args)` gives, rendered and written by the end of this loop
        turn, in its place among the others (`args` must hold all it depends on)."""
        self._keep((render, args))

    def _keep(self, pending: _Pending) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            with self._lock:
                self._pending.append(pending)
            self.flush()
            return
        with self._lock:
            self._pending.append(pending)
            if self._scheduled_on is loop:
                return
            self._scheduled_on = loop
        loop.call_soon(self.flush)

    def flush(self) -> None:
        """Render and write the pending lines now, with one write."""
        with self._lock:
            self._scheduled_on = None
            if not self._pending:
                return
            pending = self._pending[:]
            self._pending.clear()
            data = b"".join(
                [line if isinstance(line, bytes) else line[0](*line[1]) for line in pending]
            )
            # Under the lock: lines flushed from two threads keep their order.
            self._output.write(data)
            self._output.flush()


def flush_all() -> None:
    """Write every buffer's pending lines (shutdown, exit, a reader that cannot wait)."""
    for lines in list(_LIVE):
        lines.flush()


atexit.register(flush_all)
