"""Postgres CPU of single statements, alternated: the planned read of a shape against another.

    python -m bench.sql_ab capture nested_orders --database-url URL --out ours.json
    python -m bench.sql_ab run --database-url URL [--runs 500] [--rounds 10] A.json B.sql ...

`capture` asks the gateway of this checkout (in process, planner on, as the user with
id 1, the seed's admin) one of the benchmark's nested queries and writes the statement
the read model sent to asyncpg, with its values, as JSON (stdout has the access log).
`run` gives each statement (a captured `.json`, or a `.sql` file without parameters) its
own connection, executes it `--runs` times per round, rounds alternating between the
statements, and prints each one's Postgres backend CPU per execution (from
/proc/<pid>/schedstat, so the server must run on this machine) and the median of its
round-by-round ratios to the first statement's.
The statement of another commit is captured by running `capture` in its checkout (this
file copied in). Used for docs/benchmarks/design-notes.md ("Page size as a literal").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import httpx
from sqlalchemy.engine import make_url

from bench.scenarios import NESTED, NESTED_ORDERS

QUERIES = {"nested": NESTED, "nested_orders": NESTED_ORDERS}
ADMIN = "1"


async def capture(database_url: str, scenario: str) -> dict[str, Any]:
    """The statement and values the read model sends for the scenario's query."""
    # Imported here: the gateway's import is seconds of CPU `run` does not need.
    from gateway.app import create_app
    from gateway.container import build_container
    from gateway.settings import Settings
    from persistence.driver_reads import DriverReads, DriverStatement

    sent: list[tuple[DriverStatement, int | None]] = []
    fetch = DriverReads.fetch

    async def recording(
        reads: DriverReads, statements: Sequence[DriverStatement], caller_id: int | None
    ) -> list[Any]:
        sent.extend((statement, caller_id) for statement in statements)
        return await fetch(reads, statements, caller_id)

    DriverReads.fetch = recording  # type: ignore[method-assign,assignment]  # a spy, this process only
    settings = Settings(
        database={"url": database_url},
        security={"allow_debug_identity": True, "secret_key": "b" * 40},
        rate_limit={"enabled": False},
    )
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            answer = await client.post(
                "/graphql", json={"query": QUERIES[scenario]}, headers={"X-Debug-User": ADMIN}
            )
    finally:
        await container.aclose()
    if answer.status_code != 200 or "errors" in answer.json() or len(sent) != 1:
        raise SystemExit(f"{scenario}: not one planned statement: {answer.text[:300]}")
    statement, caller = sent[0]
    values = list(statement.values)
    if statement.caller_at is not None:
        values[statement.caller_at] = caller
    return {"sql": statement.sql, "values": values}


def _backend_cpu(pid: int) -> float:
    """Seconds on CPU of a process on this machine (nanosecond resolution)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def _load(path: str) -> tuple[str, list[Any]]:
    if path.endswith(".json"):
        captured = json.loads(Path(path).read_text())
        return str(captured["sql"]), list(captured["values"])
    return Path(path).read_text().strip().rstrip(";"), []


async def run(dsn: str, paths: list[str], runs: int, rounds: int) -> None:
    connections = []
    for path in paths:
        sql, values = _load(path)
        conn = await asyncpg.connect(dsn)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        for _ in range(20):  # prepared, planned, caches warm
            await conn.fetch(sql, *values)
        connections.append((conn, pid, sql, values))
    cpu: list[list[float]] = [[] for _ in paths]
    try:
        for _ in range(rounds):
            for index, (conn, pid, sql, values) in enumerate(connections):
                before = _backend_cpu(pid)
                for _ in range(runs):
                    await conn.fetch(sql, *values)
                cpu[index].append((_backend_cpu(pid) - before) / runs * 1e3)
    finally:
        for conn, *_ in connections:
            await conn.close()
    for path, figures in zip(paths, cpu, strict=True):
        ratios = sorted(a / b for a, b in zip(figures, cpu[0], strict=True))
        print(
            f"{path}: Postgres CPU ms per execution min {min(figures):.3f} "
            f"median {statistics.median(figures):.3f}; x{statistics.median(ratios):.3f} "
            f"of the first (rounds {ratios[0]:.3f}-{ratios[-1]:.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    captured = commands.add_parser("capture")
    captured.add_argument("scenario", choices=sorted(QUERIES))
    captured.add_argument("--database-url", required=True)
    captured.add_argument("--out", required=True)
    measured = commands.add_parser("run")
    measured.add_argument("statements", nargs="+")
    measured.add_argument("--database-url", required=True)
    measured.add_argument("--runs", type=int, default=500)
    measured.add_argument("--rounds", type=int, default=10)
    options = parser.parse_args()
    if options.command == "capture":
        found = asyncio.run(capture(options.database_url, options.scenario))
        Path(options.out).write_text(json.dumps(found))
        return
    url = make_url(options.database_url).set(drivername="postgresql")
    runs, rounds = max(1, min(options.runs, 10_000)), max(1, min(options.rounds, 100))
    started = time.perf_counter()
    asyncio.run(run(url.render_as_string(hide_password=False), options.statements, runs, rounds))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
