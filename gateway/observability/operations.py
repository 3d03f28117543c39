"""What a GraphQL operation is called and what came of it, for logs, metrics and spans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from gateway.observability.request_state import request_state

UNKNOWN_TYPE = "unknown"


def operation_name(execution_context: ExecutionContext) -> str | None:
    """The operation's name as the client gave it (None when anonymous)."""
    try:
        return execution_context.operation_name
    except Exception:  # a document that does not parse has no name; not our failure
        return None


def operation_type(execution_context: ExecutionContext) -> str:
    """`query`, `mutation`, `subscription`, or `unknown` before parsing succeeds."""
    if execution_context.graphql_document is None:
        return UNKNOWN_TYPE
    try:
        return str(execution_context.operation_type.value)
    except Exception:  # an unknown operationName: the operation does not exist
        return UNKNOWN_TYPE


def operation_errors(execution_context: ExecutionContext) -> list[GraphQLError]:
    result = execution_context.result
    errors = getattr(result, "errors", None) if result is not None else None
    return list(errors or execution_context.pre_execution_errors or [])


def outcome(execution_context: ExecutionContext) -> str:
    """`success` (no errors), `partial` (data and errors) or `error` (no data)."""
    if not operation_errors(execution_context):
        return "success"
    result = execution_context.result
    return "partial" if getattr(result, "data", None) is not None else "error"


def error_code(error: GraphQLError) -> str:
    return str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR"))


def annotate(request_scope: Any, name: str | None, kind: str) -> None:
    """Lists the operation in the request's `RequestState`, where the access log reads it."""
    if isinstance(request_scope, dict):
        request_state(request_scope).graphql_operations.append((name, kind))


def span_name(kind: str, name: str | None) -> str:
    """`GraphQL query Name` (or `GraphQL query` for an anonymous operation)."""
    return f"GraphQL {kind} {name}" if name else f"GraphQL {kind}"


class OperationAnnotation(SchemaExtension):
    """Records each operation's name and type in the request's `RequestState`.

    The access log reads them from there; a batch request lists every operation.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        request: Any = getattr(self.execution_context.context, "request", None)
        annotate(
            getattr(request, "scope", None),
            operation_name(self.execution_context),
            operation_type(self.execution_context),
        )
