"""The response cache in Redis: shared by replicas, evicted for all of them by a commit on
any, not by a rolled-back change, and a Redis outage only costs the cache.

Each test runs on SQLite and on Postgres.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.caching import ResponseCacheStore
from domain.money import Money
from domain.principals import Principal
from domain.users import Email, Role
from gateway.settings import Settings
from tests.gateway.observability.proxy import TcpProxy
from tests.gateway.replicas import (
    Replica,
    Replicas,
    database_url,
    postgres_replicas_database,
    replica_settings,
    replicas,
)
from tests.gateway.world import as_user, gid
from tests.redis_server import RedisServer
from tests.services import REDIS_URL, require_service

__all__ = ["database_url", "postgres_replicas_database", "replicas"]  # fixtures used here

ITEM = "query($id: ID!) { item(id: $id) { name stock } }"
UPDATE = (
    "mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id } }"
)
PLACE = "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }"


def lookups(replica: Replica) -> dict[str, float | None]:
    registry = replica.container.observability.metrics.registry
    return {
        result: registry.get_sample_value(
            "gateway_response_cache_lookups_total", {"result": result}
        )
        for result in ("hit", "miss", "error")
    }


async def read(replica: Replica, item: int) -> Any:
    response = await replica.client.post(
        "/graphql", json={"query": ITEM, "variables": {"id": gid("Item", item)}}
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Cast:
    """A staff member, a customer and an item of this test's own (the Postgres database
    is shared by the session's tests)."""

    staff: int
    customer: int
    item: int


async def cast(replica: Replica) -> Cast:
    system, unique = Principal.system(), uuid.uuid4().hex[:10]
    users, items = replica.container.services.users, replica.container.services.items
    staff = await users.create(
        system, email=Email(f"staff-{unique}@example.com"), name="S", roles=frozenset({Role.STAFF})
    )
    customer = await users.create(system, email=Email(f"c-{unique}@example.com"), name="C")
    item = await items.create(
        system, sku=f"T-{unique.upper()}", name="Cached", price=Money.of("3.00"), stock=5
    )
    await replica.container.relay.drain()
    return Cast(staff.id, customer.id, item.id)


def cached(database_url: str, redis_url: str = REDIS_URL, prefix: str | None = None) -> Settings:
    """Replica settings with the response cache on, over `redis_url`, with a stream and
    (unless given) a cache prefix of the test's own."""
    return replica_settings(
        database_url,
        redis_url,
        cache={"enabled": True, "redis_prefix": prefix or f"test-cache-{uuid.uuid4().hex}:"},
        events={"stream": f"test-events-{uuid.uuid4().hex}"},
        security={"allow_debug_identity": True},
    )


async def test_replicas_share_answers_and_a_commit_on_one_evicts_for_all(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    settings = cached(database_url)
    a, b = await replicas.start(settings), await replicas.start(settings)
    who = await cast(a)
    item = who.item
    fresh = {"data": {"item": {"name": "Cached", "stock": 5}}}
    assert [await read(a, item), await read(b, item)] == [fresh, fresh]
    assert (lookups(a), lookups(b)) == (
        {"hit": None, "miss": 1.0, "error": None},
        {"hit": 1.0, "miss": None, "error": None},
    )
    # A change refused after it locked the item (out of stock): rolled back, no eviction.
    refused = await b.client.post(
        "/graphql",
        json={
            "query": PLACE,
            "variables": {"input": {"lines": [{"itemId": gid("Item", item), "quantity": 6}]}},
        },
        headers=as_user(who.customer),
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "OUT_OF_STOCK"
    await b.container.relay.drain()
    assert await read(a, item) == fresh
    # Committed on b: a reads the change at once.
    changed = await b.client.post(
        "/graphql",
        json={"query": UPDATE, "variables": {"id": gid("Item", item), "input": {"stock": 4}}},
        headers=as_user(who.staff),
    )
    assert "errors" not in changed.json(), changed.text
    assert await read(a, item) == {"data": {"item": {"name": "Cached", "stock": 4}}}
    assert lookups(a) == {"hit": 1.0, "miss": 2.0, "error": None}


async def test_a_miss_is_two_redis_round_trips_for_the_cache_and_a_hit_one(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    prefix = f"test-cache-{uuid.uuid4().hex}:"
    settings = cached(database_url, prefix=prefix)
    a = await replicas.start(settings)
    redis = a.container.redis
    assert redis is not None
    first, second = (await cast(a)).item, (await cast(a)).item
    await read(a, first)  # the put script loaded, whatever this Redis saw before
    sent: list[str] = []
    execute = redis.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        # The cache's own commands: those naming one of its keys.
        if any(isinstance(arg, str) and arg.startswith(prefix) for arg in args):
            sent.append(str(args[0]))
        return await execute(*args, **options)  # type: ignore[no-untyped-call]  # unannotated in redis-py

    redis.execute_command = counted  # type: ignore[method-assign]  # a spy on the one client
    missed = await read(a, second)
    per_miss = list(sent)
    assert await read(a, second) == missed
    assert (per_miss, sent[len(per_miss) :]) == (["MGET", "EVALSHA"], ["MGET"])


async def test_with_redis_cut_answers_stay_right_uncached_then_caching_resumes(
    database_url: str, replicas: Replicas, tmp_path: Path, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    with RedisServer(tmp_path) as server:
        async with TcpProxy("127.0.0.1", server.port) as proxy:
            settings = cached(database_url, f"redis://127.0.0.1:{proxy.port}/0")
            a = await replicas.start(settings)
            item = (await cast(a)).item
            fresh = {"data": {"item": {"name": "Cached", "stock": 5}}}
            assert [await read(a, item) for _ in range(2)] == [fresh, fresh]
            await proxy.cut()
            down = [await read(a, item) for _ in range(2)]
            proxy.restore()
            back = [await read(a, item) for _ in range(2)]
            await a.container.aclose()  # before its Redis goes away
    assert (down, back) == ([fresh, fresh], [fresh, fresh])
    # Before the cut a miss then a hit, errors while cut, hits again after.
    assert lookups(a) == {"hit": 3.0, "miss": 1.0, "error": 2.0}


async def test_reads_racing_a_commit_never_leave_the_old_answer_cached(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    settings = cached(database_url)
    a, b = await replicas.start(settings), await replicas.start(settings)
    who = await cast(a)
    for stock in (4, 3, 2, 1):
        change = b.client.post(
            "/graphql",
            json={
                "query": UPDATE,
                "variables": {"id": gid("Item", who.item), "input": {"stock": stock}},
            },
            headers=as_user(who.staff),
        )
        *_, changed = await asyncio.gather(
            *(read(replica, who.item) for replica in (a, b) * 4), change
        )
        assert "errors" not in changed.json(), changed.text
        after = {"data": {"item": {"name": "Cached", "stock": stock}}}
        assert [await read(a, who.item), await read(b, who.item)] == [after, after]


class HeldPuts:
    """A store whose puts wait at a gate: an answer computed before a commit is filed
    after that commit's eviction, the order the generation check is for."""

    def __init__(self, store: ResponseCacheStore) -> None:
        self._store = store
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def generation(self) -> int:
        return await self._store.generation()

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        return await self._store.lookup(key)

    async def put(
        self, key: str, value: bytes, ttl_seconds: int, tags: Collection[str], generation: int
    ) -> bool:
        self.waiting.set()
        await self.gate.wait()
        return await self._store.put(key, value, ttl_seconds, tags, generation)

    async def evict(self, tags: Collection[str]) -> int:
        return await self._store.evict(tags)


async def test_an_answer_read_before_a_commit_and_filed_after_its_eviction_is_dropped(
    database_url: str, replicas: Replicas, redis_available: bool
) -> None:
    require_service("Redis", redis_available)
    settings = cached(database_url)
    a, b = await replicas.start(settings), await replicas.start(settings)
    who = await cast(a)
    cache = a.container.pipeline.cache
    assert cache is not None
    held = HeldPuts(cache.entries)
    cache.entries = held
    slow_read = asyncio.create_task(read(a, who.item))
    await asyncio.wait_for(held.waiting.wait(), 10)  # it read stock 5, and waits to file it
    changed = await b.client.post(
        "/graphql",
        json={"query": UPDATE, "variables": {"id": gid("Item", who.item), "input": {"stock": 4}}},
        headers=as_user(who.staff),
    )
    assert "errors" not in changed.json(), changed.text
    held.gate.set()
    assert await slow_read == {"data": {"item": {"name": "Cached", "stock": 5}}}
    after = {"data": {"item": {"name": "Cached", "stock": 4}}}
    assert [await read(a, who.item), await read(b, who.item)] == [after, after]
