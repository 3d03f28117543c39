"""Scale-out on one machine (`make scale-test`): three replicas behind nginx share quotas,
revocations, persisted queries and subscriptions; one killed with SIGKILL under load
costs only its in-flight requests; one stopped with SIGTERM drains.

The tests run in file order on one cluster: the last two take replicas b and c away.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import create_async_engine

from persistence.seed import DEMO_PASSWORD
from tests.helpers import scratch_postgres_database
from tests.scale.cluster import (
    DRAIN_SECONDS,
    USER_QUOTA,
    Cluster,
    Replica,
    nginx_binary,
    running_cluster,
)
from tests.services import require_service

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 10.0
ME = "{ me { id } }"
PLACE_ORDER = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }"""
ORDER_PLACED = "subscription { orderPlaced { id } }"
LOAD_CLIENTS = 8
LOAD_REQUESTS = 480
KILL_AFTER = 160
SUBSCRIBERS = 6
CLOSE_GOING_AWAY = 1001


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_available: bool
) -> Iterator[Cluster]:
    if os.environ.get("GW_SCALE_TEST") != "1":
        pytest.skip("the scale-out test runs with `make scale-test` (GW_SCALE_TEST=1)")
    require_service("PostgreSQL", postgres_available)
    nginx = nginx_binary()
    if nginx is None:
        pytest.fail("nginx is not installed (make scale-test installs Debian's package)")
    tmp = tmp_path_factory.mktemp("scale")
    with scratch_postgres_database("scale") as url, running_cluster(tmp, url, nginx) as running:
        yield running


# -- clients -------------------------------------------------------------------------------
async def graphql(
    http: httpx.AsyncClient,
    base: str,
    query: str | None,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    extensions: dict[str, Any] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"variables": variables or {}}
    if query is not None:
        body["query"] = query
    if extensions is not None:
        body["extensions"] = extensions
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await http.post(f"{base}/graphql", json=body, headers=headers, timeout=TIMEOUT)


async def login(http: httpx.AsyncClient, base: str, email: str) -> str | None:
    response = await graphql(
        http,
        base,
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
        {"e": email, "p": DEMO_PASSWORD},
    )
    data = response.json().get("data")
    return None if not data else str(data["login"]["accessToken"])


async def customers(http: httpx.AsyncClient, base: str, count: int, skip: int = 0) -> list[str]:
    """Tokens of `count` active demo customers (the seed deactivates a few at random)."""
    tokens: list[str] = []
    for n in range(3 + skip, 41):
        token = await login(http, base, f"user{n}@example.com")
        if token is not None:
            tokens.append(token)
        if len(tokens) == count:
            return tokens
    raise AssertionError(f"only {len(tokens)} demo customers could log in")


async def in_stock_items(http: httpx.AsyncClient, base: str, token: str) -> list[str]:
    response = await graphql(
        http,
        base,
        "{ items(first: 20, filter: {inStock: true}) { edges { node { id stock } } } }",
        token=token,
    )
    edges = response.json()["data"]["items"]["edges"]
    return [edge["node"]["id"] for edge in edges if edge["node"]["stock"] >= 100]


def errors_code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or []
    return str(errors[0]["extensions"]["code"]) if errors else None


class Subscriber:
    """A graphql-transport-ws client of `orderPlaced`, reconnecting through `url` when its
    socket drops (a killed replica): it records the order ids and every close."""

    def __init__(self, url: str, token: str, *, reconnect: bool) -> None:
        self.url, self.token, self.reconnect = url, token, reconnect
        self.orders: set[str] = set()
        self.closes: list[int | None] = []
        self.subscribed = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), TIMEOUT)
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stopping = True
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with websockets.connect(
                    self.url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
                ) as ws:
                    await ws.send(
                        json.dumps(
                            {
                                "type": "connection_init",
                                "payload": {"authorization": f"Bearer {self.token}"},
                            }
                        )
                    )
                    assert json.loads(await ws.recv())["type"] == "connection_ack"
                    await ws.send(
                        json.dumps(
                            {"id": "1", "type": "subscribe", "payload": {"query": ORDER_PLACED}}
                        )
                    )
                    self.subscribed.set()
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "next":
                            self.orders.add(message["payload"]["data"]["orderPlaced"]["id"])
                    self.closes.append(ws.close_code)
            except (OSError, websockets.ConnectionClosed) as exc:
                code = (
                    exc.rcvd.code
                    if isinstance(exc, websockets.ConnectionClosed) and exc.rcvd
                    else None
                )
                self.closes.append(code)
            if not self.reconnect:
                return
            await asyncio.sleep(0.2)


async def eventually(check: Any, seconds: float = TIMEOUT) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.1)


def log_offset(cluster: Cluster) -> int:
    return cluster.access_log.stat().st_size if cluster.access_log.exists() else 0


_LOG_LINE = re.compile(r'" (?P<status>\d{3}) .* upstream=(?P<upstream>\S+) ')


def log_lines_since(cluster: Cluster, offset: int) -> list[tuple[int, str]]:
    with cluster.access_log.open("rb") as log:
        log.seek(offset)
        text = log.read().decode()
    found = [_LOG_LINE.search(line) for line in text.splitlines()]
    return [(int(m["status"]), m["upstream"]) for m in found if m is not None]


@contextlib.asynccontextmanager
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        yield http


# -- shared state across replicas ------------------------------------------------------------
async def test_a_user_quota_holds_across_the_replicas(cluster: Cluster) -> None:
    async with client() as http:
        (token,) = await customers(http, cluster.url, 1, skip=30)
        # Keep the burst inside one minute window of the sliding-window counter: past a
        # boundary the previous window's weight fades and lets a few more through.
        if time.time() % 60 > 40:
            await asyncio.sleep(61 - time.time() % 60)
        offset = log_offset(cluster)
        semaphore = asyncio.Semaphore(10)

        async def one() -> int:
            async with semaphore:
                return (await graphql(http, cluster.url, ME, token=token)).status_code

        statuses = Counter(await asyncio.gather(*(one() for _ in range(USER_QUOTA * 3 // 2))))
    # Local reservations (RATE_LIMIT__RESERVE_FRACTION, 1% by default: C = 1 unit of this
    # quota a replica): within one window the replicas admit at most the quota, and a
    # caller is refused at most 2 x replicas x C early (gateway/limits/reservations.py).
    reserve = USER_QUOTA // 100
    assert (set(statuses), statuses.total()) == ({200, 429}, USER_QUOTA * 3 // 2)
    assert USER_QUOTA - 2 * len(cluster.replicas) * reserve <= statuses[200] <= USER_QUOTA
    served_by = {upstream for status, upstream in log_lines_since(cluster, offset) if status == 200}
    assert served_by == {cluster.upstream_of(r) for r in cluster.replicas}


async def test_a_logout_on_one_replica_is_refused_by_the_others(cluster: Cluster) -> None:
    a, b, c = cluster.replicas
    async with client() as http:
        (token,) = await customers(http, a.url, 1, skip=32)
        for replica in (b, c):
            assert (await graphql(http, replica.url, ME, token=token)).json()["data"]["me"]
        logout = await graphql(http, a.url, "mutation { logout }", token=token)
        assert logout.json()["data"] == {"logout": True}

        async def refused_by(replica: Replica) -> bool:
            response = await graphql(http, replica.url, ME, token=token)
            return response.status_code == 401 and errors_code(response) == "UNAUTHENTICATED"

        # The revocation is in Postgres at once and broadcast to each replica's copy.
        for replica in (a, b, c):
            await eventually(lambda r=replica: refused_by(r), seconds=5)


async def test_a_mutation_on_one_replica_reaches_subscribers_on_all_three(
    cluster: Cluster,
) -> None:
    a = cluster.replicas[0]
    async with client() as http:
        staff = await login(http, a.url, "staff1@example.com")
        assert staff is not None
        (customer,) = await customers(http, a.url, 1, skip=33)
        (item, *_) = await in_stock_items(http, a.url, customer)
        async with contextlib.AsyncExitStack() as stack:
            subscribers = [
                await stack.enter_async_context(Subscriber(r.ws_url, staff, reconnect=False))
                for r in cluster.replicas
            ]
            # A subscription is live a moment after `subscribe` is sent (there is no ack):
            # place orders until one reaches all three, a bounded number of times.
            for _ in range(5):
                placed = await graphql(
                    http,
                    a.url,
                    PLACE_ORDER,
                    {"input": {"lines": [{"itemId": item, "quantity": 1}]}},
                    token=customer,
                )
                order = placed.json()["data"]["placeOrder"]["id"]

                async def everyone_has(order: str = order) -> bool:
                    return all(order in s.orders for s in subscribers)

                with contextlib.suppress(AssertionError):
                    await eventually(everyone_has, seconds=2)
                    break
            else:
                raise AssertionError("no order placed on replica a reached all three replicas")


async def test_a_persisted_query_registered_on_one_replica_is_found_by_the_others(
    cluster: Cluster,
) -> None:
    a, b, c = cluster.replicas
    query = "query ScaleApq { items(first: 2) { totalCount } }"
    digest = hashlib.sha256(query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    async with client() as http:
        unknown = await graphql(http, b.url, None, extensions=extensions)
        assert errors_code(unknown) == "PERSISTED_QUERY_NOT_FOUND"
        registered = await graphql(http, a.url, query, extensions=extensions)
        expected = registered.json()["data"]
        assert expected["items"]["totalCount"] > 0
        for replica in (b, c):
            found = await graphql(http, replica.url, None, extensions=extensions)
            assert found.json()["data"] == expected


# -- failures --------------------------------------------------------------------------------
@dataclass
class LoadReport:
    acknowledged: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    sent: int = 0


async def place_orders(
    http: httpx.AsyncClient,
    base: str,
    tokens: list[str],
    items: list[str],
    report: LoadReport,
    killed: asyncio.Event,
) -> None:
    while report.sent < LOAD_REQUESTS:
        n = report.sent
        report.sent += 1
        if n == KILL_AFTER:
            killed.set()
        variables = {"input": {"lines": [{"itemId": items[n % len(items)], "quantity": 1}]}}
        try:
            response = await graphql(
                http, base, PLACE_ORDER, variables, token=tokens[n % len(tokens)]
            )
        except httpx.HTTPError as exc:
            report.lost[type(exc).__name__] += 1
            continue
        if response.status_code != 200:
            report.lost[f"HTTP {response.status_code}"] += 1
            continue
        payload = response.json()
        if payload.get("data"):
            report.acknowledged.append(payload["data"]["placeOrder"]["id"])
        else:
            report.refused[errors_code(response) or "?"] += 1


def order_key(global_id: str) -> int:
    kind, _, key = base64.b64decode(global_id + "=" * (-len(global_id) % 4)).decode().partition(":")
    assert kind == "Order", global_id
    return int(key)


async def test_a_replica_killed_under_load_loses_only_its_in_flight_requests(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = cluster.replicas[1]
    async with client() as http:
        staff = await login(http, cluster.url, "staff1@example.com")
        assert staff is not None
        tokens = await customers(http, cluster.url, 20)
        items = await in_stock_items(http, cluster.url, tokens[0])
        assert items
        report, killed = LoadReport(), asyncio.Event()
        offset = log_offset(cluster)
        async with contextlib.AsyncExitStack() as stack:
            subscribers = [
                await stack.enter_async_context(Subscriber(cluster.ws_url, staff, reconnect=True))
                for _ in range(SUBSCRIBERS)
            ]

            async def kill() -> None:
                await killed.wait()
                victim.process.send_signal(signal.SIGKILL)

            killer = asyncio.create_task(kill())
            await asyncio.gather(
                *(
                    place_orders(http, cluster.url, tokens, items, report, killed)
                    for _ in range(LOAD_CLIENTS)
                )
            )
            await killer
            assert victim.process.wait(timeout=TIMEOUT) == -signal.SIGKILL
            # After the kill, every subscriber (reconnected through nginx where its socket
            # was on the killed replica) receives a new order.
            final = await graphql(
                http,
                cluster.url,
                PLACE_ORDER,
                {"input": {"lines": [{"itemId": items[0], "quantity": 1}]}},
                token=tokens[0],
            )
            last = final.json()["data"]["placeOrder"]["id"]

            async def everyone_has_the_last() -> bool:
                return all(last in s.orders for s in subscribers)

            await eventually(everyone_has_the_last, seconds=15)
            reconnected = sum(1 for s in subscribers if s.closes)
            closes = [s.closes for s in subscribers]

    engine = create_async_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            stored = set((await conn.execute(sa.text("SELECT id FROM orders"))).scalars())
    finally:
        await engine.dispose()
    acknowledged = {order_key(order) for order in report.acknowledged}
    lost = sum(report.lost.values())
    with capsys.disabled():
        print(  # the figures the scale-out demonstration reports
            f"\nscale-out, replica {victim.name} SIGKILLed after {KILL_AFTER} of "
            f"{LOAD_REQUESTS} placeOrder requests ({LOAD_CLIENTS} clients through nginx): "
            f"{len(acknowledged)} acknowledged, all stored; lost {lost} {dict(report.lost)}; "
            f"refused {dict(report.refused)}; {reconnected} of {SUBSCRIBERS} subscribers "
            f"reconnected (closes {closes}) and all received the next order"
        )
    assert report.sent == LOAD_REQUESTS
    assert sorted(acknowledged - stored) == []
    # Each client has one request in flight: at most that many were on the killed replica,
    # and nginx's log names it as the upstream of every request lost.
    assert lost <= LOAD_CLIENTS
    failed_upstreams = {up for status, up in log_lines_since(cluster, offset) if status >= 500}
    assert failed_upstreams <= {cluster.upstream_of(victim)}
    assert set(report.lost) <= {"HTTP 502", "HTTP 504", "ReadError", "RemoteProtocolError"}
    assert report.refused == Counter()
    assert len(acknowledged) + lost == LOAD_REQUESTS
    # Only the sockets on the killed replica dropped (no close frame: the process died).
    assert reconnected >= 1
    assert all(close in ([], [None]) for close in closes)


async def test_sigterm_drains_readiness_first_then_requests_finish_and_sockets_get_1001(
    cluster: Cluster,
) -> None:
    # A client behaving as a load balancer does: it sends requests until readiness says
    # 503, then stops routing there. It loses none of them, and the replica still serves
    # during the drain (the window the balancer needs to notice).
    replica = cluster.replicas[2]
    readiness: list[int | str] = []
    outcomes: Counter[str] = Counter()
    draining = asyncio.Event()
    async with (
        client() as http,
        httpx.AsyncClient(
            timeout=TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0)
        ) as fresh,
    ):
        staff = await login(http, replica.url, "staff1@example.com")
        assert staff is not None
        async with Subscriber(replica.ws_url, staff, reconnect=False) as subscriber:

            async def watch_readiness() -> None:
                while True:
                    try:
                        response = await fresh.get(f"{replica.url}/health/ready")
                    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                        # Refused, or accepted into the backlog just as the listener closed
                        # and then dropped unanswered: either way the listener is gone.
                        readiness.append("refused")
                        return
                    readiness.append(response.status_code)
                    if response.status_code == 503:
                        assert response.json()["status"] == "draining"
                        draining.set()
                    await asyncio.sleep(0.05)

            async def send(label: str) -> None:
                try:
                    response = await graphql(fresh, replica.url, "{ __typename }")
                    outcomes[f"{label} HTTP {response.status_code}"] += 1
                except httpx.HTTPError as exc:
                    outcomes[f"{label} {type(exc).__name__}"] += 1

            async def balancer() -> None:
                while not draining.is_set():
                    await send("ready")
                    await asyncio.sleep(0.02)
                await send("draining")

            watcher = asyncio.create_task(watch_readiness())
            balancers = [asyncio.create_task(balancer()) for _ in range(4)]
            await asyncio.sleep(0.5)
            # A request in flight across the whole shutdown: its headers and half its body
            # now, the rest once the listener has closed.
            reader, writer = await asyncio.open_connection("127.0.0.1", replica.port)
            try:
                body = json.dumps({"query": "{ __typename }"}).encode()
                writer.write(
                    b"POST /graphql HTTP/1.1\r\nhost: gateway\r\n"
                    + b"content-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body[:5]
                )
                await writer.drain()
                await asyncio.sleep(0.2)
                replica.process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(asyncio.gather(*balancers), DRAIN_SECONDS + 10)
                await asyncio.wait_for(watcher, DRAIN_SECONDS + 30)
                assert replica.process.poll() is None  # still finishing what is in flight
                writer.write(body[5:])
                await writer.drain()
                answer = await asyncio.wait_for(reader.read(), TIMEOUT)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            code = await asyncio.to_thread(replica.process.wait, 30)
            await asyncio.sleep(0.2)
            closes = subscriber.closes
    # Readiness turned 503 ("draining") before the listener closed.
    first_not_ready = next(i for i, status in enumerate(readiness) if status != 200)
    assert readiness[first_not_ready] == 503
    assert readiness[-1] == "refused"
    # Every request was answered, those sent after readiness said 503 included.
    assert set(outcomes) == {"ready HTTP 200", "draining HTTP 200"}
    assert outcomes["draining HTTP 200"] == 4
    # The request in flight when the listener closed was answered, on a closing connection.
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" in head.lower()
    assert json.loads(payload)["data"] == {"__typename": "Query"}
    assert closes == [CLOSE_GOING_AWAY]
    assert code in (0, -signal.SIGTERM)


def test_the_cluster_logs_show_no_internal_errors(cluster: Cluster) -> None:
    for replica in cluster.replicas:
        log = Path(cluster.tmp / f"replica-{replica.name}.log").read_text()
        assert "INTERNAL_SERVER_ERROR" not in log, replica.name
        assert "Traceback" not in log, replica.name
