"""User types and the user list inputs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import users as domain_users
from domain.specifications import Specification, all_of, field
from resolvers import orders as order_resolvers
from resolvers import users as user_resolvers
from resolvers.context import Context
from schema.cache_control import CacheScope, cache_control
from schema.node import Node, to_global_id
from schema.pagination import Connection, OrderDirection, connection, page_request

if TYPE_CHECKING:
    from schema.orders import Order, OrderFilter, OrderOrder


@strawberry.enum
class Role(enum.Enum):
    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


@cache_control(max_age=30, scope=CacheScope.PRIVATE)
@strawberry.type(description="An account.")
class User(Node):
    name: str
    roles: list[Role]
    active: bool
    created_at: datetime
    pk: strawberry.Private[int]
    _email: strawberry.Private[str]
    # Set when the response goes to the account's owner before a token proves it
    # (register, login): the caller has just shown they own the address.
    _owner_view: strawberry.Private[bool] = False

    @classmethod
    def from_domain(cls, user: domain_users.User, *, owner_view: bool = False) -> User:
        return cls(
            id=to_global_id("User", user.id),
            pk=user.id,
            name=user.name,
            roles=sorted((Role(r.value) for r in user.roles), key=lambda r: r.value),
            active=user.active,
            created_at=user.created_at,
            _email=user.email.value,
            _owner_view=owner_view,
        )

    @strawberry.field(description="Visible to the user and to admins; null for anyone else.")
    def email(self, info: strawberry.Info[Context, None]) -> str | None:
        visible = self._owner_view or user_resolvers.can_see_email(info.context, self.pk)
        return self._email if visible else None

    @strawberry.field(description="The user's orders, newest first by default.")
    async def orders(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = 10,
        after: str | None = None,
        filter: Annotated[OrderFilter, strawberry.lazy("schema.orders")]
        | None = None,  # GraphQL argument name
        order_by: Annotated[OrderOrder, strawberry.lazy("schema.orders")] | None = None,
    ) -> Connection[Annotated[Order, strawberry.lazy("schema.orders")]]:
        from schema.orders import Order, OrderOrder, order_sort

        sort = order_by or OrderOrder()
        request = page_request(first, after, *order_sort(sort))
        spec = filter.to_spec() if filter else all_of([])
        page = await order_resolvers.customer_orders(info.context, self.pk, spec, request)
        return connection(
            page,
            Order.from_domain,
            lambda: order_resolvers.count_customer_orders(info.context, self.pk, spec),
        )


@strawberry.input(description="Conditions on users; all given conditions must hold.")
class UserFilter:
    name_contains: str | None = None
    active: bool | None = None

    def to_spec(self) -> Specification:
        parts: list[Specification] = []
        if self.name_contains is not None:
            parts.append(field("name").contains(self.name_contains))
        if self.active is not None:
            parts.append(field("active") == self.active)
        return all_of(parts)


@strawberry.enum
class UserOrderField(enum.Enum):
    ID = "id"
    NAME = "name"
    CREATED_AT = "created_at"


@strawberry.input
class UserOrder:
    field: UserOrderField = UserOrderField.ID
    direction: OrderDirection = OrderDirection.ASC
