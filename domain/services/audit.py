"""Reading the audit trail (admins only) and letting it age out; nothing edits it."""

from __future__ import annotations

from datetime import datetime

from domain.audit import AuditEntry, AuditFilter
from domain.paging import Page, PageRequest
from domain.ports import AuditLog
from domain.principals import Principal

READ_PERMISSION = "audit:read"


class AuditService:
    """The audit log for admins; the only write is the retention purge."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def page(
        self, principal: Principal, spec: AuditFilter, request: PageRequest
    ) -> Page[AuditEntry]:
        """A page of entries, newest first; raises UnauthenticatedError or ForbiddenError."""
        principal.require(READ_PERMISSION)
        return await self._log.page(spec, request)

    async def count(self, principal: Principal, spec: AuditFilter) -> int:
        principal.require(READ_PERMISSION)
        return await self._log.count(spec)

    async def purge(self, before: datetime) -> int:
        """Delete entries older than `before` (the retention job); how many went."""
        return await self._log.purge(before)
