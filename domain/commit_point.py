"""The commit point: callers learn, per task, that a unit of work is about to commit.

A request's execution deadline governs only the work before its first commit: once a
change is being committed, cancelling it would leave the client unsure whether it
happened (and retrying would do it twice). The GraphQL endpoint registers a callback
that lifts its deadline; the unit of work calls `reached()` just before COMMIT.
A context variable carries it, so concurrent requests never see each other's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CALLBACK: ContextVar[Callable[[], None] | None] = ContextVar("commit_point", default=None)


@contextmanager
def on_commit(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` whenever a unit of work in this task (or its children) commits."""
    token = _CALLBACK.set(callback)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


def reached() -> None:
    """A unit of work is about to commit: tell whoever is listening, synchronously."""
    callback = _CALLBACK.get()
    if callback is not None:
        callback()
