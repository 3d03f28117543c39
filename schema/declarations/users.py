"""The account `User`: stored in the hand-written `users` table, with no generic
mutations (accounts change through register, login, passwords and roles: the account
service's use cases in `domain.services.accounts`).

The email is personal data: its owner and admins read it (`owner="id"`), and the
`roles` and `orders` fields are written here as Strawberry fields of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import auto

from domain import users
from domain.model import EQUALITY
from domain.services import users as user_services
from domain.specifications import Op, all_of
from resolvers import orders as order_resolvers
from resolvers.context import Context
from schema.cache_control import CacheScope, cache_control
from schema.entities import declared, entity
from schema.node import Node
from schema.pagination import Connection, connection, page_request
from schema.users import Role

if TYPE_CHECKING:
    from schema.orders import Order, OrderFilter, OrderOrder

type Info = strawberry.Info[Context, None]


def _roles(root: strawberry.Parent[users.User]) -> list[Role]:
    return sorted((Role(role.value) for role in root.roles), key=lambda role: role.value)


async def _orders(
    root: strawberry.Parent[users.User],
    info: Info,
    first: int | None = 10,
    after: str | None = None,
    filter: Annotated[OrderFilter, strawberry.lazy("schema.orders")]
    | None = None,  # GraphQL argument name
    order_by: Annotated[OrderOrder, strawberry.lazy("schema.orders")] | None = None,
) -> Connection[Annotated[Order, strawberry.lazy("schema.orders")]]:
    from schema.orders import Order, OrderOrder, order_sort

    request = page_request(first, after, *order_sort(order_by or OrderOrder()))
    spec = filter.to_spec() if filter else all_of([])
    page = await order_resolvers.customer_orders(info.context, root.id, spec, request)
    return connection(
        page,
        Order.from_domain,
        lambda: order_resolvers.count_customer_orders(info.context, root.id, spec),
    )


@cache_control(max_age=30, scope=CacheScope.PRIVATE)
@entity(
    users.User,
    table="users",
    policy=user_services.POLICY,
    mutations=(),
    description="An account.",
    descriptions={"users": "Users: staff see everyone, others only themselves."},
)
class User(Node):
    name: auto = declared(filters={Op.CONTAINS}, orderable=True)
    roles = strawberry.field(resolver=_roles)
    active: auto = declared(filters=EQUALITY)
    created_at: auto = declared(orderable=True)
    email: auto = declared(
        read="users:read_email",
        owner="id",
        description="Visible to the user and to admins; null for anyone else.",
    )
    orders = strawberry.field(
        resolver=_orders, description="The user's orders, newest first by default."
    )
