"""How `gateway serve` runs uvicorn: the fast loop and parser, and GC tuned after start-up.

Measured in issue 7 (one core): the nested query ran 4.4 req/s with default GC and 9.9
with `gc.freeze()` after start-up and a 50,000 gen-0 threshold. The young generation
fills with short-lived per-field objects; every collection that reaches the old
generations rescans the schema, the ORM metadata and the imported modules, all of
which live as long as the process. Freezing them puts them out of the collector's
reach, and a larger gen-0 threshold collects the young objects less often.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import sys
from typing import Any

import structlog
import uvicorn

from gateway.settings import ServerSettings

log = structlog.get_logger("gateway.server")

APP = "gateway.asgi:app"
STARTUP_FAILURE = 3  # uvicorn's own exit code for a failed start-up


def tune_gc(*, freeze: bool, threshold: int) -> None:
    """Freeze what start-up allocated and raise the gen-0 threshold (0 keeps Python's)."""
    if threshold > 0:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(threshold, gen1, gen2)
    if freeze:
        # Collect first, so garbage from start-up is freed rather than frozen forever.
        gc.collect()
        gc.freeze()


class TunedServer(uvicorn.Server):
    """uvicorn's server, tuning the GC once the app's lifespan has started."""

    def __init__(self, config: uvicorn.Config, server: ServerSettings) -> None:
        super().__init__(config)
        self._tuning = server

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            tune_gc(freeze=self._tuning.gc_freeze, threshold=self._tuning.gc_threshold)
            log.info(
                "gc tuned",
                frozen=gc.get_freeze_count(),
                threshold=gc.get_threshold()[0],
            )

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn would close open WebSockets with 1012 before the lifespan ends; close
        # them with 1001 (going away) first, so clients reconnect to another replica.
        from gateway.realtime import drain_app

        await drain_app(self.config.loaded_app)
        await super().shutdown(sockets)


def uvicorn_options(server: ServerSettings, log_level: str) -> dict[str, Any]:
    """The uvicorn options shared by one and many workers."""
    return {
        "loop": server.loop,
        "http": server.http,
        # The app logs (structlog, one access line per request, redacted); uvicorn must
        # neither reconfigure logging nor write its own unredacted access lines.
        "log_config": None,
        "access_log": server.access_log,
        "log_level": log_level,
        "proxy_headers": False,
        # No `server: uvicorn` on every response: it tells an attacker what to look up.
        "server_header": False,
        "timeout_graceful_shutdown": 20,
    }


def run(server: ServerSettings, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve until stopped; one worker gets GC tuning (uvicorn's supervisor cannot)."""
    options = uvicorn_options(server, log_level)
    if workers > 1:
        uvicorn.run(APP, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(APP, host=host, port=port, workers=1, **options)
    tuned = TunedServer(config, server)
    with contextlib.suppress(KeyboardInterrupt):
        tuned.run()
    if not tuned.started:
        sys.exit(STARTUP_FAILURE)
