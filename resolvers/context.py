"""The per-request context every resolver receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domain.principals import Principal
from domain.services.accounts import AccountService
from domain.services.entities import EntityService
from domain.services.items import ItemService
from domain.services.orders import OrderService
from domain.services.users import UserService
from domain.tokens import TokenClaims
from resolvers.loaders import BatchObserver, Loaders, build_loaders


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services a request may call; built once by the composition root."""

    users: UserService
    items: ItemService
    orders: OrderService
    accounts: AccountService
    # The generic (or replaced) service of each declared entity, by entity name.
    entities: Mapping[str, EntityService] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """What a resolver knows about its request: who asks, with which services."""

    principal: Principal
    services: Services
    loaders: Loaders
    request_id: str
    # The verified access token, when one authenticated the request (logout needs it).
    token: TokenClaims | None = None
    # The client's address as the gateway determined it (trusted proxies applied).
    client_ip: str | None = None
    # Transport objects stay opaque here: resolvers must not depend on Starlette.
    request: Any = None
    response: Any = None
    # Strawberry fills this from the WebSocket `connection_init` payload.
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        principal: Principal,
        services: Services,
        request_id: str,
        *,
        observe_batch: BatchObserver | None = None,
        **transport: Any,
    ) -> Context:
        loaders = build_loaders(
            principal,
            users=services.users,
            items=services.items,
            orders=services.orders,
            entities=services.entities,
            **({"observe": observe_batch} if observe_batch is not None else {}),
        )
        return cls(principal, services, loaders, request_id, **transport)
