"""argon2id password hashing, off the event loop, with its memory bounded.

Each call costs about 90 ms of CPU and `memory_cost` KiB (46 MiB with the defaults)
while it runs, so it runs in a worker thread and at most `max_concurrency` run at once:
a burst of N logins would otherwise take N x 46 MiB.
Callers beyond that wait in arrival order; once `max_waiting` are waiting, the next is
refused at once with `UnavailableError` (503, retry shortly) rather than queued behind
seconds of hashing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import UnavailableError

if TYPE_CHECKING:
    from gateway.settings import SecuritySettings

# RFC 9106's passes and lanes with OWASP's 46 MiB of memory (above its argon2id minimums
# in both): one hash beside the process's ~140 MB stays within the 200 MB a replica may
# use, where RFC 9106's 64 MiB did not (docs/benchmarks/design-notes.md, "Memory").
DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_COST_KIB = 46 * 1024
DEFAULT_PARALLELISM = 4
# What hashing may hold at once when nothing else is said: one default hash.
DEFAULT_MEMORY_BUDGET_KIB = DEFAULT_MEMORY_COST_KIB
DEFAULT_MAX_WAITING = 64
BUSY = "too many password checks are waiting; retry in a moment"

T = TypeVar("T")


def concurrency_for(memory_budget_kib: int, memory_cost_kib: int) -> int:
    """How many hashes of `memory_cost_kib` fit in `memory_budget_kib` (at least one)."""
    return max(1, memory_budget_kib // memory_cost_kib)


class Argon2PasswordHasher:
    """Implements `domain.passwords.PasswordHasher` with argon2-cffi (argon2id)."""

    def __init__(
        self,
        *,
        time_cost: int = DEFAULT_TIME_COST,
        memory_cost: int = DEFAULT_MEMORY_COST_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
        hash_len: int = 32,
        salt_len: int = 16,
        max_concurrency: int | None = None,
        max_waiting: int = DEFAULT_MAX_WAITING,
    ) -> None:
        if max_concurrency is None:
            max_concurrency = concurrency_for(DEFAULT_MEMORY_BUDGET_KIB, memory_cost)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if max_waiting < 0:
            raise ValueError("max_waiting must not be negative")
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )
        self.max_concurrency, self.max_waiting = max_concurrency, max_waiting
        self._slots = asyncio.Semaphore(max_concurrency)
        self._waiting = 0

    async def hash(self, password: str) -> str:
        """The argon2id hash of `password`; raises UnavailableError when the queue is full."""
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, hash: str, password: str) -> bool:
        """Whether `password` matches; False for a mismatch and for a malformed hash.

        Raises UnavailableError when too many checks are already waiting.
        """
        return await self._bounded(self._verify, hash, password)

    def needs_rehash(self, hash: str) -> bool:
        """True when `hash` used other parameters, or is not an argon2 hash at all."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except (InvalidHashError, ValueError):
            return True

    async def _bounded(self, work: Callable[..., T], *args: str) -> T:
        if self._slots.locked():
            if self._waiting >= self.max_waiting:
                raise UnavailableError(BUSY)
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            running = asyncio.get_running_loop().run_in_executor(None, work, *args)
        except BaseException:
            self._slots.release()
            raise
        # The slot is the memory a hash holds: it is free when the thread is done, not
        # when the caller stops waiting (a request cancelled by its timeout leaves the
        # thread hashing, and the next hash must not start beside it).
        running.add_done_callback(lambda _: self._slots.release())
        return await asyncio.shield(running)

    def _verify(self, hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(hash, password)
        except (VerificationError, InvalidHashError):
            return False


def hasher_for(security: SecuritySettings) -> Argon2PasswordHasher:
    """The hasher with the configured argon2id cost (SECURITY__ARGON2_*)."""
    return Argon2PasswordHasher(
        time_cost=security.argon2_time_cost,
        memory_cost=security.argon2_memory_kib,
        parallelism=security.argon2_parallelism,
        max_concurrency=security.password_hash_concurrency
        or concurrency_for(security.password_hash_memory_mib * 1024, security.argon2_memory_kib),
        max_waiting=security.password_hash_max_waiting,
    )
