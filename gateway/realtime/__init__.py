"""Realtime: GraphQL subscriptions over WebSocket on `/graphql` (see README, Subscriptions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import strawberry
from starlette.routing import WebSocketRoute

from domain.principals import Principal
from gateway.auth.identity import Authenticator
from gateway.graphql.pipeline import Pipeline
from gateway.realtime.connections import (
    CLOSE_GOING_AWAY,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    ConnectionHub,
)
from gateway.realtime.view import RealtimeView
from gateway.settings import RealtimeSettings
from resolvers.context import Services
from resolvers.loaders import BatchObserver, Loaders, build_loaders
from resolvers.realtime import EventSource

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_SESSION_ENDED",
    "CLOSE_TRY_AGAIN_LATER",
    "RealtimeGateway",
    "build_realtime",
    "drain_app",
]


@dataclass(frozen=True, slots=True)
class RealtimeGateway:
    """The WebSocket route and the hub that drains it on shutdown."""

    route: WebSocketRoute
    hub: ConnectionHub
    view: RealtimeView

    async def drain(self) -> None:
        """Refuse new sockets and close open ones with 1001."""
        await self.hub.drain()


def build_realtime(
    options: RealtimeSettings,
    path: str,
    *,
    schema: strawberry.Schema,
    services: Services,
    authenticator: Authenticator,
    events: EventSource,
    observe_batch: BatchObserver,
    pipeline: Pipeline | None = None,
) -> RealtimeGateway:
    """The WebSocket route on `path`, its view and the hub of its connections."""

    def new_loaders(principal: Principal) -> Loaders:
        return build_loaders(
            principal,
            entities=services.entities,
            upstreams=services.upstreams,
            observe=observe_batch,
        )

    hub = ConnectionHub(
        check_token=services.accounts.verify_access,
        max_connections_per_user=options.max_connections_per_user,
        check_seconds=options.session_check_seconds,
    )
    view = RealtimeView(
        schema,
        services=services,
        authenticator=authenticator,
        events=events,
        hub=hub,
        new_loaders=new_loaders,
        connection_init_timeout=timedelta(seconds=options.connection_init_timeout_seconds),
        allowed_origins=options.allowed_origins,
        max_subscriptions_per_connection=options.max_subscriptions_per_connection,
        queue_size=options.queue_size,
        token_cookie=options.token_cookie,
        allow_anonymous=options.allow_anonymous,
        pipeline=pipeline,
    )
    return RealtimeGateway(WebSocketRoute(path, view), hub, view)


async def drain_app(app: object) -> None:
    """Drain the realtime gateway of `app` or of an app it wraps (uvicorn's middleware)."""
    current: object | None = app
    while current is not None:
        realtime = getattr(getattr(current, "state", None), "realtime", None)
        if isinstance(realtime, RealtimeGateway):
            await realtime.drain()
            return
        current = getattr(current, "app", None)
