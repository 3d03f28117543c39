"""REST paths sent to their endpoint by a table, ahead of Starlette's router.

Starlette tries its routes one by one, a regex match each: a REST path is matched
against a dozen or more before it reaches its own, and the request also goes through
the exception middleware and `Route.handle`. A REST endpoint needs none of it: it is
an ASGI app answering every method and every error itself (405 with `Allow`,
problem+json), and an unexpected exception still reaches the edge's 500 (Starlette's,
answered by `gateway.http.edge`). So the path is split into segments once and looked
up: a path with no placeholder in a dict, one with placeholders among the templates
with its number of segments, in the router's order.

The table answers exactly as the router would, or not at all: a path it does not
place (no REST route, a route the table cannot read such as `{rest:path}`, a trailing
slash, a WebSocket, a request under a root path) goes the usual way, where the router
finds the same route, the catch-all 404, or a redirect as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.rest.endpoint import PathEndpoint


@dataclass(frozen=True, slots=True)
class _Template:
    """A REST route's path as segments: a literal, or None where a `{name}` stands."""

    route: Route
    segments: tuple[str | None, ...]
    names: tuple[tuple[int, str], ...]  # (segment index, parameter name)
    # The literal text before the first placeholder ("/api/v1/items/"), compared in one
    # `startswith` (segments hold no "/"), and the segments from that placeholder on.
    prefix: str
    rest: tuple[tuple[int, str | None], ...]

    def params(self, path: str, parts: list[str]) -> dict[str, str] | None:
        """`parts` is `path` split on "/", as many as `segments`."""
        if not path.startswith(self.prefix):
            return None
        for index, literal in self.rest:
            part = parts[index]
            if literal is None:
                if not part:  # a placeholder is Starlette's `[^/]+`: any non-empty segment
                    return None
            elif part != literal:
                return None
        return {name: parts[index] for index, name in self.names}


type _Candidate = _Template | BaseRoute  # a route the table cannot read: asked as the router would


def _template(route: BaseRoute) -> _Template | None:
    if not isinstance(route, Route) or not isinstance(route.app, PathEndpoint):
        return None
    segments: list[str | None] = []
    names: list[tuple[int, str]] = []
    for index, part in enumerate(route.path.split("/")):
        if part.startswith("{") and part.endswith("}") and part.count("{") == 1:
            name = part[1:-1]
            if not name.isidentifier():  # `{name:convertor}`: not a plain segment
                return None
            segments.append(None)
            names.append((index, name))
        elif "{" in part or "}" in part:
            return None
        else:
            segments.append(part)
    first = names[0][0] if names else len(segments)
    prefix = "/".join(str(part) for part in segments[:first]) + "/" if names else ""
    rest = tuple(enumerate(segments))[first:] if names else tuple(enumerate(segments))
    return _Template(route, tuple(segments), tuple(names), prefix, rest)


def _may_take(route: BaseRoute, prefix: str) -> bool:
    """Whether `route` could match some path under `prefix` (its literal start says)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return True
    literal = path.split("{", 1)[0]
    return literal.startswith(prefix) or prefix.startswith(literal)


class RestRoutes:
    """Middleware (innermost): a path under `prefix` that a REST route takes skips the router."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute], prefix: str) -> None:
        self.app = app
        self.prefix = prefix
        # Every route that may take a path under the prefix, in the router's order.
        candidates: list[_Candidate] = []
        for route in routes:
            if _may_take(route, prefix):
                candidates.append(_template(route) or route)
        self._by_length: dict[int, list[_Candidate]] = {}
        lengths = {len(c.segments) for c in candidates if isinstance(c, _Template)}
        for length in lengths:
            self._by_length[length] = [
                c for c in candidates if not isinstance(c, _Template) or len(c.segments) == length
            ]
        # A path without placeholders: one dict lookup, when no route ahead of it in the
        # router's order could take that path first.
        self._exact: dict[str, Route] = {}
        for candidate in candidates:
            if isinstance(candidate, _Template) and not candidate.names:
                path = candidate.route.path
                found = self._find(path, {"type": "http", "path": path, "method": "GET"})
                if found is not None and found[0] is candidate.route:
                    self._exact[path] = candidate.route
        # A path in the dict never reaches the templates, and no other path can match a
        # template without placeholders: those are not tried again.
        for length, group in self._by_length.items():
            self._by_length[length] = [
                c for c in group if not (isinstance(c, _Template) and c.route.path in self._exact)
            ]

    def _find(self, path: str, scope: Scope) -> tuple[Route, dict[str, str]] | None:
        parts = path.split("/")
        for candidate in self._by_length.get(len(parts), ()):
            if isinstance(candidate, _Template):
                params = candidate.params(path, parts)
                if params is not None:
                    return candidate.route, params
            elif candidate.matches(scope)[0] is not Match.NONE:
                return None  # a route the table cannot read takes it: the router decides
        return None

    def route_for(self, scope: Scope) -> tuple[Route, dict[str, str]] | None:
        """The REST route the router would take the request to and its path parameters,
        or None: the router decides."""
        path: str = scope["path"]
        if scope["type"] != "http" or not path.startswith(self.prefix) or scope.get("root_path"):
            return None
        route = self._exact.get(path)
        return (route, {}) if route is not None else self._find(path, scope)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.route_for(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, params = found
        # What the router would have set: metrics and spans read the route template.
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        above = scope.get("path_params")
        scope["path_params"] = {**above, **params} if above else params
        await route.app(scope, receive, send)
