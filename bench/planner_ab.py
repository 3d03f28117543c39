"""A small, bounded before/after check of the planned read paths, in process.

    python -m bench.planner_ab [--runs 2000] [--postgres]

Seeds a database (SQLite in a temporary file; with `--postgres`, a scratch database
on 127.0.0.1 dropped afterwards), builds the gateway with the planner on and asks,
through the ASGI app, the benchmark's nested query (users -> orders -> lines -> item)
and `item(id)` `--runs` times each, and `{ __typename }` as the baseline (the same
pipeline without the database). It prints each read's wall and CPU microseconds per
request (the CPU of this process: the gateway's Python, SQLite's work included, a
Postgres server's not) and the CPU ratio to the baseline. The runs are made in ten
blocks and the fastest block counts: on a shared machine the other tenants' load
slows some blocks (even in CPU time, through shared caches and cores), never speeds
one up. Two checkouts run one after the other compare by that CPU and by ratio
(`PYTHONPATH=<checkout> python <this file>` runs another checkout's code). See
docs/benchmarks/design-notes.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import Settings
from persistence import migrate, seed
from persistence.database import create_engine

NESTED = """
query Nested {
  users(first: 20) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id name email orders(first: 10) {
      totalCount
      edges { cursor node { id status createdAt total { amount currency }
        lines { quantity unitPrice { amount currency } item { id name price { amount } } }
      } }
    } } }
  }
}
"""
ITEM_ID = base64.b64encode(b"Item:7").decode()
ITEM = f'{{ item(id: "{ITEM_ID}") {{ id sku name price {{ amount currency }} stock }} }}'
BASELINE = "{ __typename }"


async def _seed(url: str) -> None:
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        await seed.seed(engine, users=200, items=100, orders=1000, seed=11)
    finally:
        await engine.dispose()


async def _measure(url: str, runs: int) -> dict[str, tuple[float, float]]:
    settings = Settings(
        database={"url": url},
        security={"allow_debug_identity": True, "secret_key": "b" * 40},
        rate_limit={"enabled": False},
    )
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    timings: dict[str, tuple[float, float]] = {}
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for name, query in (("baseline", BASELINE), ("nested", NESTED), ("item", ITEM)):
                body = {"query": query}
                headers = {"X-Debug-User": "1"}
                for _ in range(50):  # warm: plans, prepared operations, the pool
                    answer = await client.post("/graphql", json=body, headers=headers)
                    if answer.status_code != 200 or "errors" in answer.json():
                        raise SystemExit(f"{name}: {answer.text}")
                blocks: list[tuple[float, float]] = []
                size = max(1, runs // 10)
                for _ in range(10):
                    started, cpu = time.perf_counter(), time.process_time()
                    for _ in range(size):
                        await client.post("/graphql", json=body, headers=headers)
                    wall = (time.perf_counter() - started) / size * 1e6
                    blocks.append((wall, (time.process_time() - cpu) / size * 1e6))
                timings[name] = (min(b[0] for b in blocks), min(b[1] for b in blocks))
    finally:
        await container.aclose()
    return timings


@contextlib.contextmanager
def _database(postgres: bool) -> Iterator[str]:
    if postgres:
        from tests.helpers import scratch_postgres_database

        with scratch_postgres_database("gw_bench_planner_ab") as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        yield f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--postgres", action="store_true")
    options = parser.parse_args()
    runs = max(1, min(options.runs, 20_000))
    with _database(options.postgres) as url:
        asyncio.run(_seed(url))
        timings = asyncio.run(_measure(url, runs))
    base = timings["baseline"][1]
    database = "postgres" if options.postgres else "sqlite"
    for name, (wall, cpu) in timings.items():
        print(
            f"{database} {name:8} wall {wall:7.0f} us  cpu {cpu:7.0f} us/request"
            f"  x{cpu / base:.2f} of the baseline's cpu"
        )


if __name__ == "__main__":
    main()
