from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from domain.tokens import TokenClaims
from persistence import revocation
from persistence.revocation import FAMILY, InMemoryRevocationStore, Revocation
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


def _revoke_jti(store: InMemoryRevocationStore, token: TokenClaims) -> Awaitable[None]:
    return store.revoke(token.jti, T0 + timedelta(hours=1))


def _revoke_family(store: InMemoryRevocationStore, token: TokenClaims) -> Awaitable[None]:
    return store.revoke_family(token.family, T0 + timedelta(hours=1))


def _revoke_user(store: InMemoryRevocationStore, token: TokenClaims) -> Awaitable[None]:
    return store.revoke_all_for_user(token.subject, issued_before=T0, until=T0 + timedelta(hours=1))


async def _apply_family(store: InMemoryRevocationStore, token: TokenClaims) -> None:
    store.apply(Revocation(FAMILY, token.family, T0 + timedelta(hours=1)))


@pytest.mark.parametrize("revoke", [_revoke_jti, _revoke_family, _revoke_user, _apply_family])
async def test_a_token_found_not_revoked_is_refused_at_once_when_revoked(
    store: InMemoryRevocationStore,
    revoke: Callable[[InMemoryRevocationStore, TokenClaims], Awaitable[None]],
) -> None:
    # A clear verdict is remembered for the claims object; any revocation stored ends it.
    token = claims(issued_at=T0 - timedelta(minutes=1))
    assert [store.check(token), store.check(token)] == [False, False]
    await revoke(store, token)
    assert [store.check(token), store.check(token)] == [True, True]


async def test_a_clear_verdict_serves_only_the_claims_object_it_was_reached_for(
    store: InMemoryRevocationStore,
) -> None:
    # Same jti, another family (revoked): the remembered verdict is not reused.
    clear = claims(issued_at=T0, family="fam-clear")
    await store.revoke_family("fam-revoked", T0 + timedelta(hours=1))
    assert store.check(clear) is False
    assert store.check(claims(issued_at=T0, family="fam-revoked")) is True


async def test_the_remembered_clear_verdicts_are_bounded(
    store: InMemoryRevocationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(revocation, "MAX_REMEMBERED_CLEAR", 3)
    tokens = [claims(issued_at=T0, jti=f"j{n}") for n in range(10)]
    assert [store.check(token) for token in tokens] == [False] * 10
    assert len(store._clear) <= 3
