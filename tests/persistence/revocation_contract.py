"""The contract of `domain.tokens.TokenRevocationStore`, run against every adapter.

Subclass `RevocationStoreContract` and provide a `store` fixture. The tests use the
real clock (Redis expires keys by its own), with lifetimes far from any boundary.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from domain.tokens import TokenClaims, TokenKind, TokenRevocationStore

HOUR = timedelta(hours=1)


def now() -> datetime:
    return datetime.now(UTC)


def claims(
    *, subject: int = 7, jti: str = "jti-1", family: str = "fam-1", issued_at: datetime
) -> TokenClaims:
    return TokenClaims(
        subject=subject,
        kind=TokenKind.ACCESS,
        jti=jti,
        family=family,
        roles=frozenset({"customer"}),
        issuer="gw",
        audience="api",
        issued_at=issued_at,
        not_before=issued_at,
        expires_at=issued_at + timedelta(minutes=30),
    )


class RevocationStoreContract:
    async def test_a_revoked_jti_is_revoked_and_others_are_not(
        self, store: TokenRevocationStore
    ) -> None:
        await store.revoke("a", now() + HOUR)
        assert [await store.is_revoked("a"), await store.is_revoked("b")] == [True, False]

    async def test_a_revoked_family_is_revoked_and_others_are_not(
        self, store: TokenRevocationStore
    ) -> None:
        await store.revoke_family("f", now() + HOUR)
        assert [await store.is_family_revoked("f"), await store.is_family_revoked("g")] == [
            True,
            False,
        ]
        assert await store.is_revoked("f") is False

    async def test_revoking_a_token_already_expired_remembers_nothing(
        self, store: TokenRevocationStore
    ) -> None:
        await store.revoke("old", now() - HOUR)
        await store.revoke_family("old", now() - HOUR)
        assert [await store.is_revoked("old"), await store.is_family_revoked("old")] == [
            False,
            False,
        ]

    async def test_entries_vanish_when_the_token_would_have_expired(
        self, store: TokenRevocationStore
    ) -> None:
        # Kept until their token's expiry (entries made to last are there), then gone.
        # Checked by polling past the expiry with a generous bound, not by racing a short
        # one: on a busy machine the writes alone may outlast a few hundred ms.
        lasting = now() + HOUR
        await store.revoke("kept", lasting)
        await store.revoke_family("kept-family", lasting)
        soon = now() + timedelta(milliseconds=300)
        await store.revoke("j", soon)
        await store.revoke_family("f", soon)
        await store.revoke_all_for_user(7, issued_before=now(), until=soon)
        await store.use_refresh("r", "f2", soon)

        async def expired() -> list[object]:
            return [
                await store.is_revoked("j"),
                await store.is_family_revoked("f"),
                await store.revoked_before(7),
                await store.use_refresh("r", "f2", now() + HOUR),
            ]

        await asyncio.sleep(max(0.0, (soon - now()).total_seconds()) + 0.05)
        deadline, found = time.monotonic() + 30, await expired()
        while found != [False, False, None, True] and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # a store that expires lazily (Redis) may lag a little
            found = await expired()
        assert found == [False, False, None, True]
        assert [await store.is_revoked("kept"), await store.is_family_revoked("kept-family")] == [
            True,
            True,
        ]

    async def test_the_user_cutoff_is_kept_to_the_microsecond(
        self, store: TokenRevocationStore
    ) -> None:
        cutoff = datetime(2026, 11, 3, 12, 0, 0, 654321, tzinfo=UTC)
        assert await store.revoked_before(7) is None
        await store.revoke_all_for_user(7, issued_before=cutoff, until=now() + HOUR)
        assert await store.revoked_before(7) == cutoff
        assert await store.revoked_before(8) is None

    async def test_the_user_cutoff_never_moves_back(self, store: TokenRevocationStore) -> None:
        later = datetime(2026, 11, 3, 12, 0, 1, tzinfo=UTC)
        await store.revoke_all_for_user(7, issued_before=later, until=now() + HOUR)
        await store.revoke_all_for_user(7, issued_before=later - HOUR, until=now() + HOUR)
        assert await store.revoked_before(7) == later
        await store.revoke_all_for_user(7, issued_before=later + HOUR, until=now() + HOUR)
        assert await store.revoked_before(7) == later + HOUR

    async def test_a_token_issued_before_the_cutoff_is_revoked_and_at_it_is_not(
        self, store: TokenRevocationStore
    ) -> None:
        cutoff = now()
        await store.revoke_all_for_user(7, issued_before=cutoff, until=now() + HOUR)
        before = claims(issued_at=cutoff - timedelta(microseconds=1))
        at = claims(issued_at=cutoff)
        other_user = claims(subject=8, issued_at=cutoff - HOUR)
        assert [
            await store.is_token_revoked(before),
            await store.is_token_revoked(at),
            await store.is_token_revoked(other_user),
        ] == [True, False, False]

    async def test_is_token_revoked_sees_the_jti_and_the_family(
        self, store: TokenRevocationStore
    ) -> None:
        issued = now()
        await store.revoke("dead-jti", issued + HOUR)
        await store.revoke_family("dead-fam", issued + HOUR)
        assert [
            await store.is_token_revoked(claims(jti="dead-jti", issued_at=issued)),
            await store.is_token_revoked(claims(family="dead-fam", issued_at=issued)),
            await store.is_token_revoked(claims(issued_at=issued)),
        ] == [True, True, False]

    async def test_a_refresh_jti_can_be_used_once(self, store: TokenRevocationStore) -> None:
        until = now() + HOUR
        assert [
            await store.use_refresh("r1", "f", until),
            await store.use_refresh("r1", "f", until),
            await store.use_refresh("r2", "f", until),
        ] == [True, False, True]

    async def test_a_refresh_of_a_revoked_family_is_refused_and_not_marked(
        self, store: TokenRevocationStore
    ) -> None:
        await store.revoke_family("f", now() + HOUR)
        assert await store.use_refresh("r1", "f", now() + HOUR) is False
        # Not marked used: under a live family the same jti still goes through once.
        assert await store.use_refresh("r1", "live", now() + HOUR) is True

    async def test_concurrent_uses_of_one_refresh_token_let_exactly_one_through(
        self, store: TokenRevocationStore
    ) -> None:
        until = now() + HOUR
        results = await asyncio.gather(*(store.use_refresh("r", "f", until) for _ in range(20)))
        assert sorted(results) == [False] * 19 + [True]
