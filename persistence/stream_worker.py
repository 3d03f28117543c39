"""Handlers over Redis streams: consumer groups, acknowledgements, reclaiming, dead letters.

The relay appends each event to the bus stream (subscriptions) and to one of
`partitions` handler streams, `{stream}:p{n}`, chosen by its aggregate, so every event
of one aggregate is in one partition, in commit order. A worker leases partitions
(`SET NX PX`, renewed while it lives); only the holder of a partition's lease reads it,
so events of one aggregate are handled one after the other whatever the number of
workers. Each handler reads each partition through its own consumer group, named after
it: an entry is acknowledged (XACK) once the handler completed it or gave up on it
(then it is copied to the dead-letter stream `{stream}:dead`). A worker that takes over
a partition whose holder died first reclaims that partition's pending entries
(XAUTOCLAIM) and handles them, in order, before reading new ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import zlib
from typing import cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from domain.handlers import EventHandlers, Handler
from persistence.event_codec import decode_event
from persistence.handler_runner import HandlerRunner, Outcome
from persistence.outages import Outage

log = structlog.get_logger("gateway.worker")

EVENT_FIELD = b"event"
READ_COUNT = 50
# A Redis away when the worker starts is waited out: its consumer groups are made once
# it answers, tried again after 0.5 s, then twice as long each time up to 30 s.
START_RETRY_SECONDS = 0.5
START_RETRY_MAX_SECONDS = 30.0

# Renews the lease only while this worker still holds it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

type Entry = tuple[bytes, dict[bytes, bytes]]


def partition_of(aggregate: str, partitions: int) -> int:
    """The handler partition of an aggregate: stable across processes and restarts."""
    return zlib.crc32(aggregate.encode()) % partitions


def partition_stream(stream: str, partition: int) -> str:
    return f"{stream}:p{partition}"


def dead_letter_stream(stream: str) -> str:
    return f"{stream}:dead"


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class StreamWorker:
    """Runs `handlers` over the partitions this worker leases; `run` until cancelled."""

    def __init__(
        self,
        redis: Redis,
        handlers: EventHandlers,
        runner: HandlerRunner,
        *,
        stream: str,
        partitions: int,
        consumer: str | None = None,
        lease_seconds: float = 15.0,
        idle_seconds: float = 0.2,
    ) -> None:
        if partitions < 1 or lease_seconds <= 0:
            raise ValueError("partitions must be at least 1 and lease_seconds positive")
        self._redis, self._handlers, self._runner = redis, handlers, runner
        self.stream, self.partitions = stream, partitions
        self.consumer = consumer or consumer_name()
        self._lease_ms = int(lease_seconds * 1000)
        self._idle_seconds = idle_seconds
        self._renew = redis.register_script(_RENEW)
        # Partitions leased, and those whose pending entries are still to be reclaimed.
        self.owned: set[int] = set()
        self._to_reclaim: set[int] = set()
        self._outage = Outage("redis", component="worker")
        self.handled = 0

    def _lease_key(self, partition: int) -> str:
        return f"{self.stream}:lease:{partition}"

    async def prepare(self) -> None:
        """Create every handler's consumer group on every partition (new ones start now)."""
        for partition in range(self.partitions):
            for handler in self._handlers:
                with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                    await self._redis.xgroup_create(
                        partition_stream(self.stream, partition), handler.name, "$", mkstream=True
                    )

    async def _fair_share(self) -> int:
        # Live workers announce themselves in a sorted set (score: last seen, ms); each
        # takes at most its share of the partitions, so several workers split the load.
        members = f"{self.stream}:workers"
        now = int((await self._redis.time())[0] * 1000)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(members, {self.consumer: now})
            pipe.zremrangebyscore(members, 0, now - self._lease_ms)
            pipe.zcard(members)
            pipe.pexpire(members, self._lease_ms * 4)
            live = (await pipe.execute())[2]
        return -(-self.partitions // max(1, int(live)))

    async def refresh_leases(self) -> None:
        """Keep the leases held, take free ones up to a fair share, give back extras."""
        share = await self._fair_share()
        for partition in range(self.partitions):
            key = self._lease_key(partition)
            if partition in self.owned:
                if len(self.owned) > share:
                    await self._give_back(partition)
                elif not await self._renew(keys=[key], args=[self.consumer, self._lease_ms]):
                    self.owned.discard(partition)
                    log.warning("lost a partition lease", partition=partition)
            elif len(self.owned) < share and await self._redis.set(
                key, self.consumer, nx=True, px=self._lease_ms
            ):
                self.owned.add(partition)
                self._to_reclaim.add(partition)

    async def _give_back(self, partition: int) -> None:
        key = self._lease_key(partition)
        self.owned.discard(partition)
        self._to_reclaim.discard(partition)
        if await self._redis.get(key) == self.consumer.encode():
            await self._redis.delete(key)

    async def release(self) -> None:
        """Give the leases back (shutdown), so another worker need not wait for them."""
        for partition in list(self.owned):
            await self._give_back(partition)
        await self._redis.zrem(f"{self.stream}:workers", self.consumer)

    async def step(self) -> int:
        """One round over the leased partitions; how many entries it finished."""
        done = 0
        for partition in sorted(self.owned):
            name = partition_stream(self.stream, partition)
            for handler in self._handlers:
                if partition in self._to_reclaim:
                    claimed = await self._reclaim(handler, name)
                    done += await self._handle_all(handler, partition, name, claimed)
                if partition in self.owned:
                    entries = await self._read(handler, name)
                    done += await self._handle_all(handler, partition, name, entries)
            self._to_reclaim.discard(partition)
        self.handled += done
        return done

    async def _reclaim(self, handler: Handler, name: str) -> list[Entry]:
        # The lease makes this worker the partition's only reader: what is pending there
        # belonged to a worker that died (or to this one before a restart).
        claimed: list[Entry] = []
        start = "0-0"
        while True:
            answer = await self._redis.xautoclaim(
                name, handler.name, self.consumer, min_idle_time=0, start_id=start, count=READ_COUNT
            )
            start_raw, entries = answer[0], answer[1]
            claimed.extend(cast("list[Entry]", [e for e in entries if e[1] is not None]))
            start = start_raw.decode() if isinstance(start_raw, bytes) else str(start_raw)
            if start == "0-0":
                return claimed

    async def _read(self, handler: Handler, name: str) -> list[Entry]:
        answer = cast(  # RESP2 without decode_responses: [[stream, entries]]
            "list[tuple[bytes, list[Entry]]] | None",
            await self._redis.xreadgroup(
                handler.name, self.consumer, {name: ">"}, count=READ_COUNT
            ),
        )
        return [entry for _stream, entries in answer or [] for entry in entries]

    async def _handle_all(
        self, handler: Handler, partition: int, name: str, entries: list[Entry]
    ) -> int:
        done = 0
        for entry_id, fields in entries:
            if partition not in self.owned:
                # Given up meanwhile: the rest stay pending for the next holder to reclaim.
                break
            await self._handle(handler, name, entry_id, fields)
            done += 1
        return done

    async def _handle(
        self, handler: Handler, name: str, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> None:
        raw = fields.get(EVENT_FIELD, b"")
        try:
            event = decode_event(raw)
        except ValueError as exc:
            await self._dead(handler, name, entry_id, raw, f"unreadable: {exc}", 0)
            return
        if handler.wants(event):
            result = await self._runner.run(handler, event)
            if result.outcome is Outcome.DEAD:
                await self._dead(handler, name, entry_id, raw, result.error or "", result.attempts)
                return
        await self._redis.xack(name, handler.name, entry_id)

    async def _dead(
        self, handler: Handler, name: str, entry_id: bytes, raw: bytes, error: str, attempts: int
    ) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                dead_letter_stream(self.stream),
                {
                    EVENT_FIELD: raw,
                    b"handler": handler.name,
                    b"error": error,
                    b"attempts": str(attempts),
                    b"source": f"{name}/{entry_id.decode()}",
                },
            )
            pipe.xack(name, handler.name, entry_id)
            await pipe.execute()

    async def run(self) -> None:
        """Lease, read and handle until cancelled; Redis outages are waited out, one at
        start included (logged once, as every outage)."""
        await self._prepare_once_up()
        renewing = asyncio.create_task(self._keep_leases(), name="worker-leases")
        try:
            while True:
                try:
                    done = await self.step()
                    self._outage.succeeded()
                except Exception as error:  # Redis away: keep the leases loop, try again
                    self._outage.failed(error)
                    done = 0
                if not done:
                    await asyncio.sleep(self._idle_seconds)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(Exception):
                await self.release()

    async def _prepare_once_up(self) -> None:
        delay = START_RETRY_SECONDS
        while True:
            try:
                await self.prepare()
            except (RedisError, OSError, TimeoutError) as error:
                self._outage.failed(error)
                await asyncio.sleep(delay)
                delay = min(2 * delay, START_RETRY_MAX_SECONDS)
            else:
                self._outage.succeeded()
                return

    async def _keep_leases(self) -> None:
        # Renewed at a third of their life, so a slow handler (retries with backoff)
        # does not lose its partition to another worker midway.
        while True:
            try:
                await self.refresh_leases()
            except Exception as error:
                self._outage.failed(error)
            await asyncio.sleep(self._lease_ms / 3000)
