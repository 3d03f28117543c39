"""Serving one REST path: bind the request to variables, execute, answer with HTTP semantics.

Every method on a path runs its operation's GraphQL document through the gateway's schema
with the context `/graphql` would build for the same request (same authentication,
permissions, limits). Nothing here knows an entity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from graphql import GraphQLError, GraphQLList, GraphQLNonNull
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.types.graphql import OperationType

from domain.caching import CacheHint
from domain.errors import DomainError, FieldProblem, ValidationError
from domain.idempotency import StoredAnswer
from domain.principals import Principal
from gateway.graphql.pipeline import OperationTimeoutError, Pipeline, PreparedAnswer
from gateway.graphql.response_cache import cache_headers
from gateway.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from gateway.http.idempotency import (
    REPLAYED_HEADER,
    Idempotency,
    IdempotencyError,
    fingerprint,
    parse_key,
)
from gateway.http.negotiation import RequestError, accepts_json
from gateway.http.request_headers import header_map
from gateway.http.request_id import request_id_of
from gateway.rest.operation import RestOperation
from gateway.rest.problems import (
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    PAYLOAD_TOO_LARGE,
    PRECONDITION_FAILED,
    UNSUPPORTED_MEDIA_TYPE,
    Problem,
    from_graphql,
)
from gateway.rest.types import check, named, nullable, parse_query_value
from resolvers.context import Context, PlannedData
from schema import errors as error_table

type ContextFactory = Callable[[Request], Awaitable[Any]]
type HeaderList = list[tuple[str, str]]
type RawHeaders = list[tuple[bytes, bytes]]
type Reply = Response | Answer

_TYPES = {"query": {OperationType.QUERY}, "mutation": {OperationType.MUTATION}}
# Shapes whose body is the root field's value unchanged (a page is reshaped).
_AS_IS = frozenset({"object", "value"})
_JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Runtime:
    """What every REST endpoint of one API version shares."""

    pipeline: Pipeline
    context_factory: ContextFactory
    max_body_bytes: int = 1_048_576
    idempotency: Idempotency | None = None


def etag_of(body: bytes) -> str:
    """A strong validator over the exact response bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _raw(headers: HeaderList | Mapping[str, str]) -> RawHeaders:
    """Headers as ASGI sends them: names lowercased, both encoded (as Starlette does)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class Answer:
    """A finished answer sent as the two ASGI messages Starlette's `Response` sends for the
    same status, headers and body (same header names and order), without building one:
    its header handling is a tenth of a planned read's CPU. `headers` are raw already
    (`_raw`): the endpoint writes its own names lowercased and encoded."""

    __slots__ = ("body", "raw_headers", "status_code")

    def __init__(
        self, body: bytes, status: int, headers: RawHeaders, media_type: bytes | None = None
    ) -> None:
        self.body, self.status_code = body, status
        if status < 200 or status == 204 or status == 304:
            raw: RawHeaders = []
        else:
            raw = [(b"content-length", str(len(body)).encode("latin-1"))]
        if body and media_type is not None:
            raw.append((b"content-type", media_type))
        raw += headers
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})


def _matches(header: str, etag: str) -> bool:
    candidates = {c.strip().removeprefix("W/") for c in header.split(",")}
    return "*" in candidates or etag in candidates


class PathEndpoint:
    """The operations of one path, by method; anything else is 405 with `Allow`."""

    def __init__(
        self, runtime: Runtime, operations: dict[str, RestOperation], extra_headers: Any
    ) -> None:
        self.runtime = runtime
        self.operations = operations
        # (operation, path parameters) -> headers its answers carry (deprecation notices):
        # asked only for an operation with deprecations, the others carry none.
        self.extra_headers: Callable[[RestOperation, dict[str, str]], HeaderList] = extra_headers
        methods = set(operations) | ({"HEAD"} if "GET" in operations else set())
        self.allow = ", ".join(sorted(methods | {"OPTIONS"}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # An ASGI app, not a function endpoint: Starlette then routes every method here,
        # and the 405 (with Allow) is ours, in problem+json.
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Reply:
        # The scope's, not `Request.method` (a property and a `typing.cast` call a read).
        sent: str = request.scope["method"]
        method = "GET" if sent == "HEAD" else sent
        operation = self.operations.get(method)
        # Decoded once a request (the identity read it already); Starlette's `Headers`
        # decodes and compares the raw list on every lookup.
        headers = header_map(request.scope)
        try:
            if sent == "OPTIONS":
                return Response(status_code=204, headers={"Allow": self.allow})
            if operation is None:
                raise Problem(
                    METHOD_NOT_ALLOWED,
                    f"{sent} is not allowed here",
                    headers={"Allow": self.allow},
                )
            accept = headers.get("accept")
            if accept and not accepts_json(accept):
                raise Problem(
                    NOT_ACCEPTABLE,
                    f"answers are application/json (problem+json for errors), not: {accept}",
                )
            key = headers.get(IDEMPOTENCY_HEADER.lower())
            if key is not None and operation.operation_type == "mutation":
                return await self._serve_once(operation, request, key)
            # HEAD runs GET; the server drops the body.
            return await self._serve(operation, request)
        except Problem as problem:
            return problem.response(
                instance=request.url.path, request_id=request_id_of(request.scope)
            )

    async def _serve_or_refuse(self, operation: RestOperation, request: Request) -> Reply:
        try:
            return await self._serve(operation, request)
        except Problem as problem:
            return problem.response(
                instance=request.url.path, request_id=request_id_of(request.scope)
            )

    async def _serve_once(self, operation: RestOperation, request: Request, raw: str) -> Reply:
        """A mutation with an `Idempotency-Key`: executed once, its answer replayed to retries."""
        runtime = self.runtime
        if runtime.idempotency is None:
            return await self._serve(operation, request)
        try:
            key = parse_key(raw)
            context = await runtime.context_factory(request)
        except IdempotencyError as exc:
            raise Problem(exc.rule, str(exc), headers=exc.headers) from None
        except RequestError as exc:
            raise Problem.of_code(exc.code, str(exc), exc.headers) from None
        caller = getattr(getattr(context, "principal", None), "user_id", None)
        if caller is None:  # anonymous callers' keys are ignored (see gateway.http.idempotency)
            return await self._serve(operation, request)
        same_request = fingerprint(
            "rest",
            request.method,
            request.url.path,
            sorted(request.query_params.multi_items()),
            (await request.body()).decode("utf-8", "replace"),
        )

        async def produce() -> StoredAnswer:
            response = await self._serve_or_refuse(operation, request)
            headers = tuple(
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.raw_headers
            )
            return StoredAnswer(response.status_code, headers, bytes(response.body))

        try:
            outcome = await runtime.idempotency.run(
                caller, key, same_request, produce, stored=_final_rest_answer
            )
        except IdempotencyError as exc:
            raise Problem(exc.rule, str(exc), headers=exc.headers) from None
        except DomainError as exc:  # the store is unavailable
            raise Problem.of_domain(exc) from None
        answer = outcome.answer
        response = Response(answer.body, answer.status)
        response.raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers
        ]
        if outcome.replayed:
            response.headers[REPLAYED_HEADER] = "true"
        return response

    async def _serve(self, operation: RestOperation, request: Request) -> Answer:
        variables = await bind(operation, request, self.runtime.max_body_bytes)
        if operation.method == "PATCH" and operation.conditional_get is not None:
            await self._check_if_match(operation.conditional_get, request, variables)
        value, hint = await self._execute(operation, request, variables)
        headers: RawHeaders = (
            _raw(self.extra_headers(operation, dict(request.path_params)))
            if operation.deprecations
            else []
        )
        if operation.shape == "empty":
            return Answer(b"", operation.status, headers)
        body: Any = value
        if operation.shape == "connection":
            body = {"data": [edge["node"] for edge in value["edges"]]}
            body.update((k, v) for k, v in value.items() if k != "edges")
            headers += _raw(_page_links(request.url, value.get("pageInfo") or {}))
        payload = orjson.dumps(body)
        etag = etag_of(payload)
        headers.append((b"etag", etag.encode("latin-1")))
        if operation.method == "GET" and self.runtime.pipeline.cache is not None:
            headers += _raw(cache_headers(*hint))
        if operation.status == 201 and operation.location is not None:
            location = _location(operation.location, value)
            if location is not None:
                headers.append((b"location", location.encode("latin-1")))
        if_none_match = header_map(request.scope).get("if-none-match")
        if operation.method == "GET" and if_none_match and _matches(if_none_match, etag):
            return Answer(b"", 304, headers)
        return Answer(payload, operation.status, headers, _JSON)

    async def _execute(
        self, operation: RestOperation, request: Request, variables: dict[str, Any]
    ) -> tuple[Any, tuple[CacheHint | None, Principal]]:
        """The root field's value, the cache policy it was answered with and for whom."""
        try:
            context = await self.runtime.context_factory(request)
        except RequestError as exc:
            raise Problem.of_code(exc.code, str(exc), exc.headers, exc.extensions) from None
        if isinstance(context, Context):  # a version's own schema may bring its own context
            # An answer that is the root field's value as is takes the planner's JSON text
            # as it is (an `orjson.Fragment`): decoding it only to encode it again cost
            # more than the rest of the answer. A page is reshaped: Python values.
            as_is = operation.operation_type == "query" and operation.shape in _AS_IS
            context.planned_data = PlannedData.RAW_JSON if as_is else PlannedData.DECODED
        try:
            outcome = await self.runtime.pipeline.run(
                operation.document,
                context,
                variables=variables,
                allowed=_TYPES[operation.operation_type],
            )
        except OperationTimeoutError as exc:
            raise Problem(error_table.TIMEOUT, str(exc)) from None
        if isinstance(outcome, PreparedAnswer):
            data = outcome.body["data"]
        else:
            if outcome.errors:
                if _names_nothing(outcome.errors, operation):
                    key = variables.get("id", request.url.path)
                    raise Problem.not_found(named(operation.root_type).name, key)
                raise from_graphql(outcome.errors)
            data = outcome.data
        if isinstance(data, orjson.Fragment):  # a response cache hit: the whole `data` as text
            data = orjson.loads(orjson.dumps(data))
        value = (data or {}).get(operation.root_field)
        if _is_null(value) and not operation.null_is_an_answer:
            key = variables.get("id", request.url.path)
            raise Problem.not_found(named(operation.root_type).name, key)
        if not isinstance(context, Context):  # a version's own schema may bring its own
            return value, (None, Principal.anonymous())
        return value, (context.operation.cache_hint, context.principal)

    async def _check_if_match(
        self, current: RestOperation, request: Request, variables: dict[str, Any]
    ) -> None:
        expected = request.headers.get("if-match")
        if not expected:
            return
        lookup = {name: variables[name] for name in current.path_params}
        value, _ = await self._execute(current, request, lookup)
        if not _matches(expected, etag_of(orjson.dumps(value))):
            raise Problem(PRECONDITION_FAILED, "the resource has changed since that ETag")


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, orjson.Fragment) and orjson.dumps(value) == b"null")


def _names_nothing(errors: Sequence[GraphQLError], operation: RestOperation) -> bool:
    """Whether the only complaint is a path parameter that cannot name anything (an id
    that decodes to no object, such as `0`): the path names no resource, a 404."""
    for error in errors:
        original = error.original_error
        if not isinstance(original, ValidationError) or not all(
            problem.field in operation.path_params for problem in original.problems
        ):
            return False
    return True


def _final_rest_answer(answer: StoredAnswer) -> bool:
    # Rate limited, timed out or unavailable: nothing was changed, a retry executes.
    return answer.status < 500 and answer.status != 429


def _location(template: str, value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    target = (
        value
        if "id" in value
        else next((v for v in value.values() if isinstance(v, dict) and "id" in v), None)
    )
    if target is None or not isinstance(target.get("id"), str):
        return None
    return template.replace("{id}", quote(target["id"], safe="=+"))


def _page_links(url: URL, page_info: dict[str, Any]) -> HeaderList:
    """`first` and `next` (keyset cursors go forward only; `prev` needs `before` in the schema)."""
    links = [("Link", f'<{url.remove_query_params("after")}>; rel="first"')]
    end = page_info.get("endCursor")
    if page_info.get("hasNextPage") and isinstance(end, str):
        links.append(("Link", f'<{url.include_query_params(after=end)}>; rel="next"'))
    return links


async def bind(operation: RestOperation, request: Request, max_body: int) -> dict[str, Any]:
    """The operation's variables from path, query and body; every bad field is reported."""
    variables: dict[str, Any]
    problems: list[FieldProblem] = []
    path_params: dict[str, str] = request.path_params
    if operation.path_as_is:  # IDs and strings: the segments as they are, nothing to check
        variables = {name: path_params[name] for name in operation.path_params}
    else:
        variables = {}
        for name, gql_type in operation.path_params.items():
            value, message = parse_query_value(path_params[name], gql_type)
            problems += [FieldProblem(name, message)] if message else check(value, gql_type, name)
            variables[name] = value
    if not request.scope.get("query_string"):
        # Most reads have none: nothing to parse, only the required parameters are missing
        # (what the loop below finds for an empty query).
        problems += [FieldProblem(name, "is required") for name in operation.required_query]
        if operation.body is not None:
            problems += await _bind_body(operation, request, variables, max_body)
        if problems:
            raise Problem.invalid(problems)
        return variables
    query = request.query_params
    known = operation.query_names
    unknown = sorted({key for key in query if key not in known})
    if unknown:
        raise Problem.bad_request(
            "unknown query parameter(s): " + ", ".join(unknown),
            [FieldProblem(key, "is not a known query parameter") for key in unknown],
        )
    for param in operation.query_params:
        raw = query.getlist(param.name)
        if not raw:
            if param.required:
                problems.append(FieldProblem(param.name, "is required"))
            continue
        if len(raw) > 1 and not param.repeated:
            problems.append(FieldProblem(param.name, "is given more than once"))
            continue
        if param.choices is not None:
            chosen = param.choices.get(raw[0])
            if chosen is None:
                allowed = ", ".join(param.choices)
                problems.append(FieldProblem(param.name, f"must be one of {allowed}"))
                continue
            _assign(variables, param.variable, chosen)
            continue
        listed = nullable(param.type)
        leaf = listed.of_type if isinstance(listed, GraphQLList) else param.type
        parsed = [parse_query_value(item, leaf) for item in raw]
        bad = [FieldProblem(param.name, m) for _, m in parsed if m]
        values = [v for v, _ in parsed]
        value = values if param.repeated else values[0]
        problems += bad or check(value, param.type, param.name)
        _assign(variables, param.variable, value)
    if operation.body is not None:
        problems += await _bind_body(operation, request, variables, max_body)
    if problems:
        raise Problem.invalid(problems)
    return variables


async def _bind_body(
    operation: RestOperation, request: Request, variables: dict[str, Any], max_body: int
) -> list[FieldProblem]:
    spec = operation.body
    assert spec is not None
    raw = await request.body()
    if len(raw) > max_body:
        raise Problem(PAYLOAD_TOO_LARGE, f"the body may be at most {max_body} bytes")
    if not raw.strip():
        if spec.required:
            return [FieldProblem("body", "is required")]
        return []
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(UNSUPPORTED_MEDIA_TYPE, "send the body as application/json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Problem.bad_request("the request body is not valid JSON") from None
    if spec.variable is not None:
        variables[spec.variable] = body
        if not isinstance(body, dict):
            return [FieldProblem("body", "must be an object")]
        return check(body, spec.fields[spec.variable], "")
    if not isinstance(body, dict):
        return [FieldProblem("body", "must be an object")]
    problems = [FieldProblem(k, "is not a known field") for k in body if k not in spec.fields]
    for name, gql_type in spec.fields.items():
        if name in body:
            problems += check(body[name], gql_type, name)
            variables[name] = body[name]
        elif isinstance(gql_type, GraphQLNonNull):
            problems.append(FieldProblem(name, "is required"))
    return problems


def _assign(variables: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = variables
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
