"""One path sent straight to its ASGI endpoint, ahead of Starlette's router.

Starlette takes a request through its exception middleware (which wraps `send`), the
router (a regex match per route, in order) and the route: about a seventh of the work
of a prepared GraphQL request. The GraphQL endpoint needs none of it: it is an ASGI
app that answers every method and all of its errors itself, and an unexpected
exception still reaches the edge's 500 (Starlette's, answered by `gateway.http.edge`).
Any other path, a WebSocket, or a request under a root path (a proxy prefix) goes
the usual way.
"""

from __future__ import annotations

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


class DirectRoute:
    """Middleware (innermost): `route`'s exact path, over HTTP, skips the router."""

    def __init__(self, app: ASGIApp, *, route: Route) -> None:
        self.app = app
        self.route = route
        self.path = route.path
        self.endpoint: ASGIApp = route.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and not scope.get("root_path"):
            # What the router would have set: metrics and spans read the route template.
            scope["route"] = self.route
            scope["endpoint"] = self.route.endpoint
            scope["path_params"] = {}
            await self.endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)
