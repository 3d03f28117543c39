"""The audit trail in SQL: rows written by the unit of work, read and purged here.

Values are redacted as they are stored, by the logs' rules (`domain.redaction`): a
sensitive field keeps its name with `[redacted]` for a value (so a password change shows
that the password changed, never what to), and text is masked (emails, tokens).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit import AuditAction, AuditContext, AuditEntry, AuditFilter, AuditRecord
from domain.paging import Cursor, Page, PageRequest
from domain.redaction import REDACTED, is_sensitive_key, redact_value
from persistence import tables
from persistence.repository import check_first

AUDIT_LOG = tables.AUDIT_LOG


def _plain(value: Any) -> Any:
    """A JSON-ready form of a stored value (times as ISO text, decimals as text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(item) for item in value)
    return value


def redacted_fields(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`values` as stored: sensitive fields shown as `[redacted]`, the rest redacted."""
    if values is None:
        return None
    return {
        key: REDACTED if is_sensitive_key(key) else redact_value(_plain(value))
        for key, value in values.items()
    }


def _json(values: Mapping[str, Any] | None) -> str | None:
    redacted = redacted_fields(values)
    return None if redacted is None else json.dumps(redacted, sort_keys=True)


def audit_rows(
    records: Sequence[AuditRecord], context: AuditContext, at: datetime
) -> list[dict[str, Any]]:
    """The rows to insert for `records`, made by `context` at `at`."""
    return [
        {
            "occurred_at": at,
            "actor_id": record.actor_id if record.actor_id is not None else context.actor_id,
            "request_id": context.request_id,
            "client_ip": context.client_ip,
            "action": record.action.value,
            "entity_type": record.entity_type,
            "entity_id": record.entity_id,
            "before": _json(record.before),
            "after": _json(record.after),
        }
        for record in records
    ]


def _where(spec: AuditFilter) -> list[sa.ColumnElement[bool]]:
    c = AUDIT_LOG.c
    conditions: list[sa.ColumnElement[bool]] = []
    if spec.entity_type is not None:
        conditions.append(c.entity_type == spec.entity_type)
    if spec.entity_id is not None:
        conditions.append(c.entity_id == spec.entity_id)
    if spec.actor_id is not None:
        conditions.append(c.actor_id == spec.actor_id)
    if spec.action is not None:
        conditions.append(c.action == spec.action.value)
    if spec.since is not None:
        conditions.append(c.occurred_at >= spec.since)
    if spec.until is not None:
        conditions.append(c.occurred_at < spec.until)
    return conditions


def _entry(row: sa.RowMapping) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        occurred_at=row["occurred_at"],
        actor_id=row["actor_id"],
        request_id=row["request_id"],
        client_ip=row["client_ip"],
        action=AuditAction(row["action"]),
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        before=None if row["before"] is None else json.loads(row["before"]),
        after=None if row["after"] is None else json.loads(row["after"]),
    )


class SqlAuditLog:
    """`domain.ports.AuditLog` over the `audit_log` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def page(self, spec: AuditFilter, request: PageRequest) -> Page[AuditEntry]:
        # Newest first by id: ids are given in commit order of the inserting
        # transactions closely enough, and unlike times they never tie.
        check_first(request)
        statement = sa.select(AUDIT_LOG).where(*_where(spec))
        if request.after is not None:
            statement = statement.where(AUDIT_LOG.c.id < request.after.id)
        statement = statement.order_by(AUDIT_LOG.c.id.desc()).limit(request.first + 1)
        async with self._engine.connect() as conn:
            rows = list((await conn.execute(statement)).mappings())
        entries = [_entry(row) for row in rows[: request.first]]
        return Page(
            items=entries,
            cursors=[Cursor(entry.id, entry.id) for entry in entries],
            has_next_page=len(rows) > request.first,
            has_previous_page=request.after is not None,
        )

    async def count(self, spec: AuditFilter) -> int:
        statement = sa.select(sa.func.count()).select_from(AUDIT_LOG).where(*_where(spec))
        async with self._engine.connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def purge(self, before: datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.delete(AUDIT_LOG).where(AUDIT_LOG.c.occurred_at < before)
            )
        return int(result.rowcount or 0)
