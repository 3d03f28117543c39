"""How `gateway serve` runs uvicorn: the fast loop and parser, and GC tuned after start-up.

`gc.freeze()` after start-up and a 50,000 gen-0 threshold doubled the resolver path's
throughput (docs/benchmarks/design-notes.md). The young generation fills with
short-lived per-field objects; every collection that reaches the old generations
rescans the schema, the ORM metadata and the imported modules, all of which live as
long as the process. Freezing them puts them out of the collector's
reach, and a larger gen-0 threshold collects the young objects less often.
"""

from __future__ import annotations

import contextlib
import gc
import shutil
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any
from unittest import mock

import structlog
import uvicorn
from uvicorn.supervisors import multiprocess as uvicorn_multiprocess

from gateway.http.header_timeout import header_timeout_protocol
from gateway.settings import MetricsSettings, ServerSettings

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
    """uvicorn's server, tuning the GC once the app's lifespan has started, and draining
    for SERVER__DRAIN_SECONDS on SIGTERM (readiness 503, still serving) before it stops."""

    def __init__(self, config: uvicorn.Config, server: ServerSettings) -> None:
        super().__init__(config)
        self._tuning = server
        self._drain_until: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        drain = self._tuning.drain_seconds
        first = self._drain_until is None and not self.should_exit
        if sig == signal.SIGTERM and drain > 0 and first and self.started:
            _mark_draining(self.config.loaded_app)
            self._drain_until = time.monotonic() + drain
            log.info("draining", seconds=drain)
            return
        # SIGINT, a second SIGTERM, or no drain: uvicorn's graceful shutdown now.
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and time.monotonic() >= self._drain_until:
            self._drain_until = None
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)

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


def _mark_draining(app: object) -> None:
    # The app (or the app uvicorn's middleware wraps) answers readiness with 503 from now.
    from gateway.http.health import Readiness

    current: object | None = app
    while current is not None:
        readiness = getattr(getattr(current, "state", None), "readiness", None)
        if isinstance(readiness, Readiness):
            readiness.draining = True
            return
        current = getattr(current, "app", None)


class TunedConfig(uvicorn.Config):
    """uvicorn's config carrying the tuning to each worker process (it is pickled)."""

    def __init__(self, app: str, *, tuning: ServerSettings, **options: Any) -> None:
        super().__init__(app, **options)
        self.tuning = tuning


class TunedProcess(uvicorn_multiprocess.Process):
    """A worker of `--workers N` runs the tuned server, as one process does."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            config = self.config
            tuning = config.tuning if isinstance(config, TunedConfig) else ServerSettings()
            self._server = TunedServer(config, tuning)
        return self._server


def uvicorn_options(server: ServerSettings, log_level: str) -> dict[str, Any]:
    """The uvicorn options shared by one and many workers."""
    return {
        "loop": server.loop,
        # uvicorn's protocol, with a deadline on the request headers (slowloris).
        "http": header_timeout_protocol(server.http, server.header_timeout_seconds),
        # The app logs (structlog, one access line per request, redacted); uvicorn must
        # neither reconfigure logging nor write its own unredacted access lines.
        "log_config": None,
        "access_log": server.access_log,
        "log_level": log_level,
        "proxy_headers": False,
        # No `server: uvicorn` on every response: it tells an attacker what to look up.
        "server_header": False,
        "timeout_graceful_shutdown": 20,
        "timeout_keep_alive": server.keep_alive_seconds,
    }


def run(
    server: ServerSettings,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    metrics: MetricsSettings | None = None,
) -> None:
    """Serve until stopped: one process, or a supervisor of `workers` tuned workers."""
    options = uvicorn_options(server, log_level)
    if workers > 1:
        _run_workers(server, metrics or MetricsSettings(), options, host, port, workers)
        return
    config = uvicorn.Config(APP, host=host, port=port, workers=1, **options)
    tuned = TunedServer(config, server)
    with contextlib.suppress(KeyboardInterrupt):
        tuned.run()
    if not tuned.started:
        sys.exit(STARTUP_FAILURE)


def _run_workers(
    server: ServerSettings,
    metrics: MetricsSettings,
    options: dict[str, Any],
    host: str,
    port: int,
    workers: int,
) -> None:
    # Before any worker imports prometheus_client: they share one metrics directory.
    from gateway.observability import multiprocess
    from gateway.observability.metrics import MetricsServer

    inherited = multiprocess.directory() is not None
    directory = multiprocess.prepare()
    config = TunedConfig(APP, tuning=server, host=host, port=port, workers=workers, **options)
    sock = config.bind_socket()
    scrape: MetricsServer | None = None
    if metrics.port is not None:
        # The workers share the main port; the metrics port is the supervisor's, and it
        # answers with every worker's metrics summed.
        registry = multiprocess.aggregate_registry(directory)
        token = metrics.token.get_secret_value() if metrics.token is not None else None
        scrape = MetricsServer(
            lambda: multiprocess.render(registry), metrics.host, metrics.port, token
        ).start()
    try:
        # uvicorn's supervisor makes its workers with this module-level name; ours run
        # the tuned server (GC tuning, 1001 on shutdown, the drain) like one process does.
        with mock.patch.object(uvicorn_multiprocess, "Process", TunedProcess):
            uvicorn_multiprocess.Multiprocess(config, sockets=[sock]).run()
    finally:
        if scrape is not None:
            scrape.close()
        sock.close()
        if not inherited:
            shutil.rmtree(directory, ignore_errors=True)
