"""GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.

POST with `application/json` bodies and GET with query parameters; responses in
`application/graphql-response+json` (request errors answer 4xx) or the legacy
`application/json` (document errors answer 200). A mutation over GET is 405.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain.errors import DomainError, RateLimitedError, UnavailableError
from domain.idempotency import StoredAnswer
from gateway.graphql.get_parameters import get_parameters
from gateway.graphql.persisted_queries import PersistedQueryError
from gateway.graphql.pipeline import OperationTimeoutError, Pipeline, PreparedAnswer
from gateway.graphql.response_cache import cache_headers
from gateway.http.idempotency import (
    EXTENSION as IDEMPOTENCY_EXTENSION,
)
from gateway.http.idempotency import (
    HEADER as IDEMPOTENCY_HEADER,
)
from gateway.http.idempotency import (
    NOT_STORED_CODES,
    REPLAYED_HEADER,
    Idempotency,
    IdempotencyError,
    fingerprint,
    parse_key,
)
from gateway.http.negotiation import GRAPHQL_RESPONSE, JSON, RequestError, negotiate
from gateway.http.request_headers import header_map
from resolvers.context import Context, PlannedData
from schema import errors as error_table

ALLOWED_METHODS = frozenset({"GET", "HEAD", "POST"})
ALLOW = "GET, POST"
# The operation types each method may run (built once: one of them on every request).
_OVER_POST = frozenset({OperationType.QUERY, OperationType.MUTATION})
_OVER_GET = frozenset({OperationType.QUERY})
_CONTENT_TYPES = {media: f"{media}; charset=utf-8".encode() for media in (JSON, GRAPHQL_RESPONSE)}

type ContextFactory = Callable[[Request], Awaitable[Context]]


def _error_body(
    message: str, code: str, extensions: dict[str, object] | None = None
) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}


def _json_param(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RequestError(400, f"the {name} parameter is not valid JSON") from None


def _check_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise RequestError(400, "a GraphQL request must be a JSON object")
    query = params.get("query")
    extensions = params.get("extensions")
    document_id = params.get("documentId")
    if document_id is not None and query is not None:
        # GraphQL over HTTP, persisted documents: one or the other, never both.
        raise RequestError(400, "send either `query` or `documentId`, not both")
    # With a persisted-query hash or a document id the document may be left out (APQ,
    # trusted documents, GraphQL-over-HTTP persisted documents).
    hash_only = query is None and (
        document_id is not None or (isinstance(extensions, dict) and "persistedQuery" in extensions)
    )
    if not hash_only and (not isinstance(query, str) or not query.strip()):
        raise RequestError(400, "the request has no GraphQL document in `query`")
    # Written out rather than a loop over the names with `dict | None`: every request.
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise RequestError(400, "`variables` must be an object or null")
    if extensions is not None and not isinstance(extensions, dict):
        raise RequestError(400, "`extensions` must be an object or null")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestError(400, "`operationName` must be a string or null")
    return params


class GraphQLHTTPEndpoint:
    """The `/graphql` HTTP endpoint, as an ASGI app; GraphiQL is rendered by `ide` when given.

    An ASGI app rather than a Starlette request handler: every method reaches it (the
    405 is a GraphQL error body with `Allow`), and the hot path builds no `Response`
    and reads the body and headers once, without Starlette's per-lookup decoding.
    HEAD is GET without a body (the server drops it).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        context_factory: ContextFactory,
        *,
        max_batch: int = 10,
        max_body_bytes: int = 1_048_576,
        ide: Callable[[Request], Awaitable[Response]] | None = None,
        idempotency: Idempotency | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._context_factory = context_factory
        self._max_batch = max_batch
        self._max_body_bytes = max_body_bytes
        self._ide = ide
        self._idempotency = idempotency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        headers = header_map(scope)
        if self._ide is not None and self._wants_ide(request, headers):
            response = await self._ide(request)
            await response(scope, receive, send)
            return
        media = JSON
        method: str = scope["method"]
        try:
            if method not in ALLOWED_METHODS:
                raise RequestError(
                    405,
                    f"{method} is not allowed here: use GET or POST",
                    "METHOD_NOT_ALLOWED",
                    {"Allow": ALLOW},
                )
            media = negotiate(headers.get("accept"))
            payload = await self._read(request, method, headers)
            header_key = headers.get(IDEMPOTENCY_HEADER)
            if header_key is not None and isinstance(payload, list):
                raise RequestError(
                    400, "an Idempotency-Key header cannot cover a batch: use extensions"
                )
            context = await self._context_factory(request)
            extra: dict[str, str] = {}
            if isinstance(payload, list):
                results = [await self._answer(request, p, context, media) for p in payload]
                body: Any = [body for body, _, _ in results]
                # A batch is refused as a whole only when each of its operations was.
                refused = all(status == TOO_MANY_REQUESTS for _, status, _ in results)
                status = TOO_MANY_REQUESTS if refused else 200
            else:
                body, status, extra = await self._answer(
                    request, payload, context, media, header_key
                )
                if method != "POST" and self._pipeline.cache is not None:
                    validators = http_caching(body, status, context)
                    extra = {**extra, **validators}
                    if status == 200 and _not_modified(headers, validators):
                        await _send_not_modified(send, validators)
                        return
            if status in (TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE):
                extra = {**extra, **_retry_after(body)}
            await _send_json(send, body, status, media, extra)
        except RequestError as exc:
            body = _error_body(str(exc), exc.code, exc.extensions)
            await _send_json(send, body, exc.status, media, exc.headers)
        except ClientDisconnect:
            return  # nobody to answer; the edge counts it as never answered

    @staticmethod
    def _wants_ide(request: Request, headers: dict[str, str]) -> bool:
        return (
            request.scope["method"] == "GET"
            and "text/html" in headers.get("accept", "")
            and get_parameters(request.scope.get("query_string", b""))[0] is None
        )

    async def _read(
        self, request: Request, method: str, headers: dict[str, str]
    ) -> dict[str, Any] | list[dict[str, Any]]:
        if method != "POST":
            query, document_id, operation_name, variables, extensions = get_parameters(
                request.scope.get("query_string", b"")
            )
            return _check_params(
                {
                    "query": query,
                    "documentId": document_id,
                    "operationName": operation_name,
                    "variables": _json_param(variables, "variables"),
                    "extensions": _json_param(extensions, "extensions"),
                }
            )
        content_type = headers.get("content-type", "")
        if content_type != JSON and content_type.split(";")[0].strip().lower() != JSON:
            raise RequestError(
                415, "send the GraphQL request as application/json", "UNSUPPORTED_MEDIA_TYPE"
            )
        body = await _read_body(request.receive, self._max_body_bytes)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RequestError(400, "the request body is not valid JSON") from None
        if isinstance(parsed, list):
            if not parsed:
                raise RequestError(400, "an empty batch has nothing to execute")
            if len(parsed) > self._max_batch:
                raise RequestError(
                    400,
                    f"a batch may hold at most {self._max_batch} operations",
                    "BATCH_TOO_LARGE",
                )
            return [_check_params(item) for item in parsed]
        return _check_params(parsed)

    async def _answer(
        self,
        request: Request,
        params: dict[str, Any],
        context: Context,
        media: str,
        header_key: str | None = None,
    ) -> tuple[Any, int, dict[str, str]]:
        """Execute one operation, at most once per idempotency key of an authenticated caller."""
        extensions = params.get("extensions") or {}
        raw_key = header_key if header_key is not None else extensions.get(IDEMPOTENCY_EXTENSION)
        caller = context.principal.user_id
        # The method as the scope has it: Starlette's `Request.method` is a property
        # and a `typing.cast` call, three times a request here.
        if raw_key is None or self._idempotency is None or request.scope["method"] != "POST":
            body, status = await self._execute_one(request, params, context, media)
            return body, status, {}
        try:
            key = parse_key(raw_key)
            if caller is None:
                body, status = await self._execute_one(request, params, context, media)
                return body, status, {}
            same_request = fingerprint(
                "graphql",
                params.get("query"),
                params.get("operationName"),
                params.get("variables"),
                {k: v for k, v in extensions.items() if k != IDEMPOTENCY_EXTENSION},
            )

            async def produce() -> StoredAnswer:
                body, status = await self._execute_one(request, params, context, media)
                return StoredAnswer(status, (), orjson.dumps(body))

            outcome = await self._idempotency.run(
                caller, key, same_request, produce, stored=_final_graphql_answer
            )
        except IdempotencyError as exc:
            raise RequestError(exc.rule.status, str(exc), exc.rule.code, exc.headers) from None
        except DomainError as exc:  # the store is unavailable
            rule = error_table.rule_for(exc)
            raise RequestError(rule.status, str(exc), rule.code) from None
        replayed = {REPLAYED_HEADER: "true"} if outcome.replayed else {}
        return orjson.Fragment(outcome.answer.body), outcome.answer.status, replayed

    async def _execute_one(
        self, request: Request, params: dict[str, Any], context: Context, media: str
    ) -> tuple[dict[str, Any], int]:
        try:
            params = await self._pipeline.document_of(params)
        except PersistedQueryError as exc:
            if not exc.document_error:
                raise RequestError(400, str(exc), exc.code) from None
            return _error_body(str(exc), exc.code), 400 if media == GRAPHQL_RESPONSE else 200
        over_get = request.scope["method"] != "POST"
        allowed = _OVER_GET if over_get else _OVER_POST
        # This endpoint writes `data` with orjson, so planned answers (pre-encoded JSON
        # fragments built by the database) may be spliced in as they are.
        context.planned_data = PlannedData.RAW_JSON
        try:
            outcome = await self._pipeline.run(
                params["query"],
                context,
                variables=params.get("variables"),
                operation_name=params.get("operationName"),
                extensions=params.get("extensions"),
                allowed=allowed,
            )
        except OperationTimeoutError as exc:
            # Execution had started, so `data` is present (null) and the status is 200
            # for both media types, as for any other execution error; the code tells
            # clients apart.
            return {"data": None, **_error_body(str(exc), error_table.TIMEOUT.code)}, 200
        except InvalidOperationTypeError as exc:
            if over_get and exc.operation_type is OperationType.MUTATION:
                raise RequestError(
                    405,
                    "mutations are only accepted over POST",
                    "METHOD_NOT_ALLOWED",
                    {"Allow": "POST"},
                ) from None
            raise RequestError(
                400,
                "subscriptions are served over WebSocket on this path",
                "OPERATION_NOT_SUPPORTED",
            ) from None
        except CannotGetOperationTypeError as exc:
            body = _error_body(exc.as_http_error_reason(), "OPERATION_RESOLUTION_FAILURE")
            return body, 400 if media == GRAPHQL_RESPONSE else 200
        except MissingQueryError:
            raise RequestError(400, "the request has no GraphQL document in `query`") from None
        if isinstance(outcome, PreparedAnswer):
            # Only an outage gives a prepared answer errors (and no data).
            failed = "errors" in outcome.body and media == GRAPHQL_RESPONSE
            return outcome.body, SERVICE_UNAVAILABLE if failed else 200
        if _budget_refused(outcome):
            # As every other refusal of the rate limits: 429 with Retry-After, whatever
            # the media type (GraphiQL's schema fetch reported "Error fetching schema").
            return self._body(outcome, context), TOO_MANY_REQUESTS
        return self._body(outcome, context), self._status(outcome, media)

    @staticmethod
    def _body(result: ExecutionResult, context: Context) -> dict[str, Any]:
        body: dict[str, Any] = {}
        request_error = (
            result.data is None
            and bool(result.errors)
            and all(error.path is None for error in result.errors or [])
        )
        if not request_error:
            body["data"] = result.data
        if result.errors:
            body["errors"] = [_formatted(error, context) for error in result.errors]
        if result.extensions:
            body["extensions"] = result.extensions
        return body

    @staticmethod
    def _status(result: ExecutionResult, media: str) -> int:
        if media == JSON:
            return 200
        errors = result.errors or []
        request_error = (
            result.data is None and bool(errors) and all(error.path is None for error in errors)
        )
        if request_error:
            return 400
        if _unavailable(errors) and not any(v is not None for v in (result.data or {}).values()):
            # A dependency is down and no field could be answered: "retry later" in the
            # status, as the one error table says (UNAVAILABLE, 503).
            return error_table.rule_for(UnavailableError()).status
        return 200


def _unavailable(errors: list[GraphQLError]) -> bool:
    code = error_table.rule_for(UnavailableError()).code
    return any((error.extensions or {}).get("code") == code for error in errors)


def _final_graphql_answer(answer: StoredAnswer) -> bool:
    """Whether a retry must get this answer again: not if nothing was changed yet
    (rate limited, timed out before commit, unavailable) and a retry should execute."""
    if answer.status >= 500 or answer.status == 429:
        return False
    errors = orjson.loads(answer.body).get("errors") or []
    codes = {(error.get("extensions") or {}).get("code") for error in errors}
    return not codes & NOT_STORED_CODES


def _formatted(error: GraphQLError, context: Context) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    if "code" not in extensions:
        # Errors raised outside the operation (an extension's own failure) still get a code.
        extensions["code"] = error_table.INTERNAL.code
        extensions["requestId"] = context.request_id
        formatted["message"] = "Internal server error"
    formatted["extensions"] = extensions
    return formatted


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; RequestError(413) as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, "the request body is too large", "PAYLOAD_TOO_LARGE")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


TOO_MANY_REQUESTS = 429
SERVICE_UNAVAILABLE = 503


def _budget_refused(result: ExecutionResult) -> bool:
    errors = result.errors or []
    return (
        result.data is None
        and bool(errors)
        and all(isinstance(error.original_error, RateLimitedError) for error in errors)
    )


def _retry_after(body: Any) -> dict[str, str]:
    """The longest `retryAfter` among the refused operations, in whole seconds."""
    bodies = body if isinstance(body, list) else [body]
    waits = [
        float(error.get("extensions", {}).get("retryAfter", 1))
        for one in bodies
        for error in one.get("errors", [])
    ]
    return {"Retry-After": str(max(1, math.ceil(max(waits, default=1))))}


def http_caching(body: Any, status: int, context: Context) -> dict[str, str]:
    """`Cache-Control` (`cache_headers`) and `ETag`, a weak validator over `data` (the
    `extensions` differ between equivalent answers), of an answer to a GET."""
    if status != 200 or not isinstance(body, dict) or "errors" in body or "data" not in body:
        return {"Cache-Control": "no-store"}
    etag = 'W/"' + hashlib.sha256(orjson.dumps(body["data"])).hexdigest()[:32] + '"'
    return {**cache_headers(context.operation.cache_hint, context.principal), "ETag": etag}


def _not_modified(headers: dict[str, str], validators: dict[str, str]) -> bool:
    etag = validators.get("ETag")
    given = headers.get("if-none-match")
    if etag is None or not given:
        return False
    # If-None-Match compares weakly (RFC 9110, 13.1.2).
    candidates = {c.strip().removeprefix("W/") for c in given.split(",")}
    return "*" in candidates or etag.removeprefix("W/") in candidates


async def _send_not_modified(send: Send, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": 304, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


async def _send_json(
    send: Send, body: Any, status: int, media: str, headers: dict[str, str] | None = None
) -> None:
    content = orjson.dumps(body)
    raw = [
        (b"content-type", _CONTENT_TYPES[media]),
        (b"content-length", str(len(content)).encode("latin-1")),
    ]
    if headers:
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})
