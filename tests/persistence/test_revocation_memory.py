from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from persistence.revocation import InMemoryRevocationStore
from tests.persistence.revocation_contract import RevocationStoreContract, claims

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class TestInMemoryRevocationStore(RevocationStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryRevocationStore:
        return InMemoryRevocationStore()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> InMemoryRevocationStore:
    return InMemoryRevocationStore(now=clock)


async def test_an_entry_lives_until_exactly_its_instant(
    store: InMemoryRevocationStore, clock: Clock
) -> None:
    await store.revoke("j", T0 + timedelta(minutes=30))
    clock.now = T0 + timedelta(minutes=30) - timedelta(microseconds=1)
    assert await store.is_revoked("j") is True
    clock.now = T0 + timedelta(minutes=30)
    assert await store.is_revoked("j") is False


async def test_expired_entries_are_swept_from_memory(
    store: InMemoryRevocationStore, clock: Clock
) -> None:
    for i in range(100):
        await store.revoke(f"j{i}", T0 + timedelta(seconds=i + 1))
    await store.revoke_family("f", T0 + timedelta(days=7))
    await store.revoke_all_for_user(7, issued_before=T0, until=T0 + timedelta(days=7))
    assert len(store) == 102
    clock.now = T0 + timedelta(seconds=50)
    assert len(store) == 52
    clock.now = T0 + timedelta(days=1)
    assert len(store) == 2
    clock.now = T0 + timedelta(days=7)
    assert len(store) == 0
    assert store._expiry == []


async def test_revoking_again_with_an_earlier_end_does_not_shorten_it(
    store: InMemoryRevocationStore, clock: Clock
) -> None:
    await store.revoke("j", T0 + timedelta(hours=2))
    await store.revoke("j", T0 + timedelta(hours=1))
    clock.now = T0 + timedelta(hours=1, minutes=30)
    assert await store.is_revoked("j") is True


async def test_a_later_revocation_extends_an_earlier_one(
    store: InMemoryRevocationStore, clock: Clock
) -> None:
    await store.revoke_family("f", T0 + timedelta(hours=1))
    await store.revoke_family("f", T0 + timedelta(hours=2))
    clock.now = T0 + timedelta(hours=1, minutes=30)
    assert await store.is_family_revoked("f") is True
    clock.now = T0 + timedelta(hours=2)
    assert await store.is_family_revoked("f") is False


async def test_the_user_cutoff_keeps_the_latest_end(
    store: InMemoryRevocationStore, clock: Clock
) -> None:
    await store.revoke_all_for_user(7, issued_before=T0, until=T0 + timedelta(days=7))
    await store.revoke_all_for_user(7, issued_before=T0, until=T0 + timedelta(days=1))
    clock.now = T0 + timedelta(days=3)
    assert await store.revoked_before(7) == T0
    assert await store.is_token_revoked(claims(issued_at=T0 - timedelta(seconds=1))) is True


async def test_uses_from_many_threads_let_exactly_one_through(
    store: InMemoryRevocationStore,
) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        results.append(asyncio.run(store.use_refresh("r", "f", T0 + timedelta(hours=1))))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
