"""The Query root: single objects, connections and `node`."""

from __future__ import annotations

import strawberry

from domain.audit import AuditFilter
from resolvers import audit as audit_resolvers
from resolvers import entities as entity_resolvers
from resolvers.context import Context
from schema.audit import AuditEntry, AuditLogFilter
from schema.declarations.users import User
from schema.node import Node, parse_global_id
from schema.pagination import Connection, connection, page_request

type Info = strawberry.Info[Context, None]


@strawberry.type
class Query:
    @strawberry.field(description="The caller's own account; null when anonymous.")
    async def me(self, info: Info) -> User | None:
        me = info.context.principal.user_id
        if me is None:
            return None
        found: User | None = await entity_resolvers.one(info.context, "User", me)
        return found

    @strawberry.field(description="Any object by its global id; null if absent or hidden.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:  # Relay's name
        type_name, key = parse_global_id(id)
        if type_name not in info.context.services.entities:
            return None  # declared, but not served by this schema
        found: Node | None = await entity_resolvers.one(info.context, type_name, key)
        return found

    @strawberry.field(
        description="Changes and security events, newest first (admins only; read-only)."
    )
    async def audit_log(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: AuditLogFilter | None = None,  # GraphQL argument name
    ) -> Connection[AuditEntry]:
        request = page_request(first, after, "id", "desc")
        spec = filter.to_domain() if filter else AuditFilter()
        page = await audit_resolvers.audit_log(info.context, spec, request)
        return connection(
            page,
            AuditEntry.from_domain,
            lambda: audit_resolvers.count_audit_log(info.context, spec),
        )
