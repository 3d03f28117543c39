"""Test helpers shared across the suite."""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from persistence.statements import StatementLog, count_statements
from tests.services import POSTGRES_ADMIN_URL

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_gateway(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path = PROJECT_ROOT,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The `gateway` command in a fresh process at `cwd` (whose packages it imports)."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class assert_max_statements:  # lower-case: reads as the assertion it is
    """Fail if the block sends more than `limit` SQL statements; lists them if so.

    Usable as `with` or `async with`; the log is available as the context value.
    """

    def __init__(self, engine: AsyncEngine | Engine, limit: int) -> None:
        self._engine, self._limit = engine, limit
        self._counter = count_statements(engine)
        self.log = StatementLog()

    def __enter__(self) -> StatementLog:
        self.log = self._counter.__enter__()
        return self.log

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._counter.__exit__(exc_type, exc, tb)
        if exc_type is None and self.log.count > self._limit:
            listing = "\n".join(
                f"  {i}. {' '.join(s.split())}" for i, s in enumerate(self.log.statements, 1)
            )
            raise AssertionError(
                f"expected at most {self._limit} statements, got {self.log.count}:\n{listing}"
            )

    async def __aenter__(self) -> StatementLog:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


async def postgres_admin_sql(statement: str) -> None:
    """Run one statement as the Postgres admin, outside a transaction (CREATE DATABASE)."""
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(statement))
    finally:
        await admin.dispose()


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty Postgres database named uniquely (several engineers share one
    server), dropped on exit: yields its URL. Outside an event loop (session fixtures)."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    asyncio.run(postgres_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        url = sa.make_url(POSTGRES_ADMIN_URL).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(postgres_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# Ports the tests' servers listen on come from below the kernel's ephemeral range
# (32768-60999 on Linux), each pytest-xdist worker from a slice of its own: a port probed
# free is then neither another worker's nor one the kernel hands an outgoing connection
# between the probe and the server's bind (the race of a probe on port 0).
PORT_BASE = 20_000
PORT_SLICE = 800
_WORKER_SLICES = 15  # 20,000 + 15 x 800 = 32,000
_ports = itertools.count()


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) % _WORKER_SLICES if worker[2:].isdigit() else 0


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now, from this worker's
    slice (the next one each call, so a port just closed is not handed out again soon)."""
    low = PORT_BASE + _worker_index() * PORT_SLICE
    for _ in range(PORT_SLICE):
        port = low + next(_ports) % PORT_SLICE
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # something listens there, or a closed connection lingers
            return port
    raise RuntimeError(f"no free port in {low}-{low + PORT_SLICE - 1}")
