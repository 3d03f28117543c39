"""Reading the audit trail (admins only) and letting it age out; nothing edits it. And
the base of the services whose changes are audited as one request's (`AuditedService`)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Self

from domain.audit import AuditContext, AuditEntry, AuditFilter
from domain.paging import Page, PageRequest
from domain.ports import AuditLog, UnitOfWorkFactory
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


class AuditedService:
    """A service whose unit of work can be bound to one request's `AuditContext`."""

    _uow: UnitOfWorkFactory

    def for_request(self, context: AuditContext) -> Self:
        """This service, its changes recorded as made by `context` (a shallow copy:
        whatever else it holds is shared with the original)."""
        bound = copy.copy(self)
        bound._uow = self._uow.on_behalf_of(context)
        return bound
