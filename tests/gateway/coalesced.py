"""A spy on the reads by id sent together (persistence.coalesced_reads), for the tests
that start requests at once and look at how their reads went."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from persistence.coalesced_reads import CoalescedReads


class Batches:
    """The sizes of the batches the read model sent (a spy: going together is the subject).

    Requests started together through the in-process client reach their reads over a few
    turns (the caller's lookup is a read of its own), not in one as a server's under load
    do; so a leader here waits, instead of one turn, until `expected` reads have arrived
    (or two seconds have passed: then the sizes say what did); with `expected` None,
    until none has joined for 20 ms."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        self.expected: int | None = 0
        together = CoalescedReads._together

        async def spy(reads: CoalescedReads, template: Any, keys: list[int], caller: Any) -> Any:
            self.sizes.append(len(keys))
            return await together(reads, template, keys, caller)

        async def gathered(reads: CoalescedReads) -> None:
            deadline = asyncio.get_running_loop().time() + 2.0
            seen, still = -1, 0
            while asyncio.get_running_loop().time() < deadline:
                waiting = sum(len(batch.keys) for batch in reads._open.values())
                if self.expected is None:
                    # Unknown: until no read has joined for 20 ms (only the sizes hinge on it).
                    seen, still = waiting, (still + 1 if waiting == seen else 0)
                    if still >= 20:
                        return
                elif waiting + sum(self.sizes) >= self.expected:  # here or sent
                    return
                await asyncio.sleep(0.001)

        monkeypatch.setattr(CoalescedReads, "_together", spy)
        monkeypatch.setattr(CoalescedReads, "_gathered", gathered)


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> Batches:
    return Batches(monkeypatch)
