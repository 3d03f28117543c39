"""The ASGI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.background.handlers import stream_worker
from gateway.background.jobs import Scheduler, application_jobs
from gateway.container import Container, build_container
from gateway.graphql import GRAPHQL_PATH
from gateway.graphql.endpoint import GraphQLHTTPEndpoint
from gateway.graphql.graphiql import graphiql_csp, graphiql_static_app, render_graphiql_page
from gateway.http.direct_route import DirectRoute
from gateway.http.edge import EdgeMiddleware
from gateway.http.health import DatabaseCheck, live
from gateway.http.load_shedding import LoadSheddingMiddleware
from gateway.limits.rate_limit_http import request_rate_limit
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
        await _check_migrations(built.database_check)
        log.info("gateway started", profile=settings.profile)
        built.observability.start()
        # The revocation list is loaded before the first request needs it.
        await built.revocations.start()
        # Events a previous process committed but did not publish (it died) go out now.
        built.relay.wake()
        if built.redis is not None:
            # Handlers' consumer groups start where they are made: made now, they keep
            # every event from this start on, even before the first worker runs.
            with contextlib.suppress(Exception):
                await stream_worker(
                    settings.events, built.redis, built.handlers, built.runner
                ).prepare()
        # Embedded default: the scheduled jobs run here (with Redis, in `gateway worker`).
        jobs = (
            asyncio.create_task(
                Scheduler(
                    application_jobs(settings.jobs, built.services, audit=settings.audit)
                ).run(),
                name="jobs",
            )
            if built.redis is None
            else None
        )
        try:
            yield
        finally:
            # Not ready first, so no probe sees a half-closed replica as healthy.
            readiness.draining = True
            if jobs is not None:
                jobs.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await jobs
            await realtime.drain()
            built.observability.close()
            await built.aclose()
            log.info("gateway stopped")

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
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
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


async def _check_migrations(database: DatabaseCheck) -> None:
    """One line at start-up when the database is behind the code, naming the fix."""
    try:
        version = await database.revision()
    except (TimeoutError, OSError, SQLAlchemyError):  # down: readiness reports it
        return
    if version.behind:
        log.error(version.fix())
