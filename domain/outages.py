"""Reporting a dependency's outage: the port its users call on each failure and success.

The adapter (`persistence.outages.Outage`) logs an outage as an operator wants to read
it: when it starts, how it goes while it lasts, when it ends; never a traceback per call.
"""

from __future__ import annotations

from typing import Protocol


def describe(error: BaseException) -> str:
    """`Type: message`, one line, bounded: what a log line needs of an error."""
    text = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class OutageReport(Protocol):
    """One dependency as one of its users sees it; told of every call's outcome."""

    def failed(self, error: BaseException) -> None:
        """A call failed: the first failure starts an outage, later ones are counted."""
        ...

    def succeeded(self) -> None:
        """A call succeeded: ends the outage, if there was one."""
        ...


class UnreportedOutage:
    """Reports nothing: for objects built without a report (tests of other behaviour)."""

    def failed(self, error: BaseException) -> None:
        del error

    def succeeded(self) -> None:
        return None
