"""Account mutations: register, login, refresh, logout, passwords and roles."""

from __future__ import annotations

from typing import cast

import strawberry

from domain.tokens import TokenPair
from domain.users import User as DomainUser
from resolvers import accounts as account_resolvers
from resolvers.context import Context
from schema.declarations.users import User
from schema.node import decode_id
from schema.users import Role

type Info = strawberry.Info[Context, None]


@strawberry.type(description="A session: bearer tokens and the account they belong to.")
class AuthPayload:
    access_token: str
    refresh_token: str
    expires_in: int = strawberry.field(description="Seconds until the access token expires.")
    user: User

    @classmethod
    def from_domain(cls, user: DomainUser, pair: TokenPair) -> AuthPayload:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
            user=cast(User, user),  # the domain user is the declared type's root
        )


@strawberry.type(description="Fresh tokens after a password change; other sessions ended.")
class TokenPayload:
    access_token: str
    refresh_token: str
    expires_in: int


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str


@strawberry.type
class AccountMutation:
    @strawberry.mutation(description="Create a customer account and log it in.")
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        user, pair = await account_resolvers.register(
            info.context, input.email, input.password, input.name
        )
        # The caller has just shown they own the address; no token proves it yet.
        info.context.operation.shown_to_owner.add(("User", user.id))
        return AuthPayload.from_domain(user, pair)

    @strawberry.mutation(description="Start a session with an email and a password.")
    async def login(self, info: Info, email: str, password: str) -> AuthPayload:
        user, pair = await account_resolvers.login(info.context, email, password)
        info.context.operation.shown_to_owner.add(("User", user.id))
        return AuthPayload.from_domain(user, pair)

    @strawberry.mutation(description="Rotate a refresh token; reusing an old one ends the session.")
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        user, pair = await account_resolvers.refresh(info.context, refresh_token)
        info.context.operation.shown_to_owner.add(("User", user.id))
        return AuthPayload.from_domain(user, pair)

    @strawberry.mutation(description="End this session (the bearer token's).")
    async def logout(self, info: Info, refresh_token: str | None = None) -> bool:
        await account_resolvers.logout(info.context, refresh_token)
        return True

    @strawberry.mutation(
        description="End every session of a user: yourself, or anyone for an admin."
    )
    async def logout_all(self, info: Info, user_id: strawberry.ID | None = None) -> bool:
        target = decode_id(user_id, "User", "userId") if user_id is not None else None
        await account_resolvers.logout_all(info.context, target)
        return True

    @strawberry.mutation(description="Change your password; every other session ends.")
    async def change_password(
        self, info: Info, old_password: str, new_password: str
    ) -> TokenPayload:
        pair = await account_resolvers.change_password(info.context, old_password, new_password)
        return TokenPayload(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            expires_in=pair.expires_in,
        )

    @strawberry.mutation(description="Replace a user's roles (admin).")
    async def assign_roles(self, info: Info, user_id: strawberry.ID, roles: list[Role]) -> User:
        updated = await account_resolvers.assign_roles(
            info.context, decode_id(user_id, "User", "userId"), [r.value for r in roles]
        )
        return cast(User, updated)  # the domain user is the declared type's root
