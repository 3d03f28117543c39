"""Each HTTP request's `Context`, for `/graphql` and REST alike.

The caller is identified once per request: the rate limiter (which runs first, as
middleware) and the context share the result through the ASGI scope's `state`, the
place ASGI gives per-request values.
"""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.types import Scope

from domain.errors import UnauthenticatedError, UnavailableError
from gateway.auth.identity import Authenticator, Identity
from gateway.http.client_ip import client_ip_of
from gateway.http.negotiation import RequestError
from gateway.http.request_headers import header_map
from gateway.http.request_id import request_id_of
from gateway.observability.request_state import request_state
from resolvers.context import Context, Services
from resolvers.loaders import BatchObserver
from schema import errors as error_table

INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class RequestContexts:
    """Builds the `Context` of an HTTP request; a bad token is RequestError(401)."""

    def __init__(
        self,
        authenticator: Authenticator,
        services: Services,
        observe_batch: BatchObserver | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._services = services
        self._observe_batch = observe_batch

    async def identify(self, scope: Scope) -> Identity:
        """The request's identity, authenticated on first use; raises UnauthenticatedError,
        or UnavailableError when a token cannot be checked (the revocation list cannot be
        loaded). A refusal is kept too: a bad token is checked, an outage met, once."""
        state = scope.setdefault("state", {})
        known: Identity | UnauthenticatedError | UnavailableError | None = state.get("identity")
        if known is None:
            try:
                known = await self._authenticator.authenticate(header_map(scope))
            except (UnauthenticatedError, UnavailableError) as error:
                known = error
            state["identity"] = known
        if isinstance(known, Exception):
            raise known
        return known

    async def user_of(self, scope: Scope) -> int | None:
        """The signed-in user's id, or None (anonymous, or a token that will be refused)."""
        try:
            return (await self.identify(scope)).principal.user_id
        except (UnauthenticatedError, UnavailableError):
            return None

    async def __call__(self, request: Request) -> Context:
        try:
            identity = await self.identify(request.scope)
        except UnauthenticatedError as exc:
            raise RequestError(401, str(exc), "UNAUTHENTICATED", dict(INVALID_TOKEN)) from None
        except UnavailableError as exc:
            rule = error_table.rule_for(exc)
            raise RequestError(
                rule.status,
                str(exc),
                rule.code,
                {"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
                extensions=error_table.error_details(exc),
            ) from None
        scope = request.scope
        # One look at the state the edge stored, rather than one per value read from it.
        state = request_state(scope)
        state.principal_id = identity.principal.user_id
        request_id = state.request_id
        client_ip = state.client_ip
        return Context.build(
            identity.principal,
            self._services,
            request_id if request_id is not None else request_id_of(scope),
            token=identity.token,
            client_ip=client_ip if client_ip is not None else client_ip_of(scope),
            request=request,
            observe_batch=self._observe_batch,
        )
