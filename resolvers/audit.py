"""Audit log resolvers."""

from __future__ import annotations

from domain.audit import AuditEntry, AuditFilter
from domain.paging import Page, PageRequest
from resolvers.context import Context


async def audit_log(context: Context, spec: AuditFilter, request: PageRequest) -> Page[AuditEntry]:
    return await context.services.audit.page(context.principal, spec, request)


async def count_audit_log(context: Context, spec: AuditFilter) -> int:
    return await context.services.audit.count(context.principal, spec)
