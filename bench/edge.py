"""`python -m bench.edge`: the cost of the gateway's HTTP edge, without a server or a socket.

Drives `GET /health/live` through the app built by `gateway.app.create_app` (defaults:
SQLite in a temporary directory, rate limit off) with raw ASGI calls in one event loop,
and the same through a bare Starlette app with one route, the baseline; then the JWKS
route, which tracing does not exclude. Each with and without an incoming `traceparent`.
Last, `POST /graphql` with `{ __typename }` and the same as a persisted query (APQ,
hash only): the edge plus a whole trivial GraphQL request. The read planner is on, on
SQLite as on Postgres (`--database-url postgresql+asyncpg://...`, no tables needed), so
both are answered as prepared operations, the path `make bench` measures.
Then the production configuration's cases (skipped with `--no-prod` or when nothing
answers at `--redis-url`; the database is migrated for them): the same persisted
query, anonymous and from a caller with a bearer token, with the request quota and
cost budget counted in Redis (quotas far above the load), the revocation check, and
the access log written at the default level (`info`, JSON, to /dev/null); then, as the
bearer caller, `item(id)` with four fields and REST `GET /api/v1/items/{id}` on an item
the run creates (a read by id through the planner and the prepared path; on Postgres
with `--database-url`, as production reads).
Prints microseconds per request, elapsed and this process's CPU (best of `--rounds`),
and their ratios to the baseline. `--only TEXT` keeps the cases whose name has TEXT.

Timings here swing with the machine's load (elapsed time most: a Redis round trip
waits for the Redis server's turn on a busy machine); for a before/after of a code
change, instructions are steadier where the CPU exposes them: `perf stat -e
instructions:u` around two runs with different `-n` gives instructions per request
from the difference. Without hardware counters (most VMs), compare the CPU column.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.tokens import TokenKind
from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.observability.logging import configure_logging
from gateway.settings import Settings
from persistence import migrate

type ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

MAX_REQUESTS = 200_000
PATH = "/health/live"
# Not excluded from tracing, unlike the probes: the OpenTelemetry middleware does its work.
TRACED_PATH = "/.well-known/jwks.json"
TRACEPARENT = (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
BASE_HEADERS = ((b"host", b"gateway.test"), (b"user-agent", b"bench-edge"), (b"accept", b"*/*"))
GRAPHQL_PATH = "/graphql"
GRAPHQL_BODY = b'{"query":"{ __typename }"}'
BY_ID = "query Item($id: ID!) { item(id: $id) { id sku name stock } }"
CREATE_ITEM = "mutation Create($input: CreateItemInput!) { createItem(input: $input) { id } }"


def json_headers(body: bytes) -> tuple[tuple[bytes, bytes], ...]:
    return (
        *BASE_HEADERS,
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    )


GRAPHQL_HEADERS = json_headers(GRAPHQL_BODY)
_TRIVIAL_HASH = hashlib.sha256(b"{ __typename }").hexdigest()
_PERSISTED = {"persistedQuery": {"version": 1, "sha256Hash": _TRIVIAL_HASH}}
APQ_BODY = orjson.dumps({"extensions": _PERSISTED})
APQ_REGISTRATION = orjson.dumps({"query": "{ __typename }", "extensions": _PERSISTED})
APQ_HEADERS = json_headers(APQ_BODY)


@dataclass(frozen=True)
class Case:
    app: ASGI
    path: str
    headers: tuple[tuple[bytes, bytes], ...]
    method: str = "GET"
    body: bytes = b""


async def _live(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def bare_app() -> Starlette:
    return Starlette(routes=[Route(PATH, _live, methods=["GET"])])


@dataclass(frozen=True, order=True)
class Timing:
    """Microseconds a request: elapsed, and this process's CPU time (user + system)."""

    wall_us: float
    cpu_us: float


def _scope(case: Case) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": case.method,
        "scheme": "http",
        "path": unquote(case.path),  # ASGI: decoded; `case.path` is as sent
        "raw_path": case.path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": list(case.headers),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def drive(case: Case, requests: int) -> Timing:
    """`requests` sequential requests of `case`, timed; fails on any status but 200."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": case.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(requests):
        await case.app(_scope(case), receive, send)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if set(statuses) != {200} or len(statuses) != requests:
        raise SystemExit(f"unexpected statuses: {sorted(set(statuses))}")
    return Timing(elapsed / requests * 1e6, cpu / requests * 1e6)


async def answer(case: Case) -> bytes:
    """The body `case` is answered with; fails on any status but 200."""
    body, statuses = bytearray(), []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": case.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        body.extend(message.get("body", b""))

    await case.app(_scope(case), receive, send)
    if statuses != [200]:
        raise SystemExit(f"unexpected statuses: {statuses}: {bytes(body)[:300]!r}")
    return bytes(body)


async def best_us(case: Case, requests: int, rounds: int) -> Timing:
    """The best of `rounds` (by elapsed time), after a warm-up."""
    await drive(case, min(requests, 1000))  # warm-up: middleware stack, caches
    return min([await drive(case, requests) for _ in range(rounds)])


# Far above what one loop can send in a run: the counting is measured, never a refusal.
UNREFUSED = {
    "anonymous": "1000000000/minute",
    "user": "1000000000/minute",
    "anonymous_cost_budget": "1000000000/hour",
    "cost_budget": "1000000000/hour",
}


def redis_answers(url: str) -> bool:
    parsed = redis_address(url)
    try:
        with socket.create_connection(parsed, timeout=1):
            return True
    except OSError:
        return False


def redis_address(url: str) -> tuple[str, int]:
    """(host, port) of a redis:// URL."""
    rest = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port or 6379)


async def prod_cases(
    database_url: str, redis_url: str, requests: int, rounds: int, only: str = ""
) -> dict[str, Timing]:
    """The persisted trivial query as production serves it, per caller kind."""
    settings = Settings(
        database={"url": database_url},
        redis={"url": redis_url},
        security={"secret_key": "x" * 40},
        rate_limit={**UNREFUSED, "key_prefix": f"bench-edge-{uuid.uuid4().hex}"},
        log_level="info",
    )
    await migrate.upgrade(database_url)  # the revocations table the check reads
    container: Container = build_container(settings)
    gateway = create_app(settings, container)
    token, _ = container.tokens.issue(TokenKind.ACCESS, 1, ["customer"])
    bearer = (b"authorization", f"Bearer {token}".encode())
    admin, _ = container.tokens.issue(TokenKind.ACCESS, 1, ["admin"])
    new_item = {
        "sku": f"BENCH-{uuid.uuid4().hex[:12].upper()}",
        "name": "Bench",
        "price": {"amount": "9.99", "currency": "EUR"},
        "stock": 5,
    }
    creation = orjson.dumps({"query": CREATE_ITEM, "variables": {"input": new_item}})
    created = Case(
        gateway,
        GRAPHQL_PATH,
        (*json_headers(creation), (b"authorization", f"Bearer {admin}".encode())),
        "POST",
        creation,
    )
    cases = {
        "prod: persisted { __typename }, anonymous": Case(
            gateway, GRAPHQL_PATH, APQ_HEADERS, "POST", APQ_BODY
        ),
        "prod: persisted { __typename }, bearer token": Case(
            gateway, GRAPHQL_PATH, (*APQ_HEADERS, bearer), "POST", APQ_BODY
        ),
    }
    registration = Case(
        gateway, GRAPHQL_PATH, json_headers(APQ_REGISTRATION), "POST", APQ_REGISTRATION
    )
    async with gateway.router.lifespan_context(gateway):
        await drive(registration, 1)
        # A read by id, as `make bench`'s rows: a planned (then prepared) statement.
        item_id = orjson.loads(await answer(created))["data"]["createItem"]["id"]
        by_id = orjson.dumps({"query": BY_ID, "variables": {"id": item_id}})
        cases["prod: item(id) with four fields, bearer token"] = Case(
            gateway, GRAPHQL_PATH, (*json_headers(by_id), bearer), "POST", by_id
        )
        cases["prod: REST GET /api/v1/items/{id}, bearer token"] = Case(
            gateway,
            f"/api/v1/items/{quote(item_id, safe='')}",
            (*BASE_HEADERS, (b"accept", b"application/json"), bearer),
        )
        return {
            name: await best_us(case, requests, rounds)
            for name, case in cases.items()
            if only in name
        }


async def run(
    requests: int,
    rounds: int,
    log_level: str,
    database_url: str | None,
    redis_url: str | None,
    tmp: Path,
    logs: BinaryIO,
    only: str = "",
) -> None:
    configure_logging("prod", log_level, output=logs)
    database_url = database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    settings = Settings(
        database={"url": database_url},
        security={"secret_key": "x" * 40},
        rate_limit={"enabled": False},
        log_level=log_level,
    )
    gateway = create_app(settings)
    bare = bare_app()
    traced = (*BASE_HEADERS, TRACEPARENT)
    cases = {
        f"bare starlette {PATH}": Case(bare, PATH, BASE_HEADERS),
        f"gateway {PATH}": Case(gateway, PATH, BASE_HEADERS),
        f"gateway {PATH} + traceparent": Case(gateway, PATH, traced),
        f"gateway {TRACED_PATH}": Case(gateway, TRACED_PATH, BASE_HEADERS),
        f"gateway {TRACED_PATH} + traceparent": Case(gateway, TRACED_PATH, traced),
        f"gateway POST {GRAPHQL_PATH} {{ __typename }}": Case(
            gateway, GRAPHQL_PATH, GRAPHQL_HEADERS, "POST", GRAPHQL_BODY
        ),
        f"gateway POST {GRAPHQL_PATH} persisted {{ __typename }}": Case(
            gateway, GRAPHQL_PATH, APQ_HEADERS, "POST", APQ_BODY
        ),
    }
    registration = Case(
        gateway, GRAPHQL_PATH, json_headers(APQ_REGISTRATION), "POST", APQ_REGISTRATION
    )
    async with gateway.router.lifespan_context(gateway):
        await drive(registration, 1)  # the client's first (query + hash) request
        results = {
            name: await best_us(case, requests, rounds)
            for name, case in cases.items()
            if only in name or name.startswith("bare")
        }
    if redis_url is not None:
        # Production logs at `info`: every request writes its access line.
        configure_logging("prod", "info", output=logs)
        results.update(await prod_cases(database_url, redis_url, requests, rounds, only))
    baseline = results[f"bare starlette {PATH}"]
    print(f"{requests} requests per case, best of {rounds}, LOG_LEVEL={log_level} (prod: info)")
    print(f"  {'case':<46} {'µs/request':>10} {'x bare':>7} {'CPU µs':>8} {'x bare':>7}")
    for name, timing in results.items():
        print(
            f"  {name:<46} {timing.wall_us:10.1f} {timing.wall_us / baseline.wall_us:6.2f}x"
            f" {timing.cpu_us:8.1f} {timing.cpu_us / baseline.cpu_us:6.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__)
    parser.add_argument("-n", "--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--database-url",
        help="the database, e.g. postgresql+asyncpg://... (default: a temporary SQLite file)",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="the Redis of the production cases (skipped when it does not answer)",
    )
    parser.add_argument(
        "--no-prod", action="store_true", help="skip the production configuration's cases"
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="TEXT",
        help="only the cases whose name contains TEXT (and the baseline), e.g. 'bearer'",
    )
    args = parser.parse_args()
    redis_url = None if args.no_prod or not redis_answers(args.redis_url) else args.redis_url
    if redis_url is None and not args.no_prod:
        print(f"Redis does not answer at {args.redis_url}: no production cases")
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.rounds <= 10:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}, --rounds 1..10")
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "wb") as logs:
        asyncio.run(
            run(
                args.requests,
                args.rounds,
                args.log_level,
                args.database_url,
                redis_url,
                Path(tmp),
                logs,
                args.only,
            )
        )


if __name__ == "__main__":
    main()
