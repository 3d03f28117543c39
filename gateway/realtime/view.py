"""GraphQL over WebSocket on `/graphql`: Strawberry's ASGI view, for the WebSocket route only.

HTTP stays on our own endpoint. Both `graphql-transport-ws` and the legacy
`graphql-ws` are spoken; Strawberry enforces the protocol (4400, 4401, 4403, 4408,
4409, 4429, ping/pong) and the origin check; this module adds authentication, the
per-user limit, the legacy init timeout and the gateway's own close codes
(see `gateway.realtime.connections`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from domain.errors import UnauthenticatedError
from domain.principals import Principal
from gateway.auth.identity import MAX_AUTHORIZATION_BYTES, Authenticator, bearer_token
from gateway.graphql.pipeline import OperationTimeoutError, Pipeline, PreparedAnswer
from gateway.http.client_ip import client_ip_of
from gateway.http.request_id import request_id_of
from gateway.realtime.connections import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    Connection,
    ConnectionHub,
    ConnectionLimitError,
)
from resolvers.context import Context, OperationState, PlannedData, Services
from resolvers.loaders import Loaders
from resolvers.realtime import EventSource, Realtime
from resolvers.subscriptions import EventSnapshots
from schema import errors as error_table

CONNECTION_KEY = "realtime_connection"
MAX_SUBSCRIPTIONS_EXCEEDED = "MAX_SUBSCRIPTIONS_EXCEEDED"
LEGACY_INIT_TIMEOUT_CODE = 4408


def connection_of(context: Context) -> Connection:
    realtime = context.realtime
    assert realtime is not None
    assert isinstance(realtime.session, Connection)
    return realtime.session


class _Adapter(ASGIWebSocketAdapter):
    async def close(self, code: int, reason: str) -> None:
        # Strawberry rejects every refused `connection_init` with 4403 (or 1011 on the
        # legacy protocol); a limit gets its own code so clients need not retry it.
        connection = self.ws.scope.get("state", {}).get(CONNECTION_KEY)
        if isinstance(connection, Connection) and connection.rejection is not None:
            code, reason = connection.rejection
        with contextlib.suppress(RuntimeError):  # already closed
            await self.ws.close(code=code, reason=reason)


SUBSCRIPTION_LIMIT_MESSAGE = "Subscription limit reached"


def with_codes(message: Any) -> Any:
    """An `error` message whose every error has `extensions.code`, as over HTTP.

    Strawberry's handlers send the operation's request errors (mapped by the schema)
    and a few of their own (the subscription cap) without one; an `error` message only
    ever carries errors from before execution, so validation is the default.
    """
    if not isinstance(message, dict) or message.get("type") != "error":
        return message
    payload = message.get("payload")
    if isinstance(payload, list):
        return {**message, "payload": [_coded(error) for error in payload]}
    if isinstance(payload, dict):  # the legacy protocol sends one error
        return {**message, "payload": _coded(payload)}
    return message


def _coded(error: Any) -> Any:
    if not isinstance(error, dict):
        return error
    extensions = dict(error.get("extensions") or {})
    if "code" in extensions:
        return error
    text = str(error.get("message", ""))
    if text == SUBSCRIPTION_LIMIT_MESSAGE:
        extensions["code"] = MAX_SUBSCRIPTIONS_EXCEEDED
    elif text.startswith("Syntax Error"):
        extensions["code"] = error_table.PARSE_FAILED.code
    else:
        extensions["code"] = error_table.VALIDATION_FAILED.code
    return {**error, "extensions": extensions}


class _TransportWsHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def send_message(self, message: Any) -> None:
        await super().send_message(with_codes(message))

    async def handle(self) -> None:
        connection_of(self.context).stop_operations = self._stop_operations
        await super().handle()

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Queries and mutations go through the gateway's pipeline (its execution timeout,
        lifted at the first commit); subscriptions stream as Strawberry streams them."""
        view = self.view if isinstance(self.view, RealtimeView) else None
        if view is None or view.pipeline is None:
            await super().run_operation(operation)
            return
        try:
            outcome = await view.pipeline.run(
                operation.query,
                view.operation_context(self.context),
                variables=operation.variables,
                operation_name=operation.operation_name,
            )
        except (InvalidOperationTypeError, CannotGetOperationTypeError):
            # A subscription, or no operation to run: refused before any execution, so
            # Strawberry streams it or answers it as the protocol says.
            await super().run_operation(operation)
            return
        except OperationTimeoutError as exc:
            timeout = GraphQLError(str(exc), extensions={"code": error_table.TIMEOUT.code})
            outcome = ExecutionResult(data=None, errors=[timeout])
        if isinstance(outcome, PreparedAnswer):  # the prepared replay or the response cache
            outcome = ExecutionResult(data=outcome.body["data"], errors=None)
        if isinstance(outcome, PreExecutionError):
            # Refused before execution (syntax, validation, limits): nothing ran, and
            # Strawberry answers it as the protocol says (an `error`, or 4400).
            await super().run_operation(operation)
            return
        await operation.send_next(outcome)
        await operation.send_operation_message({"id": operation.id, "type": "complete"})

    async def _stop_operations(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)


class _LegacyWsHandler(BaseGraphQLWSHandler[Context, None]):
    init_timeout: timedelta = timedelta(seconds=5)

    async def send_message(self, message: Any) -> None:
        await super().send_message(with_codes(message))

    async def handle(self) -> None:
        connection = connection_of(self.context)
        connection.stop_operations = self.cleanup
        # The legacy protocol has no init timeout of its own; use the same rule (4408).
        timer = asyncio.create_task(self._init_timeout(connection), name="ws-init-timeout")
        try:
            await super().handle()
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    async def _init_timeout(self, connection: Connection) -> None:
        await asyncio.sleep(self.init_timeout.total_seconds())
        if not self.connection_acknowledged:
            connection.close_soon(LEGACY_INIT_TIMEOUT_CODE, "Connection initialisation timeout")


def _handshake_token(
    headers: Mapping[str, str], cookie: str | None, raw_cookies: str
) -> str | None:
    token = bearer_token(headers)
    if token is None and cookie:
        for part in raw_cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == cookie and value:
                return value
    return token


def _payload_token(params: Mapping[str, Any]) -> str | None:
    """`{"authorization": "Bearer …"}` or `{"token": "…"}`; raises UnauthenticatedError."""
    authorization = params.get("authorization", params.get("Authorization"))
    if authorization is not None:
        if not isinstance(authorization, str):
            raise UnauthenticatedError("authorization must be a string")
        return bearer_token({"authorization": authorization})
    token = params.get("token")
    if token is None:
        return None
    if not isinstance(token, str) or not token or len(token) > MAX_AUTHORIZATION_BYTES:
        raise UnauthenticatedError("token must be a non-empty string")
    return token


class RealtimeView(GraphQL[Context, None]):
    """Strawberry's ASGI view for `WebSocketRoute("/graphql")`."""

    websocket_adapter_class = _Adapter
    graphql_transport_ws_handler_class = _TransportWsHandler
    graphql_ws_handler_class = _LegacyWsHandler

    def __init__(
        self,
        schema: Any,
        *,
        services: Services,
        authenticator: Authenticator,
        events: EventSource,
        hub: ConnectionHub,
        new_loaders: Callable[[Principal], Loaders],
        connection_init_timeout: timedelta,
        allowed_origins: list[str],
        max_subscriptions_per_connection: int,
        queue_size: int,
        token_cookie: str | None,
        allow_anonymous: bool,
        pipeline: Pipeline | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide=None,
            connection_init_wait_timeout=connection_init_timeout,
            allowed_origins=allowed_origins,
            max_subscriptions_per_connection=max_subscriptions_per_connection,
        )
        self._services, self._authenticator = services, authenticator
        self._events, self.hub, self._new_loaders = events, hub, new_loaders
        self._queue_size, self._token_cookie = queue_size, token_cookie
        self._allow_anonymous = allow_anonymous
        # Queries and mutations sent over WebSocket run through it (graphql-transport-ws).
        self.pipeline = pipeline
        self._snapshots = EventSnapshots(services)
        legacy: type[_LegacyWsHandler] = type(
            "LegacyWsHandler", (_LegacyWsHandler,), {"init_timeout": connection_init_timeout}
        )
        self.graphql_ws_handler_class = legacy

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, WebSocket) and not self.hub.accepting:
            # Shutting down: refuse the handshake so the client goes to another replica.
            await request.close(code=CLOSE_GOING_AWAY)
            return request
        try:
            return await super().run(request, context, root_value)
        finally:
            connection = request.scope.get("state", {}).get(CONNECTION_KEY)
            if isinstance(connection, Connection):
                connection.release()

    def operation_context(self, connection: Context) -> Context:
        """The context of one query or mutation sent on a connection: the connection's
        caller and services, its own dataloaders (the connection's would serve what an
        earlier operation loaded, however it has changed since) and its own operation
        state (operations on one socket run concurrently). Planned data is taken as
        Python values, as REST takes it: the read planner and the prepared replay answer
        here as on HTTP."""
        return dataclasses.replace(
            connection,
            loaders=self._new_loaders(connection.principal),
            operation=OperationState(),
            planned_data=PlannedData.DECODED,
        )

    async def get_context(self, request: Any, response: Any) -> Context:
        assert isinstance(request, WebSocket)
        connection = self.hub.open(request)
        request.scope.setdefault("state", {})[CONNECTION_KEY] = connection
        realtime = Realtime(
            self._events, connection, self._new_loaders, self._snapshots, self._queue_size
        )
        principal = Principal.anonymous()
        request_id, client_ip = request_id_of(request.scope), client_ip_of(request.scope)
        return Context(
            principal,
            self._services,
            self._new_loaders(principal),
            request_id,
            # Anonymous sockets are charged to their client IP, as HTTP requests are
            # (behind SECURITY__TRUSTED_PROXIES, the forwarded address the edge stored).
            client_ip=client_ip,
            request=request,
            response=response,
            realtime=realtime,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate from `connection_init` (or the upgrade's header/cookie); 4403 if bad."""
        connection = connection_of(context)
        websocket = connection.websocket
        try:
            token = _payload_token(context.connection_params or {})
            if token is None:
                token = _handshake_token(
                    websocket.headers, self._token_cookie, websocket.headers.get("cookie", "")
                )
            headers = {k: v for k, v in websocket.headers.items() if k != "authorization"}
            if token is not None:
                headers["authorization"] = f"Bearer {token}"
            identity = await self._authenticator.authenticate(headers)
        except UnauthenticatedError as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from None
        if identity.principal.user_id is None and not self._allow_anonymous:
            raise ConnectionRejectionError({"message": "authentication required"})
        try:
            connection.admit(identity.principal, identity.token, token)
        except ConnectionLimitError as exc:
            connection.rejection = (CLOSE_POLICY_VIOLATION, str(exc))
            raise ConnectionRejectionError({"message": str(exc)}) from None
        # `context.services` bind to the new principal at their next use.
        context.principal, context.token = identity.principal, identity.token
        context.loaders = self._new_loaders(identity.principal)
        acknowledged: UnsetType = UNSET
        return acknowledged
