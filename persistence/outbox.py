"""The transactional outbox: events stored with their change, read back by the relay.

The unit of work inserts `outbox_rows(events)` in the transaction of the change; the
relay (`persistence.outbox_relay`) reads unpublished rows in id order (those due: a
delayed job's row waits for its `deliver_after`), publishes them and marks them;
`purge` deletes published rows past the retention period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.events import DomainEvent
from persistence import tables
from persistence.event_codec import decode_event, encode_event

OUTBOX = tables.OUTBOX


def outbox_rows(events: Sequence[DomainEvent]) -> list[dict[str, Any]]:
    """The rows to insert for `events`, in the order they were recorded."""
    return [
        {
            "event_id": event.event_id,
            "event_type": type(event).__name__,
            "aggregate": event.aggregate,
            "payload": encode_event(event),
            "occurred_at": event.occurred_at,
            "deliver_after": event.deliver_after,
        }
        for event in events
    ]


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """One unpublished outbox row: its position, and the event or why it is unreadable."""

    row_id: int
    event_id: str
    event: DomainEvent | None
    error: str | None = None


async def pending(
    conn: AsyncConnection, limit: int, now: datetime | None = None
) -> list[PendingEvent]:
    """The oldest `limit` unpublished events due at `now` (all if None), oldest first."""
    due: sa.ColumnElement[bool] = OUTBOX.c.published_at.is_(None)
    if now is not None:
        # A delayed job waits; it is its own aggregate, so no other event waits with it.
        due = due & (OUTBOX.c.deliver_after.is_(None) | (OUTBOX.c.deliver_after <= now))
    result = await conn.execute(
        sa.select(OUTBOX.c.id, OUTBOX.c.event_id, OUTBOX.c.payload)
        .where(due)
        .order_by(OUTBOX.c.id)
        .limit(limit)
    )
    found: list[PendingEvent] = []
    for row_id, event_id, payload in result.all():
        try:
            found.append(PendingEvent(row_id, event_id, decode_event(payload)))
        except ValueError as exc:
            found.append(PendingEvent(row_id, event_id, None, str(exc)))
    return found


async def mark_published(conn: AsyncConnection, row_ids: Sequence[int], at: datetime) -> None:
    await conn.execute(
        sa.update(OUTBOX).where(OUTBOX.c.id.in_(list(row_ids))).values(published_at=at)
    )


async def purge(conn: AsyncConnection, published_before: datetime) -> int:
    """Delete events published before `published_before`; returns how many."""
    result = await conn.execute(
        sa.delete(OUTBOX).where(
            OUTBOX.c.published_at.is_not(None), OUTBOX.c.published_at < published_before
        )
    )
    return int(result.rowcount or 0)


async def unpublished_count(conn: AsyncConnection) -> int:
    result = await conn.execute(
        sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
    )
    return int(result.scalar_one())
