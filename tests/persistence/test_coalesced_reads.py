"""Reads by id of one turn go as one statement; each is answered as it would be alone.

The driver is stood in for by a function that answers a keyed statement with its key's
text and a batched one with the array of them, recording what it was sent: what goes
to Postgres is the subject here (the statement's meaning on Postgres is tested through
the gateway, tests/gateway/planner/postgres/test_coalesced_reads.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import TimedOutError, UnavailableError
from persistence.coalesced_reads import CoalescedReads, batched_sql
from persistence.driver_reads import DriverStatement

SQL = "SELECT (SELECT x FROM items WHERE items.id = $2 AND items.owner = $1) AS anon_1"
TEMPLATE = DriverStatement(SQL, (None, 7), caller_at=0, key_at=1, key_type="int4")


def _text(key: int, caller_id: int | None) -> str:
    return f"item {key} for {caller_id}"


class Driver:
    """Answers as Postgres would; `fail` raises for batches (or every statement)."""

    def __init__(self) -> None:
        self.sent: list[DriverStatement] = []
        self.fail: BaseException | None = None
        self.fail_alone = False
        self.hold: asyncio.Event | None = None
        self.sending = asyncio.Event()

    async def fetch(
        self, statements: Sequence[DriverStatement], caller_id: int | None
    ) -> list[Any]:
        [statement] = statements
        self.sent.append(statement)
        self.sending.set()
        if self.hold is not None:
            await self.hold.wait()
        assert statement.key_at is not None or "unnest" in statement.sql
        batched = "unnest" in statement.sql
        if self.fail is not None and (batched or self.fail_alone):
            raise self.fail
        value = statement.values[1]
        if batched:
            return [[_text(key, caller_id) for key in value]]
        return [_text(value, caller_id)]

    @property
    def sizes(self) -> list[int]:
        return [len(s.values[1]) if isinstance(s.values[1], list) else 1 for s in self.sent]


async def _together(reads: CoalescedReads, *calls: tuple[DriverStatement, Any, Any]) -> list[Any]:
    return list(await asyncio.gather(*(reads.read(*call) for call in calls)))


async def test_reads_of_one_turn_go_as_one_statement_each_answered_its_own() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    got = await _together(reads, *((TEMPLATE, key, 3) for key in (5, 1, 5, 9)))
    assert got == [_text(key, 3) for key in (5, 1, 5, 9)]
    [sent] = driver.sent
    assert sent.sql == batched_sql(SQL, 1, "int4")
    assert sent.values == (None, [5, 1, 5, 9])


async def test_a_read_alone_sends_the_template_keyed_as_before() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    assert await reads.read(TEMPLATE, 12, 3) == _text(12, 3)
    assert driver.sent == [
        DriverStatement(SQL, (None, 12), 0, 1, "int4")
    ]  # as the read model keys it


async def test_reads_of_other_callers_or_values_never_go_together() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    other = DriverStatement(SQL, (None, 7, "x"), caller_at=0, key_at=1, key_type="int4")
    got = await _together(
        reads, (TEMPLATE, 1, 3), (TEMPLATE, 2, 4), (other, 3, 3), (TEMPLATE, 4, 3)
    )
    assert got == [_text(1, 3), _text(2, 4), _text(3, 3), _text(4, 3)]
    assert sorted(driver.sizes) == [1, 1, 2]
    assert any(s.values == (None, [1, 4]) for s in driver.sent)


async def test_reads_by_other_callers_go_together_when_the_statement_takes_no_caller() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    public = DriverStatement(SQL, (0, 7), caller_at=None, key_at=1, key_type="int4")
    got = await _together(reads, (public, 1, 3), (public, 2, 4), (public, 3, None))
    # The stand-in writes the caller it is given: the leader's, as Postgres would ignore it.
    assert got == [_text(1, 3), _text(2, 3), _text(3, 3)]
    assert driver.sizes == [3]


@pytest.mark.parametrize(
    ("key", "key_type"),
    [(2**31, "int4"), (-(2**31) - 1, "int4"), (2**15, "int2"), (2**63, "int8"), (True, "int4")],
)
async def test_a_key_the_column_cannot_hold_is_read_alone(key: Any, key_type: str) -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    template = DriverStatement(SQL, (None, 7), 0, 1, key_type)
    got = await _together(reads, (template, 1, 3), (template, key, 3), (template, 2, 3))
    assert got == [_text(1, 3), _text(key, 3), _text(2, 3)]
    assert sorted(driver.sizes) == [1, 2]
    assert (None, key) in [s.values for s in driver.sent]


async def test_a_template_without_an_integer_key_or_with_unhashable_values_reads_alone() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    untyped = DriverStatement(SQL, (None, 7), 0, 1, None)
    listed = DriverStatement(SQL, (None, 7, [1]), 0, 1, "int4")
    await _together(reads, (untyped, 1, 3), (untyped, 2, 3), (listed, 1, 3), (listed, 2, 3))
    assert driver.sizes == [1, 1, 1, 1]


async def test_a_full_batch_is_sent_and_the_next_read_starts_another() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch, max_keys=2)
    got = await _together(reads, *((TEMPLATE, key, 3) for key in range(5)))
    assert got == [_text(key, 3) for key in range(5)]
    assert sorted(driver.sizes) == [1, 2, 2]


@pytest.mark.parametrize("error", [UnavailableError("down"), TimedOutError("a statement")])
async def test_an_outage_or_timeout_of_the_batch_is_every_members(error: Exception) -> None:
    driver = Driver()
    driver.fail = error
    reads = CoalescedReads(driver.fetch)
    got = await asyncio.gather(
        *(reads.read(TEMPLATE, key, 3) for key in range(3)), return_exceptions=True
    )
    assert got == [error, error, error]
    assert driver.sizes == [3]  # nobody went again on their own


async def test_any_other_failure_of_the_batch_sends_the_members_alone() -> None:
    driver = Driver()
    driver.fail = RuntimeError("a batch the driver did not take")
    reads = CoalescedReads(driver.fetch)
    got = await asyncio.gather(
        *(reads.read(TEMPLATE, key, 3) for key in range(3)), return_exceptions=True
    )
    assert isinstance(got[0], RuntimeError)  # the leader's own failure
    assert got[1:] == [_text(1, 3), _text(2, 3)]
    assert driver.sizes == [3, 1, 1]


async def test_a_leader_cancelled_under_the_batch_leaves_its_members_read_alone() -> None:
    driver = Driver()
    driver.hold = asyncio.Event()
    reads = CoalescedReads(driver.fetch)
    tasks = [asyncio.create_task(reads.read(TEMPLATE, key, 3)) for key in range(3)]
    await driver.sending.wait()
    tasks[0].cancel()  # the leader: its client went away under the statement
    await asyncio.sleep(0)
    driver.hold.set()
    assert await asyncio.gather(*tasks[1:]) == [_text(1, 3), _text(2, 3)]
    assert tasks[0].cancelled()
    assert driver.sizes == [3, 1, 1]


async def test_a_member_cancelled_meanwhile_takes_nothing_from_the_others() -> None:
    driver = Driver()
    driver.hold = asyncio.Event()
    reads = CoalescedReads(driver.fetch)
    tasks = [asyncio.create_task(reads.read(TEMPLATE, key, 3)) for key in range(3)]
    await driver.sending.wait()
    tasks[1].cancel()
    await asyncio.sleep(0)
    driver.hold.set()
    assert await tasks[0] == _text(0, 3)
    assert await tasks[2] == _text(2, 3)
    assert tasks[1].cancelled()
    assert driver.sizes == [3]


async def test_a_leader_cancelled_before_it_sends_leaves_its_members_read_alone() -> None:
    driver = Driver()
    reads = CoalescedReads(driver.fetch)
    tasks = [asyncio.create_task(reads.read(TEMPLATE, key, 3)) for key in range(3)]
    await asyncio.sleep(0)  # all three started: the first waits its turn, two joined
    tasks[0].cancel()
    assert await asyncio.gather(*tasks[1:]) == [_text(1, 3), _text(2, 3)]
    assert driver.sizes == [1, 1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.one_of(st.integers(-(2**40), 2**40), st.booleans()),
                st.sampled_from([None, 1, 2]),
                st.sampled_from(["int2", "int4", "int8", None]),
            ),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 5),
)
def test_every_read_is_answered_as_alone_however_the_reads_arrive(
    turns: list[list[tuple[Any, int | None, str | None]]], max_keys: int
) -> None:
    async def run() -> None:
        driver = Driver()
        reads = CoalescedReads(driver.fetch, max_keys=max_keys)
        tasks = []
        for turn in turns:
            for key, caller_id, key_type in turn:
                template = DriverStatement(SQL, (None, 7), 0, 1, key_type)
                tasks.append(
                    (key, caller_id, asyncio.create_task(reads.read(template, key, caller_id)))
                )
            await asyncio.sleep(0)
        for key, caller_id, task in tasks:
            assert await task == _text(key, caller_id)
        assert max(driver.sizes) <= max_keys
        assert sum(driver.sizes) == len(tasks)

    asyncio.run(run())


def test_the_batched_statement_replaces_the_key_placeholder_and_no_longer_one() -> None:
    sql = "SELECT (SELECT 1 FROM t WHERE t.id = $1 AND t.a = $12 OR t.b = $1::INTEGER) AS x"
    got = batched_sql(sql, 0, "int8")
    assert got == (
        "SELECT array_agg((SELECT (SELECT 1 FROM t WHERE t.id = _batch_keys.key AND t.a = $12 "
        "OR t.b = _batch_keys.key::INTEGER) AS x) ORDER BY _batch_keys.ord) "
        "FROM unnest($1::int8[]) WITH ORDINALITY AS _batch_keys(key, ord)"
    )
    with pytest.raises(ValueError, match=r"\$3 is not in the statement"):
        batched_sql(sql, 2, "int4")
