"""The Query root: single objects, connections and `node`."""

from __future__ import annotations

import strawberry

from domain.audit import AuditFilter
from domain.specifications import all_of
from resolvers import audit as audit_resolvers
from resolvers import entities as entity_resolvers
from resolvers import orders as order_resolvers
from resolvers.context import Context
from schema.audit import AuditEntry, AuditLogFilter
from schema.declarations.users import User
from schema.node import Node, decode_id, parse_global_id
from schema.orders import Order, OrderFilter, OrderOrder, order_sort
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
        if type_name == "Order":
            order = await order_resolvers.order(info.context, key)
            return Order.from_domain(order) if order else None
        if type_name not in info.context.services.entities:
            return None  # declared, but not served by this schema
        found: Node | None = await entity_resolvers.one(info.context, type_name, key)
        return found

    @strawberry.field
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        found = await order_resolvers.order(info.context, decode_id(id, "Order"))
        return Order.from_domain(found) if found else None

    @strawberry.field(description="Orders: staff see all, customers their own.")
    async def orders(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: OrderFilter | None = None,
        order_by: OrderOrder | None = None,
    ) -> Connection[Order]:
        request = page_request(first, after, *order_sort(order_by or OrderOrder()))
        spec = filter.to_spec() if filter else all_of([])
        page = await order_resolvers.orders(info.context, spec, request)
        return connection(
            page, Order.from_domain, lambda: order_resolvers.count_orders(info.context, spec)
        )

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
