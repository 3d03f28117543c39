"""The REST API: versions, their operations, the routes serving them and the OpenAPI document.

Adding `/api/v2`: append an `ApiVersion("v2", operations=<folder>, schema=<schema>)` to the
versions passed to `RestApi` (or to `VERSIONS`). A version may keep the generated CRUD
routes (`generate=True`) over its own schema, and its named operations live in their own
folder; v1 keeps answering until it is removed, its deprecations announced with Sunset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import strawberry
from graphql import GraphQLObjectType, GraphQLSchema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.graphql.pipeline import Pipeline
from gateway.http.idempotency import Idempotency
from gateway.http.request_id import request_id_of
from gateway.rest import deprecation
from gateway.rest.docs import docs_routes
from gateway.rest.endpoint import ContextFactory, HeaderList, PathEndpoint, Runtime
from gateway.rest.generate import derive
from gateway.rest.named import load_named
from gateway.rest.openapi import document
from gateway.rest.operation import OperationSpec, RestOperation, compile_operation
from gateway.rest.problems import ROUTE_NOT_FOUND, Problem
from gateway.rest.types import SchemaBuilder, implements_node, named

OPERATIONS_DIR = Path(__file__).parent / "operations"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"


@dataclass(frozen=True, slots=True)
class ApiVersion:
    """One URL prefix: which schema it runs and which named operations it adds."""

    name: str
    operations: Path | None = None
    schema: strawberry.Schema | None = None  # None: the gateway's schema
    generate: bool = True
    deprecation: deprecation.DeprecationPolicy = field(
        default_factory=lambda: deprecation.DeprecationPolicy(date(2026, 11, 27))
    )

    @property
    def prefix(self) -> str:
        return f"/api/{self.name}"


VERSIONS: tuple[ApiVersion, ...] = (ApiVersion("v1", operations=OPERATIONS_DIR),)


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    return schema._schema


class RestApi:
    """Every REST operation of every version, compiled once at start-up."""

    def __init__(
        self,
        schema: strawberry.Schema,
        context_factory: ContextFactory,
        versions: Sequence[ApiVersion] = VERSIONS,
        *,
        max_body_bytes: int = 1_048_576,
        docs_path: str = DOCS_PATH,
        idempotency: Idempotency | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.builder = SchemaBuilder()
        self.docs_path = docs_path
        self.operations: list[RestOperation] = []
        self._endpoints: list[tuple[str, PathEndpoint]] = []
        self._openapi: bytes | None = None
        for version in versions:
            runtime = Runtime(
                _pipeline_for(version.schema or schema, pipeline),
                context_factory,
                max_body_bytes,
                idempotency,
            )
            self._add_version(version, runtime)

    def _add_version(self, version: ApiVersion, runtime: Runtime) -> None:
        gql = graphql_schema(runtime.pipeline.schema)
        specs: dict[tuple[str, str], OperationSpec] = {}
        if version.generate:
            specs.update(((s.method, s.path), s) for s in derive(gql, version.prefix))
        if version.operations is not None:
            # A named operation replaces a generated route with the same method and path.
            specs.update(((s.method, s.path), s) for s in load_named(version.operations))
        operations = [compile_operation(gql, spec, self.builder) for spec in specs.values()]
        _link(gql, operations)
        successors: dict[str, str] = {}
        for op in sorted(operations, key=lambda o: o.method != "GET"):
            successors.setdefault(op.root_field, op.path)
        policy = version.deprecation

        def extra_headers(op: RestOperation, path_params: dict[str, str]) -> HeaderList:
            if not op.deprecations:
                return []
            notices = [deprecation.notice(d.reason, policy) for d in op.deprecations]
            route = op.deprecated_route
            successor = None
            if route is not None:
                named_successor = deprecation.notice(route.reason, policy).successor
                successor = successors.get(named_successor or "")
                for name, value in path_params.items():
                    successor = successor and successor.replace(
                        "{" + name + "}", quote(value, safe="=+")
                    )
            return deprecation.headers(notices, successor, self.docs_path)

        by_path: dict[str, dict[str, RestOperation]] = {}
        for op in operations:
            by_path.setdefault(op.path, {})[op.method] = op
        for path, methods in by_path.items():
            self._endpoints.append((path, PathEndpoint(runtime, methods, extra_headers)))
        self.operations += operations

    def routes(self) -> list[BaseRoute]:
        """The REST routes (fixed segments before placeholders), `/openapi.json`, a 404."""
        ordered = sorted(self._endpoints, key=lambda e: (e[0].count("{"), e[0]))
        routes: list[BaseRoute] = [
            Route(path, endpoint, name=f"rest:{path}") for path, endpoint in ordered
        ]
        routes.append(Route(OPENAPI_PATH, self.serve_openapi, methods=["GET"]))
        routes += docs_routes(self.docs_path, OPENAPI_PATH)
        routes.append(Route("/api/{rest:path}", _no_route))
        return routes

    def openapi(self) -> dict[str, Any]:
        return document(
            self.operations,
            self.builder,
            description=(
                "Generated from the GraphQL schema: every route runs a GraphQL document "
                "through the same schema, authentication and limits as `/graphql`. "
                "Lists take `first`, `after` (the `endCursor`), `orderBy=field:asc|desc` and "
                "`filter[field]=value` (nested: `filter[priceAtLeast][amount]=5`, lists "
                "repeated); the next page is in the `Link` header (rel=next)."
            ),
        )

    async def serve_openapi(self, _: Request) -> Response:
        if self._openapi is None:
            self._openapi = orjson.dumps(self.openapi())
        return Response(self._openapi, media_type="application/json")


def _link(gql: GraphQLSchema, operations: list[RestOperation]) -> None:
    """Location targets for 201 answers and the GET behind each PATCH's If-Match."""
    getters = {
        named(op.root_type).name: op
        for op in operations
        if op.method == "GET" and op.shape == "object" and op.path.endswith("/{id}")
    }
    gets_by_path = {op.path: op for op in operations if op.method == "GET"}
    for op in operations:
        if op.status == 201:
            op.location = _location_target(gql, op, getters)
        if op.method == "PATCH":
            op.conditional_get = gets_by_path.get(op.path)


def _location_target(
    gql: GraphQLSchema, op: RestOperation, getters: dict[str, RestOperation]
) -> str | None:
    root = named(op.root_type)
    if root.name in getters:
        return getters[root.name].path
    if isinstance(root, GraphQLObjectType):
        # e.g. AuthPayload.user: the created account.
        for definition in root.fields.values():
            target = named(definition.type)
            if implements_node(target) and target.name in getters:
                return getters[target.name].path
    return None


async def _no_route(request: Request) -> Response:
    problem = Problem(ROUTE_NOT_FOUND, f"no route {request.url.path}")
    return problem.response(instance=request.url.path, request_id=request_id_of(request.scope))


def _pipeline_for(schema: strawberry.Schema, shared: Pipeline | None) -> Pipeline:
    """The app's pipeline for its own schema; a version with a schema of its own gets a
    pipeline of its own (no prepared replay: prepared answers are keyed per schema)."""
    if shared is not None and shared.schema is schema:
        return shared
    timeout = shared.execution_timeout_seconds if shared is not None else 10.0
    return Pipeline(schema, execution_timeout_seconds=timeout)
