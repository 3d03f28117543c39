from __future__ import annotations

import asyncio
import threading
import time

import argon2
import pytest

from domain.errors import UnavailableError
from gateway.auth.passwords import BUSY, Argon2PasswordHasher, concurrency_for
from gateway.container import password_hasher
from gateway.settings import Settings

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


def cheap(max_concurrency: int = 2, max_waiting: int = 64) -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**CHEAP, max_concurrency=max_concurrency, max_waiting=max_waiting)


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


# OWASP Password Storage Cheat Sheet, argon2id (KiB, passes; one lane): each row is a
# minimum configuration of equal strength, trading memory for passes.
OWASP_ARGON2ID_MINIMUMS = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]


def test_the_defaults_are_rfc_9106_passes_and_lanes_with_owasp_memory() -> None:
    hasher = Argon2PasswordHasher()
    params = (hasher._hasher.time_cost, hasher._hasher.memory_cost, hasher._hasher.parallelism)
    assert params == (3, 46 * 1024, 4)
    rfc = argon2.profiles.RFC_9106_LOW_MEMORY
    assert (params[0], params[2]) == (rfc.time_cost, rfc.parallelism)
    assert [m <= params[1] and t <= params[0] for m, t in OWASP_ARGON2ID_MINIMUMS] == [
        True,
        True,
        True,
        False,
        False,
    ]
    # One 46 MiB hash at a time: the default memory budget holds one.
    assert (hasher.max_concurrency, hasher.max_waiting) == (1, 64)
    assert Settings().security.model_dump(include={"argon2_time_cost", "argon2_memory_kib"}) == {
        "argon2_time_cost": 3,
        "argon2_memory_kib": 46 * 1024,
    }


async def test_a_hash_of_the_former_defaults_verifies_and_is_due_for_a_rehash() -> None:
    # RFC 9106's low-memory profile (64 MiB), the default until the RSS budget (issue 18).
    former = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
    hashed = former.hash("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    hasher = password_hasher(Settings())
    assert [await hasher.verify(hashed, "correct horse"), await hasher.verify(hashed, "wrong")] == [
        True,
        False,
    ]
    assert hasher.needs_rehash(hashed) is True
    assert hasher.needs_rehash(await hasher.hash("correct horse")) is False


async def test_hashing_runs_off_the_event_loop_at_most_n_at_a_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = cheap(max_concurrency=2)
    running, peak, loop_thread = 0, 0, threading.get_ident()
    threads: set[int] = set()
    lock = threading.Lock()
    ticks = 0
    ticked: list[bool] = []
    # Each hash waits for a second one to run beside it, then for the event loop to tick
    # while it runs: on each other and on the loop, not on the clock, so a busy machine
    # makes the test slower, never wrong. One at a time breaks the pair (after 10 s); a
    # hash on the loop's thread would stop the ticks it waits for.
    pair = threading.Barrier(2, timeout=10)

    def slow_hash(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.get_ident())
        pair.wait()
        seen, deadline = ticks, time.monotonic() + 10  # a bound for a broken hasher
        while ticks < seen + 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        with lock:
            ticked.append(ticks >= seen + 3)
            running -= 1
        return f"h:{password}"

    class SlowArgon2:
        hash = staticmethod(slow_hash)

    monkeypatch.setattr(hasher, "_hasher", SlowArgon2())

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
    assert ticked == [True] * 6  # the loop kept running while each hash did


def test_a_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_concurrency must be at least 1"):
        cheap(max_concurrency=0)


@pytest.mark.parametrize(
    ("budget_kib", "cost_kib", "expected"),
    [(65536, 65536, 1), (200 * 1024, 65536, 3), (1024, 65536, 1), (65536, 8, 8192)],
)
def test_the_concurrency_is_what_the_memory_budget_holds(
    budget_kib: int, cost_kib: int, expected: int
) -> None:
    assert concurrency_for(budget_kib, cost_kib) == expected


class GatedArgon2:
    """Hashes that finish only when the test opens the gate; counts how many run at once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lock = threading.Lock()
        self.running = self.peak = self.started = 0

    def hash(self, password: str) -> str:
        with self.lock:
            self.running += 1
            self.started += 1
            self.peak = max(self.peak, self.running)
        self.gate.wait(timeout=30)
        with self.lock:
            self.running -= 1
        return f"h:{password}"


async def started(gated: GatedArgon2, count: int) -> None:
    """Until `count` hashes have started in their threads (bounded: 5 s)."""
    for _ in range(5000):
        if gated.started >= count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{gated.started} of {count} hashes started")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_a_burst_of_32_hashes_runs_one_at_a_time_and_all_finish(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = Argon2PasswordHasher(**CHEAP, max_concurrency=1, max_waiting=31)
    gated = GatedArgon2()
    monkeypatch.setattr(hasher, "_hasher", gated)
    burst = [asyncio.create_task(hasher.hash(str(i))) for i in range(32)]
    await started(gated, 1)
    await _settle()
    # One hashing, 31 waiting (the queue's bound exactly), none refused yet.
    assert (gated.started, hasher._waiting, [t.done() for t in burst].count(True)) == (1, 31, 0)
    gated.gate.set()
    assert await asyncio.gather(*burst) == [f"h:{i}" for i in range(32)]
    assert (gated.peak, hasher._waiting) == (1, 0)


async def test_a_caller_past_the_queue_bound_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = cheap(max_concurrency=2, max_waiting=3)
    gated = GatedArgon2()
    monkeypatch.setattr(hasher, "_hasher", gated)
    admitted = [asyncio.create_task(hasher.hash(str(i))) for i in range(5)]
    await started(gated, 2)
    await _settle()
    with pytest.raises(UnavailableError, match=BUSY):
        await hasher.hash("one too many")
    gated.gate.set()
    assert await asyncio.gather(*admitted) == [f"h:{i}" for i in range(5)]
    assert gated.peak == 2
    # The queue drained: a caller is admitted again.
    assert await hasher.hash("later") == "h:later"


async def test_a_cancelled_waiter_leaves_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = cheap(max_concurrency=1, max_waiting=1)
    gated = GatedArgon2()
    monkeypatch.setattr(hasher, "_hasher", gated)
    first = asyncio.create_task(hasher.hash("first"))
    await started(gated, 1)
    waiter = asyncio.create_task(hasher.hash("gives up"))
    await _settle()
    assert hasher._waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert hasher._waiting == 0
    second = asyncio.create_task(hasher.hash("second"))
    await _settle()
    gated.gate.set()
    assert [await first, await second] == ["h:first", "h:second"]


def test_a_negative_queue_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_waiting must not be negative"):
        cheap(max_waiting=-1)


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ({}, (1, 64)),
        ({"password_hash_memory_mib": 256}, (5, 64)),
        ({"argon2_memory_kib": 8192, "password_hash_max_waiting": 5}, (5, 5)),
        ({"argon2_memory_kib": 8192, "password_hash_memory_mib": 64}, (8, 64)),
        ({"password_hash_concurrency": 3, "password_hash_memory_mib": 64}, (3, 64)),
    ],
)
def test_the_settings_size_the_hashing(security: dict[str, int], expected: tuple[int, int]) -> None:
    hasher = password_hasher(Settings(security=security))
    assert (hasher.max_concurrency, hasher.max_waiting) == expected


async def test_a_cancelled_caller_keeps_its_slot_until_its_hash_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hasher = cheap(max_concurrency=1)
    gated = GatedArgon2()
    monkeypatch.setattr(hasher, "_hasher", gated)
    abandoned = asyncio.create_task(hasher.hash("abandoned"))
    await started(gated, 1)
    abandoned.cancel()  # as a request's execution timeout does
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    follower = asyncio.create_task(hasher.hash("follower"))
    await _settle()
    # The abandoned hash still runs in its thread, holding its memory: the next waits.
    assert (gated.started, follower.done()) == (1, False)
    gated.gate.set()
    assert await follower == "h:follower"
    assert (gated.started, gated.peak) == (2, 1)
