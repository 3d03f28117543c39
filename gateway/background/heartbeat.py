"""`gateway worker`'s heartbeat: a file touched while the worker runs, for a liveness probe.

The worker has no HTTP server; `gateway probe worker` reads the file's age instead. It is
touched by a task of the worker's event loop, so a loop that stopped turning (a blocking
call, a deadlock) or a worker that stopped running goes stale. A Redis or database
outage does not: the worker waits those out, and a restart would not help.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

BEAT_SECONDS = 5.0
# Six missed beats: a busy machine may delay one or two, never six.
STALE_SECONDS = 30.0


class StaleHeartbeatError(Exception):
    """The heartbeat file is missing or older than allowed."""


async def beat(path: Path, alive: Callable[[], bool], *, every: float = BEAT_SECONDS) -> None:
    """Touch `path` every `every` seconds while `alive()`; removed when this stops."""
    try:
        while alive():
            _touch(path)
            await asyncio.sleep(every)
    finally:
        with contextlib.suppress(OSError):
            _remove(path)


# Synchronous on purpose: a file's time stamp on the pod's tmpfs takes microseconds, and
# a beat sent from another thread would not show that this event loop still turns.
def _touch(path: Path) -> None:
    try:
        path.touch()
    except OSError:
        logger.warning("cannot write the worker heartbeat %s", path, exc_info=True)


def _remove(path: Path) -> None:
    path.unlink()


def heartbeat_age(path: Path, *, stale_after: float = STALE_SECONDS) -> float:
    """Seconds since the last beat; raises StaleHeartbeatError if missing or too old."""
    try:
        age = time.time() - os.stat(path).st_mtime
    except OSError as exc:
        raise StaleHeartbeatError(f"no worker heartbeat at {path}: {exc.strerror}") from None
    if age > stale_after:
        raise StaleHeartbeatError(
            f"the worker heartbeat {path} is {age:.0f} s old (more than {stale_after:.0f} s)"
        )
    return age
