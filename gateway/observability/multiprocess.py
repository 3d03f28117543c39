"""Metrics of every worker of `gateway serve --workers N` on one `/metrics`.

prometheus_client's multiprocess mode: the supervisor gives its workers a fresh shared
directory in `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's own contract, read when it
is imported, hence an environment variable and not a setting); each worker's counters,
gauges and histograms are memory-mapped files there, and a scrape of any worker, or of
the supervisor's metrics port, sums them. A dead worker's counts stay in the sums, so
counters never go backwards; its live gauges (open sockets, pool connections in use)
are removed when it stops cleanly.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENVIRONMENT_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> Path | None:
    """The shared directory when this process is one of several workers, else None."""
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(value) if value else None


def prepare() -> Path:
    """Before the workers start: a fresh directory (under TMPDIR), named in the environment
    the workers inherit. An inherited directory is reused, emptied of old workers' files."""
    existing = directory()
    if existing is not None:
        existing.mkdir(parents=True, exist_ok=True)
        for stale in existing.glob("*.db"):
            stale.unlink()
        return existing
    path = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ[ENVIRONMENT_VARIABLE] = str(path)
    return path


def aggregate_registry(path: Path) -> CollectorRegistry:
    """A registry whose collection sums every worker's files in `path`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))  # type: ignore[no-untyped-call]  # unannotated upstream
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def worker_stopped(path: Path, pid: int | None = None) -> None:
    """Drop a stopped worker's live gauges from the sums."""
    dead = pid if pid is not None else os.getpid()
    mark_process_dead(dead, path=str(path))  # type: ignore[no-untyped-call]  # unannotated upstream
