"""The per-request context every resolver receives."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from domain.audit import AuditContext
from domain.caching import CacheHint
from domain.principals import Principal
from domain.read_plan import PlanKey, Planned
from domain.services.accounts import AccountService
from domain.services.audit import AuditService
from domain.services.entities import EntityService
from domain.services.items import ItemService
from domain.services.orders import OrderService
from domain.services.users import UserService
from domain.tokens import TokenClaims
from domain.upstreams import UpstreamFetcher
from resolvers.loaders import BatchObserver, Loaders, build_loaders
from resolvers.realtime import Realtime


class PlannedData(enum.Enum):
    """How a transport takes data the read planner built in the database."""

    # Not at all: every field is resolved (a transport that cannot take planned data).
    NONE = enum.auto()
    # As JSON text spliced into the response (the transport serialises with orjson).
    RAW_JSON = enum.auto()
    # As Python values (the transport reshapes `data`, as REST does).
    DECODED = enum.auto()


class Prepaid(NamedTuple):
    """The cost budget's decision, taken before execution (by the prepared path).

    Paid or refused, the full path reuses it rather than debiting again: a refusal
    takes nothing, and nothing is taken twice. A named tuple: one is made per request,
    and a frozen dataclass's __init__ costs ~1 µs more.
    """

    cost: int
    allowed: bool
    retry_after: int
    report: Mapping[str, Any]


@dataclass(slots=True)
class OperationState:
    """What the transport and the schema's extensions tell each other about one operation.

    A batch runs several operations on one `Context`: each starts with a new state.
    """

    # The static cost and the execution it was computed for: the cost limit and the
    # budget, two extensions of one execution, price it once between them.
    priced: tuple[object, int] | None = None
    prepaid: Prepaid | None = None
    # The key to file a planned answer under (the prepared path's own key), if any.
    prepare_as: PlanKey | None = None
    # Left by the planner: the operation it answered, to be answered again without Strawberry.
    planned: Planned | None = None
    # Left by the response cache: what the answer may be cached as (None: not at all),
    # for the transport's Cache-Control.
    cache_hint: CacheHint | None = None
    # Objects shown to their owner before a token proves it (register, login): a field
    # readable by its owner (`declared(owner=...)`) reads for them, by (entity, id).
    shown_to_owner: set[tuple[str, int]] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services a request may call; built once by the composition root."""

    users: UserService
    items: ItemService
    accounts: AccountService
    audit: AuditService
    # The generic (or replaced) service of each declared entity, by entity name.
    entities: Mapping[str, EntityService] = field(default_factory=dict)
    # The upstream services behind declared fields; None: those fields are
    # UPSTREAM_UNAVAILABLE ("not configured").
    upstreams: UpstreamFetcher | None = None

    @property
    def orders(self) -> OrderService:
        """The order use cases: the service of the declared `Order`."""
        service = self.entities["Order"]
        assert isinstance(service, OrderService)
        return service

    def for_request(self, context: AuditContext) -> Services:
        """These services, every change they make audited as made by `context` (a field
        added later is carried over as it is: only the services that write are rebound)."""
        return dataclasses.replace(
            self,
            users=self.users.for_request(context),
            items=self.items.for_request(context),
            accounts=self.accounts.for_request(context),
            entities={name: s.for_request(context) for name, s in self.entities.items()},
        )


@dataclass(slots=True)
class Context:
    """What a resolver knows about its request: who asks, with which services.

    `services` are bound to the request (each change audited as made by the principal,
    with the request id and client address) on first use: a planned or prepared answer
    calls none, and binding them all up front was about a quarter of the CPU of a
    persisted trivial query (docs/benchmarks/design-notes.md).
    """

    principal: Principal
    # The composition root's services; resolvers use `services`, bound to this request.
    shared_services: Services
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
    planned_data: PlannedData = PlannedData.NONE
    operation: OperationState = field(default_factory=OperationState)
    # The WebSocket connection a subscription streams on (set by the realtime view).
    realtime: Realtime | None = None
    # `shared_services` bound for the principal whose id is `_bound_for`.
    _bound: Services | None = field(default=None, init=False, repr=False)
    _bound_for: int | None = field(default=None, init=False, repr=False)

    @property
    def services(self) -> Services:
        """The services, their changes audited as made by this request's principal (bound
        again if the principal changes, as a WebSocket's does at `connection_init`)."""
        user_id = self.principal.user_id
        if self._bound is None or self._bound_for != user_id:
            audit = AuditContext(user_id, self.request_id, self.client_ip or None)
            self._bound, self._bound_for = self.shared_services.for_request(audit), user_id
        return self._bound

    def start_operation(self) -> OperationState:
        """A new operation on this context (the next one of a batch): nothing carried over."""
        self.operation = OperationState()
        return self.operation

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
        """The context of one request; the services it carries audit their changes as
        made by `principal`, with the request id and the transport's `client_ip`."""
        # The loaders only read: the shared services serve them (nothing to audit).
        loaders = build_loaders(
            principal,
            entities=services.entities,
            upstreams=services.upstreams,
            observe=observe_batch,
        )
        return cls(principal, services, loaders, request_id, **transport)
