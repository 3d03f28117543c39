"""The ASGI application factory."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from gateway.container import Container, build_container
from gateway.graphql import GRAPHQL_PATH
from gateway.graphql.endpoint import GraphQLHTTPEndpoint
from gateway.graphql.graphiql import graphiql_csp, graphiql_static_app, render_graphiql_page
from gateway.http.direct_route import DirectRoute
from gateway.http.edge import EdgeMiddleware
from gateway.http.health import live
from gateway.http.load_shedding import LoadSheddingMiddleware
from gateway.limits.rate_limit_http import request_rate_limit
from gateway.observability.logging import flush_access_lines
from gateway.rest.dispatch import RestRoutes
from gateway.settings import Settings, load_settings

log = structlog.get_logger("gateway")

# Every REST route (each API version and the catch-all 404) is under it.
REST_PREFIX = "/api/"
STATIC_PREFIX = "/static/graphiql"
# Response headers a cross-origin page may read.
CORS_EXPOSED_HEADERS = (
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "etag",
    "link",
    "location",
    "deprecation",
    "sunset",
    "idempotent-replayed",
)


class GatewayApp(Starlette):
    """Starlette without its outermost `ServerErrorMiddleware`: the edge, the first of
    the app's middleware, answers an unexpected exception with the same 500 and raises
    it again (`gateway.http.edge`). Starlette's layer wrapped every request and every
    message it sent once more, to do that."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        # Only where the edge gives the same answer: no debug page, no 500 handler.
        if (
            isinstance(stack, ServerErrorMiddleware)
            and isinstance(stack.app, EdgeMiddleware)
            and stack.handler is None
            and not stack.debug
        ):
            return stack.app
        return stack


def create_app(settings: Settings | None = None, container: Container | None = None) -> Starlette:
    """Assemble the gateway's routes and middleware from the container (the composition
    root builds everything they use); its resources live as long as the app's lifespan."""
    settings = settings or load_settings()
    built = container or build_container(settings)
    readiness, realtime = built.readiness, built.realtime

    async def graphiql(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        page = render_graphiql_page(endpoint=GRAPHQL_PATH, static_prefix=STATIC_PREFIX, nonce=nonce)
        return HTMLResponse(page, headers={"Content-Security-Policy": graphiql_csp(nonce)})

    endpoint = GraphQLHTTPEndpoint(
        built.pipeline,
        built.contexts,
        max_batch=settings.graphql.max_batch,
        max_body_bytes=settings.graphql.max_body_bytes,
        ide=graphiql if settings.graphiql else None,
        idempotency=built.idempotency,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            async with built.serving():
                yield
        finally:
            # The last turn's access lines, before the server's process may end.
            flush_access_lines()

    async def jwks(_: Request) -> Response:
        return JSONResponse(built.tokens.jwks(), headers={"Cache-Control": "public, max-age=300"})

    graphql_route = Route(GRAPHQL_PATH, endpoint)
    routes: list[BaseRoute] = [
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        graphql_route,
        realtime.route,
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", readiness.handle, methods=["GET"]),
    ]
    if settings.graphiql:
        routes.append(Mount(STATIC_PREFIX, app=graphiql_static_app(), name="graphiql-static"))
    routes.extend(built.observability.routes())
    routes.extend(built.rest.routes())
    middleware = [
        Middleware(
            EdgeMiddleware,
            metrics=built.observability.metrics,
            trusted_proxies=settings.security.trusted_proxies,
            hsts_seconds=settings.security.hsts_seconds,
            server_spans=built.observability.tracing.server_spans(routes),
        ),
        *_load_shedding(settings),
    ]
    if settings.security.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.security.cors_origins,
                allow_credentials=settings.security.cors_allow_credentials,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=[
                    "authorization",
                    "content-type",
                    "if-match",
                    "if-none-match",
                    "idempotency-key",
                    "x-request-id",
                ],
                expose_headers=[*CORS_EXPOSED_HEADERS],
            )
        )
    if built.limiter is not None:
        middleware.append(
            request_rate_limit(
                settings.rate_limit,
                built.limiter,
                built.contexts.user_of,
                GRAPHQL_PATH,
                cost_budget=built.budget is not None,
                rest_prefix=REST_PREFIX,
            )
        )
    # Innermost, after every limit: the GraphQL path's own shortcut past the router.
    middleware.append(Middleware(DirectRoute, route=graphql_route))
    # And the REST paths', by a table of the same routes (same 404s and 405s).
    middleware.append(Middleware(RestRoutes, routes=routes, prefix=REST_PREFIX))
    app = GatewayApp(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.container = built
    app.state.readiness = readiness
    app.state.realtime = realtime
    return app


def _load_shedding(settings: Settings) -> list[Middleware]:
    # Inside the edge, so shed requests are logged, counted and get its headers.
    server = settings.server
    if server.max_concurrency == 0:
        return []
    return [
        Middleware(
            LoadSheddingMiddleware,
            max_concurrency=server.max_concurrency,
            queue_timeout_seconds=server.queue_timeout_ms / 1000,
            graphql_path=GRAPHQL_PATH,
        )
    ]
