"""argon2id password hashing, off the event loop and with a concurrency cap.

Each call costs about 125 ms of CPU and 64 MiB with the defaults (RFC 9106 low-memory
profile), so it runs in a worker thread and at most `max_concurrency` run at once:
otherwise a burst of logins would stall the loop and take N x 64 MiB.
"""

from __future__ import annotations

import asyncio

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_COST_KIB = 64 * 1024
DEFAULT_PARALLELISM = 4
DEFAULT_MAX_CONCURRENCY = 2


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
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=hash_len,
            salt_len=salt_len,
            type=argon2.Type.ID,
        )
        self.max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, hash: str, password: str) -> bool:
        """Whether `password` matches; False for a mismatch and for a malformed hash."""
        async with self._slots:
            return await asyncio.to_thread(self._verify, hash, password)

    def needs_rehash(self, hash: str) -> bool:
        """True when `hash` used other parameters, or is not an argon2 hash at all."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify(self, hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(hash, password)
        except (VerificationError, InvalidHashError):
            return False
