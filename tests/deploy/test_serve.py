"""`gateway serve --workers N` as the image runs it: one metrics port reporting every
worker, the probe the image's HEALTHCHECK runs, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.artefacts import ROOT
from tests.helpers import free_port

WORKERS = 2
REQUESTS = 40
START_TIMEOUT = 90.0
POOL_SIZE = 3


def gateway(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class Served:
    def __init__(self, port: int, metrics_port: int | None, env: dict[str, str]) -> None:
        self.port, self.metrics_port, self.env = port, metrics_port, env

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port or self.port}/metrics"


def _live(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


# The metrics on their own port (as the manifests run it: the supervisor serves it), or on
# the main port (any worker answers, with every worker's).
@pytest.fixture(scope="module", params=["metrics port", "main port"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("workers")
    port = free_port()
    metrics_port = free_port() if request.param == "metrics port" else None
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp}/gateway.db",
        "DATABASE__POOL_SIZE": str(POOL_SIZE),
        "SERVER__PORT": str(port),
        "TMPDIR": str(tmp),
    }
    if metrics_port is not None:
        env["METRICS__PORT"] = str(metrics_port)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    migrated = gateway("db", "upgrade", env=env)
    assert migrated.returncode == 0, migrated.stderr
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--workers", str(WORKERS)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        # Asked in process: a `gateway probe` a time took a second to start (the probe
        # itself is tested below).
        while not _live(port):
            assert process.poll() is None, "gateway serve exited"
            assert time.monotonic() < deadline, "gateway serve did not start"
            time.sleep(0.1)
        yield Served(port, metrics_port, env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    # The supervisor removes the workers' metrics directory it made.
    assert list(tmp.glob("gateway-metrics-*")) == []


def test_the_metrics_port_reports_every_worker_summed(served: Served) -> None:
    for _ in range(REQUESTS):
        # A new connection each time, so the kernel spreads them over the workers.
        assert httpx.get(f"http://127.0.0.1:{served.port}/health/ready").status_code == 200
    scraped = httpx.get(served.metrics_url)
    assert scraped.status_code == 200
    values = samples(scraped.text)
    ready = frozenset({("method", "GET"), ("route", "/health/ready"), ("status", "200")})
    assert values[("gateway_http_requests_total", ready)] == REQUESTS
    # Every worker's pool is in the sum.
    assert values[("gateway_db_pool_size", frozenset())] == WORKERS * POOL_SIZE
    assert values[("gateway_ready", frozenset())] == 1.0
    if served.metrics_port is not None:
        # The workers leave the metrics port to the supervisor: none on the main port.
        assert httpx.get(f"http://127.0.0.1:{served.port}/metrics").status_code == 404


def test_the_probe_asks_the_configured_port(served: Served) -> None:
    live = gateway("probe", "live", env=served.env)
    assert (live.returncode, live.stdout) == (0, '{"status":"ok"}\n')
    ready = gateway("probe", "ready", env=served.env)
    assert ready.returncode == 0
    assert '"status":"ready"' in ready.stdout


def test_a_failed_probe_is_one_line_and_exit_1(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/g.db",
        "SERVER__PORT": str(port),
    }
    result = gateway("probe", "live", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: /health/live on 127.0.0.1:{port}: ")
    assert len(result.stderr.splitlines()) == 1
    unknown = gateway("probe", "deep", env=env)
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "error: unknown check 'deep': expected one of live, ready\n",
    )
