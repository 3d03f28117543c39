from __future__ import annotations

import asyncio
import threading
import time

import argon2
import pytest

from gateway.auth.passwords import Argon2PasswordHasher

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def cheap(max_concurrency: int = 2) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**CHEAP, max_concurrency=max_concurrency)


async def test_a_hash_verifies_its_password_only() -> None:
    hasher = cheap()
    hashed = await hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=8,t=1,p=1$")
    assert [await hasher.verify(hashed, "correct horse"), await hasher.verify(hashed, "wrong")] == [
        True,
        False,
    ]


async def test_two_hashes_of_one_password_differ_by_salt() -> None:
    hasher = cheap()
    assert await hasher.hash("pw") != await hasher.hash("pw")


async def test_a_malformed_hash_does_not_verify_and_needs_rehash() -> None:
    hasher = cheap()
    assert await hasher.verify("not-a-hash", "pw") is False
    assert await hasher.verify("$argon2id$v=19$m=8,t=1,p=1$garbage", "pw") is False
    assert hasher.needs_rehash("not-a-hash") is True


async def test_changed_parameters_call_for_a_rehash() -> None:
    old = await cheap().hash("pw")
    assert cheap().needs_rehash(old) is False
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost=8, parallelism=1)
    assert stronger.needs_rehash(old) is True
    assert await stronger.verify(old, "pw") is True


def test_the_defaults_are_the_rfc_9106_low_memory_profile() -> None:
    hasher = Argon2PasswordHasher()
    params = argon2.profiles.RFC_9106_LOW_MEMORY
    assert (hasher._hasher.time_cost, hasher._hasher.memory_cost, hasher._hasher.parallelism) == (
        params.time_cost,
        params.memory_cost,
        params.parallelism,
    )
    assert hasher.max_concurrency == 2


async def test_hashing_runs_off_the_event_loop_at_most_n_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = cheap(max_concurrency=2)
    running, peak, loop_thread = 0, 0, threading.get_ident()
    threads: set[int] = set()
    lock = threading.Lock()

    def slow_hash(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        time.sleep(0.05)
        with lock:
            running -= 1
        return f"h:{password}"

    class SlowArgon2:
        hash = staticmethod(slow_hash)

    monkeypatch.setattr(hasher, "_hasher", SlowArgon2())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(hasher.hash(str(i)) for i in range(6)))
    tick_task.cancel()
    assert results == [f"h:{i}" for i in range(6)]
    assert peak == 2
    assert loop_thread not in threads
    assert ticks >= 10  # the loop kept running while the hashes took ~150 ms


def test_a_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        cheap(max_concurrency=0)
