"""Fan-out benchmark: N WebSocket subscribers on one uvicorn process, M events per second.

    uv run python -m bench.fanout [--subscribers 100 1000] [--rate 10] [--seconds 5]

Starts one gateway (uvicorn, embedded SQLite, in-process bus) on 127.0.0.1, opens N
graphql-transport-ws sockets subscribed to `itemPriceChanged`, then changes the
item's price M times a second over HTTP for a bounded time. Each price is unique, so
every `next` maps back to the instant its mutation was sent: the latency is
mutation sent -> event received (commit, publish, fan-out, per-subscriber resolve and
send, client parse). Memory per connection is the server's RSS growth divided by N.
Prints one JSON document to stdout; everything is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from domain.money import Money
from domain.principals import Principal
from domain.users import Email, Role
from gateway.container import build_container
from gateway.settings import Settings
from persistence import migrate

SUBSCRIPTION = """subscription($id: ID!) { itemPriceChanged(itemId: $id) {
  current { amount } item { id name } } }"""
UPDATE = """mutation($id: ID!, $p: MoneyInput!) {
  updateItem(id: $id, input: {price: $p}) { id } }"""
BASE_CENTS = 100_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def _seed(env: dict[str, str]) -> tuple[int, str]:
    settings = Settings(
        database={"url": env["DATABASE__URL"]},
        security={"secret_key": env["SECURITY__SECRET_KEY"]},
    )
    await migrate.upgrade(settings.database.url)
    container = build_container(settings)
    try:
        staff = await container.services.users.create(
            Principal.system(),
            email=Email("staff@example.com"),
            name="Bench Staff",
            roles=frozenset({Role.STAFF}),
        )
        item = await container.services.items.create(
            Principal(staff.id, staff.roles),
            sku="BENCH-1",
            name="Bench item",
            price=Money(BASE_CENTS - 1),
            stock=10,
        )
    finally:
        await container.aclose()
    from schema.node import to_global_id

    return staff.id, str(to_global_id("Item", item.id))


class Subscriber:
    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []
        self.error: str | None = None

    async def run(self, url: str, item_id: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
        try:
            await self._run(url, item_id, ready, stop)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            ready.set()

    async def _run(self, url: str, item_id: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
        async with websockets.connect(
            url,
            subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
            max_queue=None,
            open_timeout=60,
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION, "variables": {"id": item_id}},
                    }
                )
            )
            ready.set()
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.2)
                except TimeoutError:
                    continue
                now = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "next":
                    amount = message["payload"]["data"]["itemPriceChanged"]["current"]["amount"]
                    self.received.append((amount, now))


async def _scenario(
    base: str, staff: int, item_id: str, pid: int, subscribers: int, rate: float, seconds: float
) -> dict[str, Any]:
    ws_url = base.replace("http", "ws") + "/graphql"
    stop = asyncio.Event()
    rss_before = _rss_kib(pid)
    clients = [Subscriber() for _ in range(subscribers)]
    readies = [asyncio.Event() for _ in clients]
    tasks = []
    connect_started = time.perf_counter()
    # In batches of 50, each subscribed before the next: a burst of a thousand handshakes
    # on a busy machine measures the accept queue, not the fan-out.
    for first in range(0, subscribers, 50):
        batch = range(first, min(first + 50, subscribers))
        for n in batch:
            tasks.append(asyncio.create_task(clients[n].run(ws_url, item_id, readies[n], stop)))
        await asyncio.wait_for(asyncio.gather(*(readies[n].wait() for n in batch)), timeout=120)
    connect_seconds = time.perf_counter() - connect_started
    failed = [c.error for c in clients if c.error]
    await asyncio.sleep(1.0)  # let every subscription reach the bus
    rss_connected = _rss_kib(pid)
    sent: dict[str, float] = {}
    count = int(rate * seconds)
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        start = time.perf_counter()
        for i in range(count):
            target = start + i / rate
            await asyncio.sleep(max(0.0, target - time.perf_counter()))
            cents = BASE_CENTS + i + subscribers * 10_000
            amount = str(Money(cents).amount)
            sent[amount] = time.perf_counter()
            response = await http.post(
                "/graphql",
                json={"query": UPDATE, "variables": {"id": item_id, "p": {"amount": amount}}},
                headers={"x-debug-user": str(staff)},
            )
            response.raise_for_status()
    deadline = time.perf_counter() + 30
    expected = count * (subscribers - len(failed))
    while time.perf_counter() < deadline:
        if sum(len(c.received) for c in clients) >= expected:
            break
        await asyncio.sleep(0.05)
    rss_peak = _rss_kib(pid)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies = sorted(
        (at - sent[amount]) * 1000 for c in clients for amount, at in c.received if amount in sent
    )
    delivered = len(latencies)
    return {
        "subscribers": subscribers,
        "events_per_second": rate,
        "events": count,
        "connections_failed": len(failed),
        "first_failure": failed[0] if failed else None,
        "seconds_to_connect_all": round(connect_seconds, 2),
        "deliveries_expected": expected,
        "deliveries": delivered,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2) if latencies else None,
            "p99": round(latencies[min(delivered - 1, int(delivered * 0.99))], 2)
            if latencies
            else None,
            "max": round(latencies[-1], 2) if latencies else None,
        },
        "server_rss_kib": {"idle": rss_before, "connected": rss_connected, "peak": rss_peak},
        "memory_per_connection_kib": round(
            (rss_connected - rss_before) / max(1, subscribers - len(failed)), 1
        ),
    }


async def main(subscriber_counts: list[int], rate: float, seconds: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fanout-"))
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE__URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        "SECURITY__SECRET_KEY": "b" * 48,
        "SECURITY__ALLOW_DEBUG_IDENTITY": "true",
        "RATE_LIMIT__ENABLED": "false",
        "LOG_LEVEL": "warning",
        "REALTIME__QUEUE_SIZE": "1024",
    }
    env.pop("REDIS__URL", None)
    staff, item_id = await _seed(env)
    command = [sys.executable, "-m", "uvicorn", "gateway.asgi:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    # Started once, before any socket: blocking for the fork is fine in a benchmark.
    server = subprocess.Popen(  # noqa: S603, ASYNC220  # our own interpreter and module
        command,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            # Start-up imports take seconds (tens on a loaded machine); bounded at 2 minutes.
            for _ in range(1200):
                try:
                    if (await http.get("/health/live")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the gateway did not start within 2 minutes")
        results = [
            await _scenario(base, staff, item_id, server.pid, n, rate, seconds)
            for n in subscriber_counts
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "benchmark": "fanout",
        "server": "uvicorn, 1 process, embedded SQLite, in-process bus",
        "cpus": os.cpu_count(),
        "seconds_per_scenario": seconds,
        "scenarios": results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rate", type=float, default=10.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if max(args.subscribers) > 5000 or args.seconds > 60 or args.rate > 200:
        parser.error("bounded: at most 5000 subscribers, 60 seconds and 200 events/s")
    report = asyncio.run(main(args.subscribers, args.rate, args.seconds))
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
