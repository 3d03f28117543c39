"""`python -m bench.edge`: the cost of the gateway's HTTP edge, without a server or a socket.

Drives `GET /health/live` through the app built by `gateway.app.create_app` (defaults:
SQLite in a temporary directory, rate limit off) with raw ASGI calls in one event loop,
and the same through a bare Starlette app with one route, the baseline; then the JWKS
route, which tracing does not exclude. Each with and without an incoming `traceparent`.
Last, `POST /graphql` with `{ __typename }` and the same as a persisted query (APQ,
hash only): the edge plus a whole trivial GraphQL request. The read planner is on, on
SQLite as on Postgres (`--database-url postgresql+asyncpg://...`, no tables needed), so
both are answered as prepared operations, the path `make bench` measures.
Prints microseconds per request (best of `--rounds`) and the ratio to the baseline.
The routes do little, so the difference is mostly the middleware stack.

Timings here swing with the machine's load; for a before/after of a code change,
instructions are steadier: `perf stat -e instructions:u` around two runs with
different `-n` gives instructions per request from the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.observability.logging import configure_logging
from gateway.settings import Settings

type ASGI = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

MAX_REQUESTS = 200_000
PATH = "/health/live"
# Not excluded from tracing, unlike the probes: the OpenTelemetry middleware does its work.
TRACED_PATH = "/.well-known/jwks.json"
TRACEPARENT = (b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
BASE_HEADERS = ((b"host", b"gateway.test"), (b"user-agent", b"bench-edge"), (b"accept", b"*/*"))
GRAPHQL_PATH = "/graphql"
GRAPHQL_BODY = b'{"query":"{ __typename }"}'


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


async def drive(case: Case, requests: int) -> float:
    """Seconds for `requests` sequential requests of `case`; fails on any status but 200."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": case.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(requests):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": case.method,
            "scheme": "http",
            "path": case.path,
            "raw_path": case.path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": list(case.headers),
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        await case.app(scope, receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200} or len(statuses) != requests:
        raise SystemExit(f"unexpected statuses: {sorted(set(statuses))}")
    return elapsed


async def best_us(case: Case, requests: int, rounds: int) -> float:
    await drive(case, min(requests, 1000))  # warm-up: middleware stack, caches
    best = min([await drive(case, requests) for _ in range(rounds)])
    return best / requests * 1e6


async def run(
    requests: int,
    rounds: int,
    log_level: str,
    database_url: str | None,
    tmp: Path,
    logs: BinaryIO,
) -> None:
    configure_logging("prod", log_level, output=logs)
    settings = Settings(
        database={"url": database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"},
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
        results = {name: await best_us(case, requests, rounds) for name, case in cases.items()}
    baseline = results[f"bare starlette {PATH}"]
    print(f"{requests} requests per case, best of {rounds}, LOG_LEVEL={log_level}")
    for name, us in results.items():
        print(f"  {name:<46} {us:7.1f} µs/request {us / baseline:6.2f}x bare")


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
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.rounds <= 10:
        parser.error(f"--requests must be 1..{MAX_REQUESTS}, --rounds 1..10")
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "wb") as logs:
        asyncio.run(
            run(args.requests, args.rounds, args.log_level, args.database_url, Path(tmp), logs)
        )


if __name__ == "__main__":
    main()
