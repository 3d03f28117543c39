"""`python -m bench.by_id`: `item(id: $id)` over many distinct ids, in process.

`make bench` reads 500 items, fewer than the gateway's caches hold (plans, prepared
operations and statements: 1,000 each), so it never shows a read by id over a real
table. This seeds `--ids` items (default 2,000) into a fresh database (SQLite in a
temporary directory, or an empty database at `--database-url`), then asks for each of
them in turn as the admin (`X-Debug-User`, rate limit off) through the app with raw
ASGI calls, `--rounds` times over all the ids after one pass to warm up, and prints
microseconds of elapsed time and of this process's CPU per request (the best round),
and the prepared operations' hits and misses (the access log at `info`, to /dev/null).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson

from bench.edge import GRAPHQL_PATH, Case, Timing, drive, json_headers
from gateway.app import create_app
from gateway.container import build_container
from gateway.observability.logging import configure_logging
from gateway.settings import Settings
from persistence import migrate, seed
from persistence.database import create_engine
from schema.node import to_global_id

QUERY = "query Item($id: ID!) { item(id: $id) { id sku name stock } }"
ADMIN = (b"x-debug-user", b"1")


async def _seeded(database_url: str, ids: int) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        await seed.seed(engine, users=2, items=ids, orders=0, seed=7)
    finally:
        await engine.dispose()


async def _round(cases: list[Case]) -> Timing:
    timings = [await drive(case, 1) for case in cases]
    count = len(timings)
    return Timing(sum(t.wall_us for t in timings) / count, sum(t.cpu_us for t in timings) / count)


async def run(database_url: str, ids: int, rounds: int) -> dict[str, Any]:
    await _seeded(database_url, ids)
    settings = Settings(
        database={"url": database_url},
        security={"allow_debug_identity": True, "secret_key": "x" * 40},
        rate_limit={"enabled": False},
        log_level="info",
    )
    container = build_container(settings)
    app = create_app(settings, container)
    cases = []
    for key in range(1, ids + 1):
        body = orjson.dumps({"query": QUERY, "variables": {"id": to_global_id("Item", key)}})
        cases.append(Case(app, GRAPHQL_PATH, (*json_headers(body), ADMIN), "POST", body))
    async with app.router.lifespan_context(app):
        await _round(cases)  # warm-up: every id asked once
        best = min([await _round(cases) for _ in range(rounds)])
    prepared = container.prepared
    await container.aclose()
    return {
        "ids": ids,
        "wall_us": round(best.wall_us, 1),
        "cpu_us": round(best.cpu_us, 1),
        "prepared_hits": None if prepared is None else prepared.hits,
        "prepared_misses": None if prepared is None else prepared.misses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.by_id", description=__doc__)
    parser.add_argument("--ids", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", help="an empty database (default: SQLite, temporary)")
    args = parser.parse_args()
    if not 1 <= args.ids <= 100_000 or not 1 <= args.rounds <= 20:
        raise SystemExit("--ids in 1..100000, --rounds in 1..20")
    with tempfile.TemporaryDirectory() as tmp, Path("/dev/null").open("wb") as logs:
        configure_logging("prod", "info", output=logs)  # the access log, written away
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'by_id.db'}"
        print(orjson.dumps(asyncio.run(run(url, args.ids, args.rounds))).decode())


if __name__ == "__main__":
    main()
