"""The durable revocation store on both databases: the contract, replicas, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import UnavailableError
from persistence import replicated_revocation
from persistence.database import create_engine
from persistence.replicated_revocation import ReplicatedRevocationStore
from persistence.revocation import Revocation
from persistence.revocation_broadcast import RedisRevocationBroadcast
from persistence.sql_revocation import SqlRevocations
from persistence.tables import REVOCATIONS
from tests.persistence.revocation_contract import RevocationStoreContract, claims

HOUR = timedelta(hours=1)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.value = 1_000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture
async def replicas(engine: AsyncEngine) -> AsyncIterator[list[ReplicatedRevocationStore]]:
    built: list[ReplicatedRevocationStore] = []
    yield built
    for store in built:
        await store.aclose()


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


@pytest.fixture
def replica(
    engine: AsyncEngine, replicas: list[ReplicatedRevocationStore], ticks: Ticks
) -> ReplicatedRevocationStore:
    store = ReplicatedRevocationStore(SqlRevocations(engine), refresh_seconds=5.0, clock=ticks)
    replicas.append(store)
    return store


class TestReplicatedRevocationStore(RevocationStoreContract):
    @pytest.fixture
    def store(self, replica: ReplicatedRevocationStore) -> ReplicatedRevocationStore:
        return replica


async def test_a_new_replica_loads_every_live_revocation_from_the_database(
    engine: AsyncEngine,
    replica: ReplicatedRevocationStore,
    replicas: list[ReplicatedRevocationStore],
) -> None:
    issued = datetime.now(UTC)
    await replica.revoke("j", issued + HOUR)
    await replica.revoke_family("f", issued + HOUR)
    await replica.revoke_all_for_user(9, issued_before=issued, until=issued + HOUR)
    restarted = ReplicatedRevocationStore(SqlRevocations(engine))
    replicas.append(restarted)
    assert [
        await restarted.is_token_revoked(claims(jti="j", issued_at=issued)),
        await restarted.is_token_revoked(claims(family="f", issued_at=issued)),
        await restarted.is_token_revoked(claims(subject=9, issued_at=issued - HOUR)),
        await restarted.is_token_revoked(claims(subject=9, issued_at=issued)),
        await restarted.revoked_before(9),
    ] == [True, True, True, False, issued]


async def test_another_replica_sees_a_revocation_at_its_next_refresh(
    engine: AsyncEngine,
    replica: ReplicatedRevocationStore,
    replicas: list[ReplicatedRevocationStore],
    ticks: Ticks,
) -> None:
    other = ReplicatedRevocationStore(SqlRevocations(engine), refresh_seconds=5.0, clock=ticks)
    replicas.append(other)
    issued = datetime.now(UTC)
    token = claims(jti="late", issued_at=issued)
    assert await other.is_token_revoked(token) is False  # loaded now, before the logout
    await replica.revoke("late", issued + HOUR)
    ticks.value += 4.9
    assert await other.is_token_revoked(token) is False  # within the period: its copy
    ticks.value += 0.1
    # The first check past the period starts the refresh in the background ...
    assert await other.is_token_revoked(token) is False
    await other.refreshing()
    # ... and the next one sees it.
    assert await other.is_token_revoked(token) is True


class CountingSql(SqlRevocations):
    """The real table, counting the reads a replica makes."""

    reads = 0

    async def changed_since(self, since: datetime | None) -> list[Revocation]:
        self.reads += 1
        return await super().changed_since(since)


async def test_the_check_reads_nothing_from_the_database_once_loaded(
    engine: AsyncEngine, replicas: list[ReplicatedRevocationStore], ticks: Ticks
) -> None:
    sql = CountingSql(engine)
    store = ReplicatedRevocationStore(sql, refresh_seconds=5.0, clock=ticks)
    replicas.append(store)
    issued = datetime.now(UTC)
    await store.revoke("j", issued + HOUR)
    checks = [
        await store.is_token_revoked(claims(jti=jti, issued_at=issued)) for jti in ["j", "k"] * 50
    ]
    assert (checks, sql.reads) == ([True, False] * 50, 1)


async def test_without_a_database_a_replica_that_never_loaded_refuses_to_guess() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    store = ReplicatedRevocationStore(SqlRevocations(engine))
    try:
        with pytest.raises(UnavailableError):
            await store.is_token_revoked(claims(issued_at=datetime.now(UTC)))
    finally:
        await store.aclose()
        await engine.dispose()


async def test_expired_revocations_are_pruned_from_the_database(
    engine: AsyncEngine, replicas: list[ReplicatedRevocationStore], ticks: Ticks
) -> None:
    moment = datetime.now(UTC)

    def now() -> datetime:
        return moment

    store = ReplicatedRevocationStore(
        SqlRevocations(engine, now=now), prune_seconds=600, clock=ticks, now=now
    )
    replicas.append(store)
    await store.revoke("short", moment + timedelta(minutes=30))
    await store.revoke_family("long", moment + timedelta(days=7))
    assert await store.use_refresh("r", "long-lived", moment + timedelta(minutes=10)) is True
    moment += timedelta(minutes=31)
    ticks.value += 600
    await store.refresh()
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(REVOCATIONS.c.kind, REVOCATIONS.c.key))).all()
    assert sorted(tuple(row) for row in rows) == [("fam", "long")]


class StuckBroadcast(RedisRevocationBroadcast):
    """A broadcast whose publish hangs, as on a Redis that accepts and never answers."""

    def __init__(self) -> None:
        self.started: list[Revocation] = []
        self.release = asyncio.Event()

    async def publish(self, entry: Revocation) -> None:
        self.started.append(entry)
        await self.release.wait()

    async def listen(
        self,
        deliver: Callable[[Revocation], None],
        on_subscribed: Callable[[], Awaitable[None]],
    ) -> None:
        await on_subscribed()
        await asyncio.Event().wait()  # subscribed, hearing nothing, until cancelled


async def test_a_revocation_does_not_wait_for_the_broadcast(
    engine: AsyncEngine, replicas: list[ReplicatedRevocationStore]
) -> None:
    broadcast = StuckBroadcast()
    store = ReplicatedRevocationStore(SqlRevocations(engine), broadcast)
    replicas.append(store)
    until = datetime.now(UTC) + HOUR
    # A bound for a store that waits (it would never return), not a speed requirement.
    async with asyncio.timeout(30):
        await store.revoke("j", until)
        await store.revoke_family("f", until)
    restarted = ReplicatedRevocationStore(SqlRevocations(engine))
    replicas.append(restarted)
    assert [
        await store.is_revoked("j"),
        await restarted.is_revoked("j"),
        await restarted.is_family_revoked("f"),
        [entry.key for entry in broadcast.started],
    ] == [True, True, True, ["j", "f"]]
    broadcast.release.set()
    await store.published()


async def test_closing_cuts_a_hung_broadcast_short(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replicated_revocation, "CLOSE_PUBLISH_SECONDS", 0)
    broadcast = StuckBroadcast()
    store = ReplicatedRevocationStore(SqlRevocations(engine), broadcast)
    await store.revoke("j", datetime.now(UTC) + HOUR)
    async with asyncio.timeout(30):
        await store.aclose()
    assert [entry.key for entry in broadcast.started] == ["j"]
