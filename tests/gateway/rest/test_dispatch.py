"""The REST table takes a request to the route Starlette's router would, or leaves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match

from gateway.app import REST_PREFIX, create_app
from gateway.rest.dispatch import RestRoutes
from gateway.rest.endpoint import PathEndpoint
from gateway.settings import Settings

PATHS = [
    "/api/v1/items",
    "/api/v1/items/SXRlbToz",
    "/api/v1/items/SXRlbToz/price",
    "/api/v1/items/",
    "/api/v1/items//price",
    "/api/v1/items/a/b/c",
    "/api/v1/users/me",
    "/api/v1/users/VXNlcjo0",
    "/api/v1/users/VXNlcjo0/roles",
    "/api/v1/orders/T3JkZXI6NQ==/cancel",
    "/api/v1/orders/T3JkZXI6NQ==/status",
    "/api/v1/auth/login",
    "/api/v1/audit-log",
    "/api/v1/nope",
    "/api/v2/items",
    "/api/",
    "/api",
    "/graphql",
    "/openapi.json",
]
METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE", "PUT", "OPTIONS"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Starlette:
    db: Path = tmp_path_factory.mktemp("dispatch") / "gateway.db"
    return create_app(
        Settings(database={"url": f"sqlite+aiosqlite:///{db}"}, security={"secret_key": "d" * 40})
    )


def routed(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute, Any] | None:
    """The route and path parameters Starlette's `Router.app` picks (a full match, else
    the first partial one)."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, child.get("path_params")
        if match is Match.PARTIAL and partial is None:
            partial = route, child.get("path_params")
    return partial


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PATHS)
def test_the_table_takes_a_request_where_the_router_would(
    app: Starlette, path: str, method: str
) -> None:
    table = RestRoutes(app, routes=app.routes, prefix=REST_PREFIX)
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    found = table.route_for(scope)
    expected = routed(app.routes, scope)
    if found is None:
        # Left to the router: only what is not a REST endpoint's (a 404, the catch-all).
        assert expected is None or not isinstance(getattr(expected[0], "app", None), PathEndpoint)
    else:
        assert expected is not None
        assert (found[0], found[1]) == expected


def test_every_rest_route_is_in_the_table(app: Starlette) -> None:
    table = RestRoutes(app, routes=app.routes, prefix=REST_PREFIX)
    for route in app.routes:
        path = getattr(route, "path", "")
        if isinstance(getattr(route, "app", None), PathEndpoint):
            concrete = path.replace("{id}", "x1").replace("{userId}", "u1")
            scope = {"type": "http", "path": concrete, "method": "GET", "root_path": ""}
            assert table.route_for(scope) == routed(app.routes, scope)
            assert table.route_for(scope) is not None


def test_a_request_under_a_root_path_is_left_to_the_router(app: Starlette) -> None:
    table = RestRoutes(app, routes=app.routes, prefix=REST_PREFIX)
    scope = {"type": "http", "path": "/api/v1/items", "method": "GET", "root_path": "/edge"}
    assert table.route_for(scope) is None
