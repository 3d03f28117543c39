"""`make bench`: seed a fresh Postgres database, serve the gateway as users run it, load it.

The gateway runs in the production configuration (`PROFILE=prod`: Postgres, request
quotas, cost budget and revocations over Redis, the default log level, callers with
bearer tokens from `login`), quotas raised far above what one load generator sends so
nothing is refused: what is measured is the counting, not refusals.

Environment: BENCH_QUICK=1 (2 s per scenario, no variants), BENCH_SECONDS (10),
BENCH_CONNECTIONS (32), BENCH_SCENARIOS (`all` or a comma list of scenario names for
the main pass), BENCH_VARIANTS (`all`, `none` or a comma list of variant names),
BENCH_MUTATIONS (placeOrder requests, 2000), BENCH_PG_ADMIN (a libpq URL of the
maintenance database), BENCH_REDIS (redis://127.0.0.1:6379/0), BENCH_KEEP_DB=1,
BENCH_POSTGRAPHILE (a directory holding node_modules/postgraphile 4; default
~/.cache/python-api-base/postgraphile4, installed there with npm when Node.js is
present; `none`: not measured), BENCH_OUT (docs/benchmarks).

The nested rows' ratio to PostGraphile is measured in pairs at the end: both servers up,
each shape driven `PAIRED_ROUNDS` times in turn (PostGraphile, then the gateway), the
median of the pairs' ratios reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type hints
import httpx
import orjson

from bench import load, procstat
from bench.bare import DATABASE
from bench.png import bar_chart
from bench.report import BARE, Measurement, markdown_table, with_ratios
from bench.scenarios import BARE_READ, Scenario, build_scenarios, registration
from persistence.seed import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
# PostGraphile is installed from npm here, outside the project, when Node.js is present.
POSTGRAPHILE_HOME = Path.home() / ".cache" / "python-api-base" / "postgraphile4"
SECRET = "bench-secret-key-" + "x" * 40
ADMIN_PASSWORD = "Bench-Admin-Password-2026"  # noqa: S105  # a throwaway database
LOGIN = (
    "mutation Login($email: String!, $password: String!) "
    "{ login(email: $email, password: $password) { accessToken } }"
)


@dataclass(frozen=True, slots=True)
class Config:
    seconds: float
    warmup: float
    connections: int
    variants: tuple[str, ...]
    scenarios: tuple[str, ...] | None
    mutations: int
    pg_admin: str
    redis_url: str
    keep_db: bool
    postgraphile: Path | None
    out: Path
    gateway_port: int = 18081
    bare_port: int = 18082
    postgraphile_port: int = 18083


# Stands for the run's SQLite file, seeded as the Postgres database is (the same seed,
# so the same ids and tokens), on first use.
SQLITE = "<the run's SQLite database>"
# Each variant restarts the gateway with these settings (None: the setting removed) and
# measures these scenarios; `planner_off` gives the resolver path's figures (it runs
# whenever the planner exists).
# The embedded default's rows: SQLite is refused by the prod profile, so they run as
# `dev` with everything else of production (Redis limits, bearer callers, logging).
SQLITE_ROWS = ("apq_trivial", "by_id", "apq_by_id", "rest_by_id", "nested", "nested_orders")
VARIANTS: dict[str, tuple[dict[str, str | None], tuple[str, ...]]] = {
    # What the main rows measured before they measured production: no limits, no Redis,
    # anonymous callers, warnings only.
    "no_limits_anonymous": (
        {
            "PROFILE": "dev",
            "LOG_LEVEL": "warning",
            "RATE_LIMIT__ENABLED": "false",
            "REDIS__URL": None,
        },
        ("apq_trivial_anonymous", "by_id_anonymous"),
    ),
    "planner_off": ({"GRAPHQL__PLANNER": "false"}, ("nested_resolvers",)),
    "prepared_off": (
        {"GRAPHQL__PREPARED_OPERATIONS": "false"},
        ("trivial", "apq_trivial", "apq_by_id", "nested"),
    ),
    "caches_off": (
        {"GRAPHQL__DOCUMENT_CACHE_SIZE": "0", "GRAPHQL__PREPARED_OPERATIONS": "false"},
        ("trivial", "by_id"),
    ),
    "gc_off": (
        {"SERVER__GC_FREEZE": "false", "SERVER__GC_THRESHOLD": "0"},
        ("trivial", "nested"),
    ),
    "gc_off_planner_off": (
        {"SERVER__GC_FREEZE": "false", "SERVER__GC_THRESHOLD": "0", "GRAPHQL__PLANNER": "false"},
        ("nested_resolvers",),
    ),
    # Reads by id one statement each, as before they went together (coalesced_reads).
    "coalescing_off": (
        {"DATABASE__COALESCE_READS": "false"},
        ("by_id", "apq_by_id", "rest_by_id"),
    ),
    "asyncio_loop": ({"SERVER__LOOP": "asyncio"}, ("trivial",)),
    "h11": ({"SERVER__HTTP": "h11"}, ("trivial",)),
    "uvicorn_access_log": ({"SERVER__ACCESS_LOG": "true"}, ("trivial",)),
    # The access line's cost: the level above it.
    "log_warning": ({"LOG_LEVEL": "warning"}, ("apq_trivial",)),
    "shedding_off": ({"SERVER__MAX_CONCURRENCY": "0"}, ("overload",)),
    # One replica without Redis: the same quotas counted in process memory, revocations
    # checked against the database's rows only.
    "rate_limits_memory": ({"PROFILE": "dev", "REDIS__URL": None}, ("apq_trivial",)),
    "shedding_tight": (
        {"SERVER__MAX_CONCURRENCY": "4", "SERVER__QUEUE_TIMEOUT_MS": "100"},
        ("overload",),
    ),
    # The embedded default: the same data in a SQLite file, with the planner and without.
    "sqlite": ({"DATABASE__URL": SQLITE, "PROFILE": "dev"}, SQLITE_ROWS),
    "sqlite_planner_off": (
        {"DATABASE__URL": SQLITE, "PROFILE": "dev", "GRAPHQL__PLANNER": "false"},
        ("nested_resolvers",),
    ),
}
PLANNER_VARIANTS = ("planner_off", "gc_off_planner_off")


def config_from_env() -> Config:
    env = os.environ
    quick = env.get("BENCH_QUICK") == "1"
    seconds = float(env.get("BENCH_SECONDS", "2" if quick else "10"))
    chosen = env.get("BENCH_VARIANTS", "none" if quick else "all")
    variants = (
        tuple(VARIANTS)
        if chosen == "all"
        else tuple(v for v in chosen.split(",") if v and v != "none")
    )
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"BENCH_VARIANTS: unknown {unknown}; known: {list(VARIANTS)}")
    postgraphile = env.get("BENCH_POSTGRAPHILE", str(POSTGRAPHILE_HOME))
    scenarios = env.get("BENCH_SCENARIOS", "all")
    return Config(
        seconds=seconds,
        warmup=min(2.0, max(0.5, seconds / 5)),
        connections=int(env.get("BENCH_CONNECTIONS", "32")),
        variants=variants,
        scenarios=None if scenarios == "all" else tuple(scenarios.split(",")),
        mutations=int(env.get("BENCH_MUTATIONS", "300" if quick else "2000")),
        pg_admin=env.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        redis_url=env.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"),
        keep_db=env.get("BENCH_KEEP_DB") == "1",
        postgraphile=Path(postgraphile) if postgraphile not in ("", "none") else None,
        out=Path(env.get("BENCH_OUT", str(ROOT / "docs" / "benchmarks"))),
    )


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# Processes -------------------------------------------------------------------------------


# The load generator's priority where we may raise it (root): Postgres shares both cores
# with the server and wrk, and a backend holding wrk's core delays wrk's reading of a
# reply already sent, which wrk then counts as the server's latency. A load generator on
# its own machine would not wait; at -10 it takes its core back as soon as it wakes. (At
# the nested query's knee, alternating 8 s runs gave p99/p50 1.81-1.86 with it against
# 2.04-2.31 without; other runs overlapped: run-to-run noise is as large.)
LOAD_NICE = -10


def load_priority() -> list[str]:
    """A `nice` prefix raising the load generator's priority, when we are allowed to."""
    if os.geteuid() == 0 and shutil.which("nice"):
        return ["nice", "-n", str(LOAD_NICE)]
    return []


def pinning() -> tuple[list[str], list[str]]:
    """Prefixes: the server on core 0, the load generator on core 1 (at a raised priority)."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", "0"], [*load_priority(), "taskset", "-c", "1"]
    return [], load_priority()


@dataclass
class Server:
    """A process we started (stopped by its PID only), up once `probe` answers 200."""

    name: str
    command: list[str]
    env: dict[str, str]
    base_url: str
    probe: load.Request
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 240.0) -> None:
        host, port = self.base_url.split("://", 1)[1].rsplit(":", 1)
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), 1):
            # Something else answers there: measuring it would be measuring a stranger.
            raise RuntimeError(f"{self.name}: port {port} is already in use")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603  # our own command line
            self.command,
            env=self.env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log_path}")
                with contextlib.suppress(httpx.HTTPError):
                    probe = self.probe
                    answer = client.request(
                        probe.method, probe.path, headers=probe.headers, content=probe.body
                    )
                    if answer.status_code == 200:
                        return
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self.probe} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Database --------------------------------------------------------------------------------


def database_url(config: Config, name: str, driver: str = "postgresql+asyncpg") -> str:
    base = config.pg_admin.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{name}"


async def _admin(config: Config, statement: str) -> None:
    conn = await asyncpg.connect(config.pg_admin)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _lookup(config: Config, name: str) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url(config, name, "postgresql"))
    try:
        admin = await conn.fetchval("SELECT email FROM users WHERE email = 'admin@example.com'")
        customer = await conn.fetchval(
            "SELECT email FROM users WHERE email LIKE 'user%@example.com' ORDER BY id LIMIT 1"
        )
        item = await conn.fetchval("SELECT min(id) FROM items")
        # Reads by id go over every item in turn, as clients read many rows, not one.
        items = [row["id"] for row in await conn.fetch("SELECT id FROM items ORDER BY id")]
        # High stock, and every item on sale: the bounded placeOrder run takes items by id
        # in turn and must never run out or meet one a customer cannot order.
        await conn.execute("UPDATE items SET stock = 100000000, active = true")
        # As autovacuum leaves a database a minute later (this machine's server runs
        # without it): dead rows gone, the visibility map set. Without it, index-only
        # scans are costed as heap fetches and Postgres picks other plans for both
        # servers' nested reads (docs/benchmarks/design-notes.md, "Page size as a literal").
        await conn.execute("VACUUM ANALYZE")
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608  # fixed names
            for table in ("users", "items", "orders", "order_lines")
        }
    finally:
        await conn.close()
    return {
        "admin_email": admin,
        "customer_email": customer,
        "item": item,
        "items": items,
        "counts": counts,
    }


def gateway_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "gateway", *args]


# Far above what one load generator sends in a run: nothing is refused, all is counted.
# The budget is one caller's for the whole run (its variants restart the gateway, the
# Redis keys stay): at 3747d52, 190,000 nested queries of several thousand points each
# passed 10^9 points before the last rows (SQLite's nested ones), which were refused.
UNREFUSED = "1000000000/minute"
UNREFUSED_BUDGET = "1000000000000/hour"
_OWN_SETTINGS = ("REDIS__", "SERVER__", "RATE_LIMIT__", "REVOCATION__", "IDEMPOTENCY__")


def gateway_env(
    config: Config, db: str, overrides: dict[str, str | None] | None = None
) -> dict[str, str]:
    """The production configuration on the run's database, with `overrides` applied."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_OWN_SETTINGS) and k not in ("PROFILE", "LOG_LEVEL")
    }
    # Keys and channels of the run's own: the Redis is shared with other processes.
    own = f"bench-{db}"
    settings: dict[str, str | None] = {
        "PROFILE": "prod",
        "DATABASE__URL": database_url(config, db),
        "REDIS__URL": config.redis_url,
        "SECURITY__SECRET_KEY": SECRET,
        "SECURITY__ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Long enough for the whole run, variants included (restarts keep the key).
        "SECURITY__ACCESS_TOKEN_MINUTES": "240",
        "RATE_LIMIT__ENABLED": "true",
        "RATE_LIMIT__KEY_PREFIX": own,
        "RATE_LIMIT__ANONYMOUS": UNREFUSED,
        "RATE_LIMIT__USER": UNREFUSED,
        "RATE_LIMIT__ANONYMOUS_COST_BUDGET": UNREFUSED_BUDGET,
        "RATE_LIMIT__COST_BUDGET": UNREFUSED_BUDGET,
        # The login burst signs in 32 times as one account from one address.
        "RATE_LIMIT__LOGIN_PER_ACCOUNT": UNREFUSED,
        "RATE_LIMIT__LOGIN_PER_IP": UNREFUSED,
        "REVOCATION__CHANNEL": f"{own}:revocations",
        "EVENTS__STREAM": f"{own}:events",
        "IDEMPOTENCY__REDIS_PREFIX": f"{own}:idempotency:",
        "SERVER__HOST": "127.0.0.1",
        "SERVER__PORT": str(config.gateway_port),
    }
    settings.update(overrides or {})
    env.update({k: v for k, v in settings.items() if v is not None})
    return env


def prepare_database(config: Config, db: str) -> dict[str, Any]:
    asyncio.run(_admin(config, f'CREATE DATABASE "{db}"'))
    seed_database(gateway_env(config, db, SEEDING))
    return asyncio.run(_lookup(config, db))


# Seeding needs neither Redis nor the prod profile's checks.
SEEDING: dict[str, str | None] = {"PROFILE": "dev", "REDIS__URL": None}


def prepare_sqlite(config: Config, db: str, directory: Path) -> str:
    path = directory / "bench.db"
    url = f"sqlite+aiosqlite:///{path}"
    seed_database(gateway_env(config, db, {**SEEDING, "DATABASE__URL": url}))
    # As on Postgres (`_lookup`): every item on sale, so reads by id taking the items in
    # turn find each one (a customer is not shown an inactive item: REST answered 404).
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE items SET stock = 100000000, active = 1")
        conn.commit()
    return url


def seed_database(env: dict[str, str]) -> None:
    for args in (
        ["migrate", "upgrade"],
        ["seed", "--users", "1000", "--items", "500", "--orders", "10000", "--seed", "42"],
    ):
        done = subprocess.run(  # noqa: S603  # our own command line
            gateway_command(args), env=env, cwd=ROOT, capture_output=True, timeout=900, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"gateway {' '.join(args)} failed:\n{done.stderr.decode()[-2000:]}")


# Measuring -------------------------------------------------------------------------------


def sign_in(base_url: str, email: str, password: str) -> str:
    """An access token from the gateway's own `login` mutation."""
    answer = httpx.post(
        base_url + "/graphql",
        json={"query": LOGIN, "variables": {"email": email, "password": password}},
        timeout=30,
    ).json()
    if "errors" in answer:
        raise RuntimeError(f"login as {email} failed: {answer['errors']}")
    return str(answer["data"]["login"]["accessToken"])


def sql_statements(base_url: str) -> float | None:
    """The gateway's count of SQL statements sent for requests, from /metrics (None when
    not exposed); the outbox relay's background statements are counted apart."""
    try:
        text = httpx.get(base_url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return None
    match = re.search(
        r'^gateway_sql_statements_total\{origin="request"\}\s+([0-9.e+]+)$', text, re.MULTILINE
    )
    return float(match.group(1)) if match else None


def send_once(
    base_url: str, scenario: Scenario, request: load.Request | None = None
) -> httpx.Response:
    request = request or scenario.request
    return httpx.request(
        request.method,
        base_url + request.path,
        headers=request.headers,
        content=request.body or None,
        timeout=30,
    )


def drive(config: Config, base_url: str, scenario: Scenario, seconds: float) -> load.LoadResult:
    _, load_pin = pinning()
    connections = scenario.connections or config.connections
    max_requests = config.mutations if scenario.bounded else None
    if shutil.which("wrk"):
        return load.run_wrk(
            base_url,
            scenario.request,
            seconds=seconds,
            connections=connections,
            threads=1 if load_pin else 2,
            max_requests=max_requests,
            pin=load_pin,
        )
    host, port = base_url.split("://", 1)[1].split(":")
    return asyncio.run(
        load.run_asyncio(
            host,
            int(port),
            scenario.request,
            seconds=seconds,
            connections=connections,
            max_requests=max_requests,
        )
    )


async def _backend_pids(config: Config, db: str) -> list[int]:
    conn = await asyncpg.connect(config.pg_admin)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
    finally:
        await conn.close()
    return [int(row["pid"]) for row in rows]


class PostgresCpu:
    """CPU seconds of the Postgres backends serving the run's database, between two reads.

    Backends are found in pg_stat_activity (the database is the run's own) and read
    from /proc, so Postgres must run on this machine; a backend that started in between
    counts from zero, one that ended is lost (the pools keep theirs open).
    """

    def __init__(self, config: Config, db: str | None) -> None:
        self._config, self._db = config, db
        self._before: dict[int, float] = {}

    def _read(self) -> dict[int, float] | None:
        if self._db is None:
            return None
        try:
            pids = asyncio.run(_backend_pids(self._config, self._db))
        except (OSError, asyncpg.PostgresError):
            return None
        seconds: dict[int, float] = {}
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                seconds[pid] = procstat.cpu_seconds(pid)
        return seconds

    def start(self) -> None:
        self._before = self._read() or {}

    def seconds(self) -> float | None:
        after = self._read()
        if after is None:
            return None
        return sum(max(0.0, cpu - self._before.get(pid, 0.0)) for pid, cpu in after.items())


def measure(
    config: Config, server: Server, scenario: Scenario, title: str, db: str | None = None
) -> Measurement:
    say(f"{title} ...")
    try:
        register = registration(scenario)
        if register is not None:
            send_once(server.base_url, scenario, register)
        first = send_once(server.base_url, scenario)
        if first.status_code >= 400 or b'"errors"' in first.content[:20_000]:
            return Measurement(scenario.name, title, note=f"refused: {first.text[:160]}")
        before_sql = sql_statements(server.base_url) if scenario.target != "bare" else None
        send_once(server.base_url, scenario)
        after_sql = sql_statements(server.base_url) if scenario.target != "bare" else None
        sql = (
            after_sql - before_sql
            if before_sql is not None and after_sql is not None
            # The bare app's one statement is its read's (none for its JSON route).
            else (float(scenario.name == BARE_READ) if scenario.target == "bare" else None)
        )
        if not scenario.bounded:
            drive(config, server.base_url, scenario, config.warmup)
        procstat.reset_peak_rss(server.pid)
        postgres = PostgresCpu(config, db)
        postgres.start()
        cpu_before = procstat.cpu_seconds(server.pid)
        loaded_sql = sql_statements(server.base_url) if sql else None
        result = drive(config, server.base_url, scenario, config.seconds)
        cpu = procstat.cpu_seconds(server.pid) - cpu_before
        pg_cpu = postgres.seconds()
        # Requests answered by the application: a shed request (503) sends no statement.
        answered = result.requests - result.non_2xx
        loaded_sql = _under_load(loaded_sql, sql_statements(server.base_url), answered)
    except (httpx.HTTPError, RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:
        return Measurement(scenario.name, title, note=f"failed: {exc}"[:200])
    measured = Measurement(
        scenario=scenario.name,
        title=title,
        requests=result.requests,
        duration_s=result.duration_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        errors=result.errors,
        non_2xx=result.non_2xx,
        cpu_ms_per_request=cpu * 1000 / result.requests if result.requests else None,
        peak_rss_mb=procstat.peak_rss_mb(server.pid),
        sql_per_request=sql,
        pg_cpu_ms_per_request=(
            pg_cpu * 1000 / result.requests if pg_cpu is not None and result.requests else None
        ),
        rival=scenario.rival,
        note=scenario.note,
    )
    if loaded_sql is not None and sql and loaded_sql < 0.95 * sql:
        # Reads by id of one turn sent together (persistence/coalesced_reads.py).
        together = f"under load {loaded_sql:.2f} SQL statements a request"
        measured = replace(measured, note="; ".join(filter(None, (measured.note, together))))
    say(f"  {measured.rps or 0:,.1f} req/s, p99 {measured.p99_ms} ms")
    return measured


def _under_load(before: float | None, after: float | None, requests: int) -> float | None:
    """Statements a request over the load (a statement may serve several requests)."""
    if before is None or after is None or not requests:
        return None
    return (after - before) / requests


# Dense where the nested query's curve bends on two cores (between 2 and 6), so the knee
# found is the bend itself rather than the next doubling past it.
KNEE_CONNECTIONS = (1, 2, 3, 4, 6, 8, 16, 32)


def knee(config: Config, server: Server, scenario: Scenario) -> Measurement:
    """The throughput curve over connection counts, and the figures at its knee.

    The knee is the fewest connections reaching 90% of the best rate: past it, more
    connections only queue. Its p99/p50 is the latency target's measure.
    """
    title = f"{scenario.title}, at the knee of the throughput curve"
    # As long as a scenario: shorter samples make p99 the noise of a few requests.
    seconds = config.seconds
    curve: list[dict[str, Any]] = []
    say(f"{title} ...")
    for connections in KNEE_CONNECTIONS:
        point = replace(scenario, connections=connections)
        cpu_before = procstat.cpu_seconds(server.pid)
        result = drive(config, server.base_url, point, seconds)
        cpu = procstat.cpu_seconds(server.pid) - cpu_before
        if not result.requests:
            return Measurement(scenario.name + "_knee", title, note="failed: no requests")
        curve.append(
            {
                "connections": connections,
                "rps": result.requests / result.duration_s,
                "p50_ms": result.p50_ms,
                "p99_ms": result.p99_ms,
                "cpu_ms_per_request": cpu * 1000 / result.requests,
                "requests": result.requests,
                "duration_s": result.duration_s,
                "errors": result.errors + result.non_2xx,
            }
        )
        say(f"  {connections} connections: {curve[-1]['rps']:,.1f} req/s, p99 {result.p99_ms} ms")
    best = max(point["rps"] for point in curve)
    at = next(point for point in curve if point["rps"] >= 0.9 * best)
    return Measurement(
        scenario=scenario.name + "_knee",
        title=title,
        requests=at["requests"],
        duration_s=at["duration_s"],
        p50_ms=at["p50_ms"],
        p99_ms=at["p99_ms"],
        errors=at["errors"],
        cpu_ms_per_request=at["cpu_ms_per_request"],
        peak_rss_mb=procstat.peak_rss_mb(server.pid),
        rival=scenario.rival,
        note=knee_note(at, curve[0]),
        extra={"curve": curve, "p99_over_p50": p99_over_p50(at)},
    )


def p99_over_p50(point: dict[str, Any]) -> float | None:
    """A curve point's p99 over its p50; None when either is missing."""
    p50, p99 = point["p50_ms"], point["p99_ms"]
    return p99 / p50 if p50 and p99 else None


def _spread(point: dict[str, Any]) -> str:
    spread = p99_over_p50(point)
    return "n/a" if spread is None else f"{spread:.2f}"


def knee_note(at: dict[str, Any], first: dict[str, Any]) -> str:
    """The knee row's note: where it is, its p99/p50, and the same at the curve's first
    point, where nothing queues (a ratio already high there is the machine's, not load's)."""
    floor = "" if first is at else f" ({_spread(first)} at {_connections(first)})"
    return f"{_connections(at)}; p99/p50 {_spread(at)}{floor}; curve in results.json"


def _connections(point: dict[str, Any]) -> str:
    count = int(point["connections"])
    return f"{count} connection{'' if count == 1 else 's'}"


def run_fanout(config: Config, server: Server) -> Measurement:
    """bench/fanout.py (written with the realtime work), when present."""
    script = ROOT / "bench" / "fanout.py"
    title = "subscription fan-out"
    if not script.exists():
        return Measurement("fanout", title, note="n/a: bench/fanout.py does not exist yet")
    # It starts its own gateway (SQLite, in-process bus): `server` is not used.
    env = dict(os.environ)
    args = ["--subscribers", "100", "1000", "--seconds", str(min(config.seconds, 5.0))]
    try:
        done = subprocess.run(  # noqa: S603  # our own command line
            [sys.executable, "-m", "bench.fanout", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=config.seconds * 3 + 120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Measurement("fanout", title, note="failed: bench/fanout.py timed out")
    with contextlib.suppress(ValueError):
        figures = json.loads(done.stdout)
        if isinstance(figures, dict):
            return Measurement("fanout", title, note=fanout_note(figures), extra=figures)
    last = (done.stderr.strip().splitlines() or [""])[-1]
    return Measurement("fanout", title, note=f"exit {done.returncode}: {last[:160]}")


LOGIN_BURST = 32


async def _logins(base_url: str, email: str, password: str, count: int) -> list[str]:
    """Each login's outcome: `ok`, or the error code it was answered with."""
    body = {"query": LOGIN, "variables": {"email": email, "password": password}}
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post("/graphql", json=body) for _ in range(count)), return_exceptions=True
        )
    outcomes = []
    for answer in answers:
        if not isinstance(answer, httpx.Response):
            outcomes.append(type(answer).__name__)
            continue
        errors = answer.json().get("errors") if answer.content else None
        if answer.status_code == 200 and not errors:
            outcomes.append("ok")
        else:
            code = (errors or [{}])[0].get("extensions", {}).get("code")
            outcomes.append(str(code or answer.status_code))
    return outcomes


def login_burst(server: Server, email: str, password: str) -> Measurement:
    """`LOGIN_BURST` logins at once, inside a peak-RSS window of their own.

    Each login hashes the password with argon2id (46 MiB by default while it runs): the peak
    resident memory of the gateway includes whatever the burst takes at once.
    """
    title = f"burst of {LOGIN_BURST} concurrent logins"
    say(f"{title} ...")
    procstat.reset_peak_rss(server.pid)
    cpu_before = procstat.cpu_seconds(server.pid)
    started = time.monotonic()
    outcomes = asyncio.run(_logins(server.base_url, email, password, LOGIN_BURST))
    elapsed = time.monotonic() - started
    cpu = procstat.cpu_seconds(server.pid) - cpu_before
    ok = outcomes.count("ok")
    refused = {code: outcomes.count(code) for code in sorted(set(outcomes) - {"ok"})}
    measured = Measurement(
        scenario="login_burst",
        title=title,
        requests=ok,
        duration_s=elapsed,
        errors=len(outcomes) - ok,
        cpu_ms_per_request=cpu * 1000 / len(outcomes),
        peak_rss_mb=procstat.peak_rss_mb(server.pid),
        note=(
            f"{LOGIN_BURST} sent at once, {ok} signed in, the last answer after {elapsed:.1f} s"
            + "".join(f"; {count} answered {code}" for code, count in refused.items())
        ),
        extra={"outcomes": outcomes},
    )
    say(f"  {ok} signed in in {elapsed:.1f} s, peak RSS {measured.peak_rss_mb} MB")
    return measured


def fanout_note(figures: dict[str, Any]) -> str:
    """One line per subscriber count: delivery latency and whether every event arrived."""
    parts = []
    for run in figures.get("scenarios", []):
        latency = run.get("latency_ms") or {}
        delivered = run.get("deliveries") == run.get("deliveries_expected")
        parts.append(
            f"{run.get('subscribers')} subscribers: p50 {latency.get('p50')} ms, "
            f"p99 {latency.get('p99')} ms, {run.get('memory_per_connection_kib')} KiB each, "
            + ("every event delivered" if delivered else "events lost")
        )
    return "; ".join(parts) or "see results.json"


def rest_exists(server: Server, scenario: Scenario) -> bool:
    return send_once(server.base_url, scenario).status_code != 404


def planner_setting_exists() -> bool:
    from gateway.settings import GraphQLSettings

    return "planner" in GraphQLSettings.model_fields


# The run ---------------------------------------------------------------------------------


def environment(config: Config, counts: dict[str, int]) -> dict[str, Any]:
    def version(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
        except OSError:
            return "absent"
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else ""

    server_pin, _ = pinning()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "pinned": bool(server_pin),
        "load_nice": LOAD_NICE if load_priority() else 0,
        "load_generator": "wrk" if shutil.which("wrk") else "asyncio (bench/load.py)",
        "wrk": version(["wrk", "-v"]) if shutil.which("wrk") else "absent",
        "connections": config.connections,
        "seconds": config.seconds,
        "dataset": counts,
        "git": version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "gateway": (
            "uvicorn, 1 worker, PROFILE=prod (Postgres; request quotas, cost budget and "
            "revocations over Redis, quotas raised so nothing is refused), LOG_LEVEL=info "
            "(the default: an access line a request), callers signed in with bearer tokens "
            "from `login`; [sqlite] rows run PROFILE=dev (prod refuses SQLite) with the rest "
            "alike; [no_limits_anonymous] is the configuration the main rows measured before "
            "(no limits, no Redis, anonymous, LOG_LEVEL=warning)"
        ),
    }


def write_results(config: Config, env: dict[str, Any], results: list[Measurement]) -> None:
    config.out.mkdir(parents=True, exist_ok=True)
    rows = with_ratios(results)
    document = {"environment": env, "results": rows}
    (config.out / "results.json").write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    )
    table = markdown_table(rows)
    header = (
        "# Benchmark results\n\n"
        f"{env['date']}, git {env['git']}, {env['cpus']} CPUs (load average at start "
        f"{', '.join(f'{x:.1f}' for x in env['load_average'])}), server pinned: "
        f"{env['pinned']}; {env['load_generator']} (nice {env['load_nice']}), "
        f"{config.connections} connections, "
        f"{config.seconds:g} s per scenario. Dataset: {env['dataset']}.\n"
        f"Gateway: {env['gateway']}. `vs bare` is requests/s relative to the bare "
        "Starlette route measured in the same run; the bare route reading one row by id "
        "(one asyncpg read a request, nothing else) is the floor of one statement a request; "
        "the gateway's reads by id of one event-loop turn go as one statement. "
        "Rows in brackets restart the gateway "
        "with one tuning turned off. Regenerate with `make bench`.\n\n"
    )
    (config.out / "results.md").write_text(header + table)
    chart = [row["rps_ratio_to_bare"] for row in rows]
    (config.out / "results.png").write_bytes(bar_chart(chart))
    say(f"wrote {config.out}/results.{{json,md,png}}")
    print(table)


def main() -> None:
    config = config_from_env()
    if not shutil.which("wrk") and shutil.which("apt-get") and os.geteuid() == 0:
        say("installing wrk (apt-get) ...")
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, check=False)  # noqa: S607
    if not reachable(config.redis_url):
        raise SystemExit(
            f"bench: nothing answers at BENCH_REDIS={config.redis_url}; the production "
            "configuration counts its limits there"
        )
    db = f"bench_{time.strftime('%Y%m%d_%H%M%S')}_{os.getpid()}"
    logs = Path(tempfile.gettempdir()) / db
    logs.mkdir(parents=True, exist_ok=True)
    say(f"database {db}; server logs in {logs}")
    server_pin, _ = pinning()
    try:
        ids = prepare_database(config, db)
        results: list[Measurement] = []
        gateway = Server(
            "gateway",
            [*server_pin, *gateway_command(["serve"])],
            gateway_env(config, db),
            f"http://127.0.0.1:{config.gateway_port}",
            load.Request("GET", "/health/live", {}),
            logs / "gateway.log",
        )
        with running(gateway):
            ids["admin_token"] = sign_in(gateway.base_url, ids["admin_email"], ADMIN_PASSWORD)
            ids["customer_token"] = sign_in(gateway.base_url, ids["customer_email"], DEMO_PASSWORD)
        scenarios = build_scenarios(ids, config.connections)
        by_name = {s.name: s for s in scenarios}
        chosen = config.scenarios
        bare = Server(
            "bare",
            [
                *server_pin,
                sys.executable,
                "-m",
                "uvicorn",
                "bench.bare:app",
                "--port",
                str(config.bare_port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            {**os.environ, DATABASE: database_url(config, db, "postgresql")},
            f"http://127.0.0.1:{config.bare_port}",
            load.Request("GET", "/json", {}),
            logs / "bare.log",
        )
        with running(bare):
            results.append(measure(config, bare, by_name[BARE], by_name[BARE].title))
            if chosen is None or BARE_READ in chosen:
                floor = by_name[BARE_READ]
                results.append(measure(config, bare, floor, floor.title, db))
        # The gateway's pool is open from here: its backends' CPU is what each row reads.
        planner = planner_setting_exists()

        def wanted(name: str) -> bool:
            return chosen is None or name in chosen

        with running(gateway):
            for scenario in scenarios:
                if scenario.target != "gateway" or scenario.variant_only:
                    continue
                # `nested_knee` alone measures the knee without the 32-connection row.
                knee_wanted = scenario.name == "nested" and planner and wanted("nested_knee")
                if not wanted(scenario.name) and not knee_wanted:
                    continue
                if scenario.name.startswith("rest") and not rest_exists(gateway, scenario):
                    results.append(
                        Measurement(scenario.name, scenario.title, note="n/a: no REST route")
                    )
                    continue
                title = scenario.title
                if scenario.name.startswith("nested"):
                    title += " via the planner" if planner else " (no planner yet)"
                if wanted(scenario.name):
                    results.append(measure(config, gateway, scenario, title, db))
                if knee_wanted:
                    results.append(knee(config, gateway, scenario))
            if chosen is None or "login_burst" in chosen:
                results.append(login_burst(gateway, ids["customer_email"], DEMO_PASSWORD))
            if chosen is None or "fanout" in chosen:
                results.append(run_fanout(config, gateway))
        variants = list(config.variants)
        sqlite_url = ""
        if planner and "planner_off" not in variants:
            variants.insert(0, "planner_off")
        for variant in variants:
            if variant in PLANNER_VARIANTS and not planner:
                continue
            overrides, names = VARIANTS[variant]
            on_sqlite = SQLITE in overrides.values()
            if on_sqlite:
                sqlite_url = sqlite_url or prepare_sqlite(config, db, logs)
                overrides = {k: sqlite_url if v == SQLITE else v for k, v in overrides.items()}
            restarted = replace(gateway, env=gateway_env(config, db, overrides), process=None)
            restarted.log_path = logs / f"gateway-{variant}.log"
            with running(restarted):
                for name in names:
                    scenario = by_name[name]
                    named = scenario.title if variant == "planner_off" else None
                    results.append(
                        measure(
                            config,
                            restarted,
                            scenario,
                            named or f"{scenario.title} [{variant}]",
                            None if on_sqlite else db,
                        )
                    )
        rivals, pairs = postgraphile(config, db, server_pin, logs, gateway, scenarios)
        results = with_pairs(results, pairs) + rivals
        write_results(config, environment(config, ids["counts"]), results)
    finally:
        if not config.keep_db:
            with contextlib.suppress(Exception):
                asyncio.run(_admin(config, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))


def reachable(url: str) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parsed = httpx.URL(url)
    try:
        with socket.create_connection((parsed.host, parsed.port or 6379), timeout=2):
            return True
    except OSError:
        return False


def install_postgraphile(home: Path) -> str | None:
    """`npm install postgraphile@4` into `home` (outside the project) unless there; None if done."""
    if (home / "node_modules" / "postgraphile" / "cli.js").exists():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "n/a: no npm to install PostGraphile with"
    say(f"installing PostGraphile 4 into {home} (npm) ...")
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(  # noqa: S603  # our own fixed command line
        [npm, "install", "--prefix", str(home), "--no-audit", "--no-fund", "postgraphile@4"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        return f"n/a: npm install postgraphile@4 failed: {done.stderr.strip()[-120:]}"
    return None


# PostGraphile's shapes of the nested queries (its `--simple-collections only` lists).
POSTGRAPHILE_QUERIES = {
    "postgraphile": (
        "PostGraphile 4, nested query (20 users)",
        "{ allUsersList(first: 20, orderBy: ID_ASC) { ordersByCustomerIdList(first: 10, "
        "orderBy: ID_ASC) { orderLinesByOrderIdList { quantity itemByItemId { name "
        "priceCents } } } } }",
    ),
    "postgraphile_orders": (
        "PostGraphile 4, nested query (latest 50 orders)",
        "{ allOrdersList(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC]) { id status "
        "createdAt userByCustomerId { name email } orderLinesByOrderIdList { quantity "
        "itemByItemId { name priceCents } } } }",
    ),
}


# Runs of each nested shape, PostGraphile's and ours in turn: the machine's load moves
# between minutes, and the two rows of one shape measured minutes apart (ours in the main
# pass, PostGraphile's at the end) moved their ratio by more than a third between runs
# (1.89x and 2.97x for the orders shape, minutes apart, same code).
PAIRED_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Pairs:
    """The rounds of one shape: (PostGraphile's req/s, ours) each, measured back to back."""

    rounds: tuple[tuple[float, float], ...]

    @property
    def ratio(self) -> float:
        """The median of the rounds' ratios (ours over PostGraphile's)."""
        return statistics.median(ours / theirs for theirs, ours in self.rounds)

    def note(self) -> str:
        ratios = ", ".join(f"{ours / theirs:.2f}x" for theirs, ours in self.rounds)
        return f"vs PostGraphile: median of {len(self.rounds)} alternated pairs ({ratios})"


def with_pairs(results: Sequence[Measurement], pairs: dict[str, Pairs]) -> list[Measurement]:
    """The rows, the main pass's row of each paired shape (the first of its name; a
    variant's rows come later) given its ratio to PostGraphile from the pairs."""
    rows: list[Measurement] = []
    seen: set[str] = set()
    for measurement in results:
        paired = pairs.get(measurement.scenario)
        if paired is not None and measurement.measured and measurement.scenario not in seen:
            measurement = replace(
                measurement,
                note="; ".join(filter(None, (measurement.note, paired.note()))),
                extra={**measurement.extra, "rival_ratio": paired.ratio, "pairs": paired.rounds},
            )
        seen.add(measurement.scenario)
        rows.append(measurement)
    return rows


def postgraphile(
    config: Config,
    db: str,
    server_pin: list[str],
    logs: Path,
    gateway: Server,
    scenarios: Sequence[Scenario],
) -> tuple[list[Measurement], dict[str, Pairs]]:
    """PostGraphile 4 in production mode on the same database, each nested shape in its own
    rows; each run of it followed by one of ours on the same shape (`PAIRED_ROUNDS`).
    PostGraphile's row is its round with the median rate."""

    def none(note: str) -> tuple[list[Measurement], dict[str, Pairs]]:
        rows = [
            Measurement(name, title, note=note) for name, (title, _) in POSTGRAPHILE_QUERIES.items()
        ]
        return rows, {}

    if config.postgraphile is None:
        return none("not run: BENCH_POSTGRAPHILE=none")
    if shutil.which("node") is not None:
        refused = install_postgraphile(config.postgraphile)
        if refused is not None:
            return none(refused)
    cli = config.postgraphile / "node_modules" / "postgraphile" / "cli.js"
    node = shutil.which("node")
    if node is None or not cli.exists():
        return none(f"n/a: no node or no {cli}")
    server = Server(
        "postgraphile",
        [
            *server_pin,
            node,
            str(cli),
            "-c",
            database_url(config, db, "postgres"),
            "--port",
            str(config.postgraphile_port),
            "--host",
            "127.0.0.1",
            "--disable-query-log",
            "--simple-collections",
            "only",
        ],
        # As it is deployed: production mode (no development-only checks and messages).
        {**os.environ, "NODE_ENV": "production"},
        f"http://127.0.0.1:{config.postgraphile_port}",
        load.Request(
            "POST", "/graphql", {"content-type": "application/json"}, b'{"query":"{__typename}"}'
        ),
        logs / "postgraphile.log",
    )
    ours = {
        s.rival: s
        for s in scenarios
        if s.rival
        and s.target == "gateway"
        and not s.variant_only
        and (config.scenarios is None or s.name in config.scenarios)
    }
    rows: list[Measurement] = []
    pairs: dict[str, Pairs] = {}
    again = replace(gateway, process=None, log_path=logs / "gateway-paired.log")
    try:
        # Both served at once, pinned alike; the one not driven idles.
        with running(server), running(again) if ours else contextlib.nullcontext():
            for name, (title, query) in POSTGRAPHILE_QUERIES.items():
                theirs = Scenario(
                    name=name,
                    title=title,
                    target="postgraphile",
                    request=load.Request(
                        "POST",
                        "/graphql",
                        {"content-type": "application/json"},
                        orjson.dumps({"query": query}),
                    ),
                    note="1 SQL statement (PostGraphile's own), NODE_ENV=production",
                )
                mine = ours.get(name)
                runs: list[Measurement] = []
                rounds: list[tuple[float, float]] = []
                for _ in range(PAIRED_ROUNDS if mine else 1):
                    runs.append(measure(config, server, theirs, title, db))
                    if mine is None:
                        continue
                    paired = measure(config, again, mine, f"{mine.title} (paired)", db)
                    if runs[-1].rps and paired.rps:
                        rounds.append((runs[-1].rps, paired.rps))
                median = sorted(runs, key=lambda m: m.rps or 0.0)[len(runs) // 2]
                rows.append(median)
                if mine is not None and len(rounds) == PAIRED_ROUNDS:
                    pairs[mine.name] = Pairs(tuple(rounds))
    except RuntimeError as exc:
        return none(f"failed: {exc}"[:200])
    return rows, pairs


if __name__ == "__main__":
    main()
