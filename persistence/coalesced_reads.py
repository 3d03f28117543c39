"""Planned reads by id that reach Postgres in the same event-loop turn, sent as one statement.

Under load a replica starts many requests in one turn of its event loop (every socket the
poll found readable); those that read one object by id with the same statement (the same
prepared template: same fields, same rules, same caller's id when a rule names it) differ
only in the key. Each alone costs a pooled connection's round trip: the driver's Python,
a `send`, a poll and a `recv`, more than half of the whole read of a small object on this
kind of machine (docs/benchmarks/design-notes.md, "Reads by id coalesced"). Here the first
of them (the leader) waits one turn for the others to join, then sends the template once
for all their keys:

    SELECT array_agg((<the template, its key replaced by _batch_keys.key>) ORDER BY ord)
    FROM unnest($k::int4[]) WITH ORDINALITY AS _batch_keys(key, ord)

and hands each its own answer. The answers are those the template gives alone: the same
text for each key (each key's value is the same scalar subquery, correlated to it), NULL
for a missing or hidden object. Hasura answers its live queries the same way
(multiplexing their variables through `unnest`).

What it does not change:
- a statement with other values (another caller's id, other rules, another template)
  is another group, never mixed;
- a key the key column cannot hold is never coalesced: alone, the database refuses it
  exactly as before (the client's error), not by a batch turning it into `null`;
- a batch fails as a whole only for what would have failed each of its reads (the
  database unavailable, the statement timeout): those errors reach every member; any
  other failure, or the leader cancelled (its client gone, its deadline), sends each
  waiting member to the database alone, within its own deadline.

The statement counters, spans and N+1 guard see one statement, in the leader's request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from domain.errors import TimedOutError, UnavailableError
from persistence.driver_reads import DriverStatement

type Fetch = Callable[[Sequence[DriverStatement], int | None], Awaitable[list[Any]]]

# The most keys one statement carries; a batch this full is sent and the next starts.
MAX_KEYS = 64

# The range of each key type a template may take (`DriverStatement.key_type`).
_RANGES = {
    "int2": (-(2**15), 2**15 - 1),
    "int4": (-(2**31), 2**31 - 1),
    "int8": (-(2**63), 2**63 - 1),
}

# Errors that would have been every member's: passed to all of them.
_SHARED = (UnavailableError, TimedOutError)

type _Group = tuple[str, tuple[Any, ...], int | None]


class _Alone(Exception):
    """A member's batch could not answer it: the member reads alone."""


class _Batch:
    __slots__ = ("keys", "waiters")

    def __init__(self, key: int) -> None:
        self.keys = [key]
        self.waiters: list[asyncio.Future[Any]] = []


class CoalescedReads:
    """Reads by id through `fetch` (the driver's), those of one turn and one statement
    sent together."""

    def __init__(self, fetch: Fetch, max_keys: int = MAX_KEYS) -> None:
        self._fetch = fetch
        self._max_keys = max_keys
        self._open: dict[_Group, _Batch] = {}

    async def read(self, template: DriverStatement, key: int, caller_id: int | None) -> Any:
        """The template's answer for `key` (its first column, None without a row), as the
        driver's `fetch` of the template keyed alone would give it."""
        group = _group_of(template, key, caller_id)
        if group is None:
            return await self._alone(template, key, caller_id)
        batch = self._open.get(group)
        if batch is not None:
            return await self._join(batch, group, template, key, caller_id)
        batch = _Batch(key)
        if self._max_keys > 1:  # an open batch is never full: a member's join may close it
            self._open[group] = batch
        try:
            try:
                await self._gathered()
            finally:
                if self._open.get(group) is batch:
                    del self._open[group]
            if not batch.waiters:
                return await self._alone(template, key, caller_id)
            texts = await self._together(template, batch.keys, caller_id)
        except _SHARED as error:
            _fail(batch.waiters, error)
            raise
        except BaseException:
            _fail(batch.waiters, _Alone())
            raise
        for waiter, text in zip(batch.waiters, texts[1:], strict=True):
            if not waiter.done():  # a member cancelled meanwhile
                waiter.set_result(text)
        return texts[0]

    async def _gathered(self) -> None:
        """The leader's wait for the others: one turn, in which the requests this turn
        started reach their reads and join."""
        await asyncio.sleep(0)

    async def _join(
        self,
        batch: _Batch,
        group: _Group,
        template: DriverStatement,
        key: int,
        caller_id: int | None,
    ) -> Any:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        batch.keys.append(key)
        batch.waiters.append(waiter)
        if len(batch.keys) >= self._max_keys:
            del self._open[group]  # full: the next read starts another
        try:
            return await waiter
        except _Alone:
            return await self._alone(template, key, caller_id)

    async def _alone(self, template: DriverStatement, key: int, caller_id: int | None) -> Any:
        [text] = await self._fetch([template.keyed(key)], caller_id)
        return text

    async def _together(
        self, template: DriverStatement, keys: list[int], caller_id: int | None
    ) -> list[Any]:
        assert template.key_at is not None  # grouped only when keyed, by an integer
        assert template.key_type is not None
        batched = replace(
            template.keyed(keys),
            sql=batched_sql(template.sql, template.key_at, template.key_type),
            key_at=None,  # the array is the batch's, not a key to give again
            key_type=None,
        )
        [texts] = await self._fetch([batched], caller_id)
        if not isinstance(texts, list) or len(texts) != len(keys):
            raise RuntimeError(f"a batch of {len(keys)} keys answered {texts!r:.80}")
        return texts


def _group_of(template: DriverStatement, key: int, caller_id: int | None) -> _Group | None:
    """What reads must share to go together, or None when this one goes alone."""
    if template.key_at is None or template.key_type is None:
        return None
    low, high = _RANGES[template.key_type]
    if type(key) is not int or not low <= key <= high:
        return None
    values = list(template.values)
    values[template.key_at] = None
    # The caller's id only where the statement takes it (a rule naming the caller):
    # reads of a public entity by different callers go together.
    group = (template.sql, tuple(values), caller_id if template.caller_at is not None else None)
    try:
        hash(group)
    except TypeError:  # a value without a hash (a list for an array column)
        return None
    return group


def _fail(waiters: list[asyncio.Future[Any]], error: BaseException) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)
            # Marked seen: a member cancelled meanwhile never reads it.
            waiter.exception()


@lru_cache(maxsize=1_024)
def batched_sql(sql: str, key_at: int, key_type: str) -> str:
    """`sql` (one row, one column) for an array of keys in place of its key parameter:
    one array of its answers, in the keys' order."""
    parameter = f"${key_at + 1}"
    # The key's placeholder, not a longer one it begins (`$1` in `$12`). Compiled
    # statements carry every value as a parameter, so no `$` is in a literal.
    inner, found = re.subn(re.escape(parameter) + r"(?!\d)", "_batch_keys.key", sql)
    if not found:
        raise ValueError(f"{parameter} is not in the statement")
    return (
        f"SELECT array_agg(({inner}) ORDER BY _batch_keys.ord) "  # noqa: S608  # our own statement
        f"FROM unnest({parameter}::{key_type}[]) WITH ORDINALITY AS _batch_keys(key, ord)"
    )
