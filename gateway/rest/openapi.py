"""The OpenAPI 3.1 document, generated from the GraphQL types of the REST operations.

Parameters and bodies come from the documents' variable types, responses from their
selections (exactly the fields each route answers with), errors from the problem schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLNonNull

from gateway.http.problem_details import PROBLEM_JSON
from gateway.rest.operation import RestOperation
from gateway.rest.types import JsonSchema, SchemaBuilder, nullable

_STATUS_TEXT = {
    400: "Bad request: malformed JSON, unknown query parameters, invalid GraphQL input",
    401: "Authentication required, or the bearer token is invalid",
    403: "The caller may not do this",
    404: "Not found, or not visible to the caller",
    406: "Accept admits no JSON type (application/json, problem+json or another +json)",
    409: "Conflict with the current state, or a request with this Idempotency-Key is"
    " still being processed (retry after Retry-After)",
    412: "If-Match does not match the current ETag",
    413: "The body is too large",
    415: "The body must be application/json",
    422: "Invalid input; `problems` lists every bad field. Also: this Idempotency-Key was"
    " used for a different request",
    429: "Too many requests; see Retry-After",
    500: "Unexpected error; `requestId` identifies it in the logs",
    503: "A dependency is unavailable, or the server is overloaded; see Retry-After",
}
# Refusals that tell the client when to try again.
_RETRY_STATUSES = frozenset({409, 429, 503})
_ID_DESCRIPTION = (
    "An opaque global id, as this API returns it (`id` of an object). An id that names"
    " no object the caller may see is answered 404."
)
_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "IETF httpapi Idempotency-Key: a retry with the same key and request gets"
    " the first answer (with `Idempotent-Replayed: true`) instead of doing the change again;"
    " the same key with another request is 422. 1-255 printable ASCII characters,"
    " optionally quoted.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 257},
}
_PROBLEM_SCHEMA: JsonSchema = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "description": "The GraphQL `extensions.code`."},
        "requestId": {"type": "string"},
        "problems": {"type": "array", "items": {"$ref": "#/components/schemas/FieldProblem"}},
    },
    "required": ["type", "title", "status", "detail", "instance", "code", "requestId"],
}
_FIELD_PROBLEM: JsonSchema = {
    "type": "object",
    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    "required": ["field", "message"],
}
_HEADER_DOCS = {
    "ETag": "Strong validator of this representation; send it back in If-None-Match/If-Match.",
    "Location": "The created resource.",
    "Link": "Pagination (rel=first, next) and deprecation links.",
    "Deprecation": "RFC 9745: when this route or a field it returns was deprecated.",
    "Sunset": "RFC 8594: when it stops being served.",
    "Idempotent-Replayed": "`true` when this is the stored answer to an earlier request"
    " with the same Idempotency-Key.",
}


def openapi_path(path: str) -> str:
    return path  # Starlette's `{name}` placeholders are OpenAPI's too


def document(
    operations: Sequence[RestOperation],
    builder: SchemaBuilder,
    *,
    title: str = "Python API Base REST",
    version: str = "1.0.0",
    description: str = "",
) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document for these operations."""
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for op in operations:
        paths.setdefault(openapi_path(op.path), {})[op.method.lower()] = _operation(op, builder)
        tags[op.tag] = None
    schemas = dict(sorted(builder.components.items()))
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas["FieldProblem"] = _FIELD_PROBLEM
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "tags": [{"name": tag} for tag in tags],
        "security": [{"bearerAuth": []}, {}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(op: RestOperation, builder: SchemaBuilder) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "description": f"Runs this GraphQL document ({op.source}):\n\n```graphql\n"
        f"{op.document.strip()}\n```",
        "parameters": _parameters(op, builder),
        "responses": _responses(op, builder),
    }
    if op.summary:
        entry["summary"] = op.summary
    if op.deprecated_route is not None:
        entry["deprecated"] = True
    if op.body is not None:
        entry["requestBody"] = {
            "required": op.body.required,
            "content": {"application/json": {"schema": _body_schema(op, builder)}},
        }
    return entry


def _parameters(op: RestOperation, builder: SchemaBuilder) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name, gql_type in op.path_params.items():
        path_param: dict[str, Any] = {
            "name": name,
            "in": "path",
            "required": True,
            "schema": builder.input_required(nullable(gql_type)),
        }
        if getattr(nullable(gql_type), "name", None) == "ID":
            path_param["description"] = _ID_DESCRIPTION
        params.append(path_param)
    for param in op.query_params:
        schema: JsonSchema
        if param.choices is not None:
            schema = {"type": "string", "enum": list(param.choices)}
        else:
            schema = builder.input_required(nullable(param.type))
        entry: dict[str, Any] = {
            "name": param.name,
            "in": "query",
            "required": param.required,
            "schema": schema,
        }
        if param.repeated:
            entry.update(style="form", explode=True)
        if param.description:
            entry["description"] = param.description
        params.append(entry)
    if op.operation_type == "mutation":
        params.append(_IDEMPOTENCY_KEY)
    return params


def _body_schema(op: RestOperation, builder: SchemaBuilder) -> JsonSchema:
    body = op.body
    assert body is not None
    if body.variable is not None:
        return builder.input_required(nullable(body.fields[body.variable]))
    return {
        "type": "object",
        "properties": {name: builder.input(t) for name, t in body.fields.items()},
        "required": [n for n, t in body.fields.items() if isinstance(t, GraphQLNonNull)],
        "additionalProperties": False,
    }


def success_schema(op: RestOperation, builder: SchemaBuilder) -> JsonSchema:
    """The JSON Schema of a successful answer's body (a `null` root is a 404 instead,
    unless the operation names no resource: `GET /users/me` answers `null` when anonymous)."""
    properties = op.response_properties or {}
    if op.shape == "connection":
        edges = properties.get("edges", {})
        node = edges.get("items", {}).get("properties", {}).get("node", {})
        rest = {k: v for k, v in properties.items() if k != "edges"}
        data = {"data": {"type": "array", "items": node}, **rest}
        return {"type": "object", "properties": data, "required": list(data)}
    if op.shape == "object":
        schema: JsonSchema = {
            "type": ["object", "null"] if op.null_is_an_answer else "object",
            "properties": properties,
            "required": list(properties),
        }
        return schema
    return builder.output_required(nullable(op.root_type), None)


def _responses(op: RestOperation, builder: SchemaBuilder) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    names: list[str] = []
    if op.shape != "empty":
        names.append("ETag")
    if op.status == 201 and op.location:
        names.append("Location")
    if op.shape == "connection" or op.deprecations:
        names.append("Link")
    if op.deprecations:
        names += ["Deprecation", "Sunset"]
    if op.operation_type == "mutation":
        names.append("Idempotent-Replayed")
    for name in names:
        headers[name] = {"description": _HEADER_DOCS[name], "schema": {"type": "string"}}
    success: dict[str, Any] = {"description": op.summary or "Success"}
    if headers:
        success["headers"] = headers
    if op.shape != "empty":
        success["content"] = {"application/json": {"schema": success_schema(op, builder)}}
    responses: dict[str, Any] = {str(op.status): success}
    if op.method == "GET":
        responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
    statuses = [400, 401, 403, 404, 406, 422, 429, 500, 503]
    if op.operation_type == "mutation":
        statuses.append(409)
    if op.body is not None:
        statuses += [413, 415]
    if op.conditional_get is not None:
        statuses.append(412)
    for status in sorted(statuses):
        refusal: dict[str, Any] = {
            "description": _STATUS_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status in _RETRY_STATUSES:
            retry = "Seconds to wait before retrying."
            refusal["headers"] = {
                "Retry-After": {"description": retry, "schema": {"type": "string"}}
            }
        responses[str(status)] = refusal
    return responses
