"""Each HTTP request's `Context`, for `/graphql` and REST alike.

The caller is identified once per request: the rate limiter (which runs first, as
middleware) and the context share the result through the ASGI scope's `state`, the
place ASGI gives per-request values.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from domain.errors import UnauthenticatedError
from gateway.auth.identity import Authenticator, Identity
from gateway.http.client_ip import client_ip_of
from gateway.http.negotiation import RequestError
from gateway.http.request_headers import header_map
from gateway.http.request_id import request_id_of
from resolvers.context import Context, Services
from resolvers.loaders import BatchObserver

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
        """The request's identity, authenticated on first use; raises UnauthenticatedError."""
        state = scope.setdefault("state", {})
        if "identity" not in state:
            state["identity"] = await self._authenticator.authenticate(header_map(scope))
        identity: Identity = state["identity"]
        return identity

    async def user_of(self, scope: Scope) -> int | None:
        """The signed-in user's id, or None (anonymous, or a token that will be refused)."""
        try:
            return (await self.identify(scope)).principal.user_id
        except UnauthenticatedError:
            return None

    async def __call__(self, request: Request) -> Context:
        try:
            identity = await self.identify(request.scope)
        except UnauthenticatedError as exc:
            raise RequestError(401, str(exc), "UNAUTHENTICATED", dict(INVALID_TOKEN)) from None
        request.scope.setdefault("state", {})["principal_id"] = identity.principal.user_id
        return Context.build(
            identity.principal,
            self._services,
            request_id_of(request.scope),
            token=identity.token,
            client_ip=client_ip_of(request.scope),
            request=request,
            observe_batch=self._observe_batch,
        )
