"""The account `User`: stored in the hand-written `users` table, with no generic
mutations (accounts change through register, login, passwords and roles: the account
service's use cases in `domain.services.accounts`).

The email is personal data: its owner and admins read it (`owner="id"`), and the
`roles` field is written here as a Strawberry field of its own.
"""

from __future__ import annotations

import strawberry
from strawberry import auto

from domain import users
from domain.model import EQUALITY
from domain.services import users as user_services
from domain.specifications import Op
from schema.cache_control import CacheScope, cache_control
from schema.entities import declared, entity, one_to_many
from schema.node import Node
from schema.users import Role


def _roles(root: strawberry.Parent[users.User]) -> list[Role]:
    return sorted((Role(role.value) for role in root.roles), key=lambda role: role.value)


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
    orders: auto = one_to_many(
        "Order", "customer_id", description="The user's orders, newest first by default."
    )
