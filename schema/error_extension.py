"""Turns every error of a GraphQL result into one with `extensions.code`.

Domain errors get their row of the error table; parse, validation and variable
errors get the standard codes; anything unexpected is logged once with the request
id and reaches the client only as a masked internal error carrying that id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError
from schema import errors as error_table

log = structlog.get_logger("gateway.errors")

MASKED_MESSAGE = "Internal server error"
# graphql-core appends its suggestions last: " Did you mean 'a', 'b', or 'c'?"; names
# never contain "?". (Its own `hide_suggestions` switch is not reachable through
# Strawberry's validation and execution calls.)
SUGGESTION = re.compile(r" Did you mean [^?]*\?")


class ErrorMapping(SchemaExtension):
    """Give each error its code from the one error table; mask the unexpected."""

    def __init__(self, *, mask_internal: bool = True, hide_suggestions: bool = False) -> None:
        self.mask_internal = mask_internal
        self.hide_suggestions = hide_suggestions
        self._validation_failed = False

    def on_validate(self) -> Iterator[None]:
        yield
        self._validation_failed = bool(self.execution_context.pre_execution_errors)

    def on_operation(self) -> Iterator[None]:
        self._validation_failed = False
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [self.map_error(error) for error in errors]

    def _request_id(self) -> str | None:
        return getattr(self.execution_context.context, "request_id", None)

    def map_error(self, error: GraphQLError) -> GraphQLError:
        """The error with `extensions.code` (and details) set; masked if unexpected."""
        if error.extensions and "code" in error.extensions:
            return error
        original = error.original_error
        message = error.message
        extensions: dict[str, Any] = {}
        if original is None or isinstance(original, GraphQLError):
            if self.hide_suggestions:
                # "Did you mean" lets a client without introspection map the schema.
                message = SUGGESTION.sub("", message)
            if self.execution_context.graphql_document is None:
                rule = error_table.PARSE_FAILED
            elif self._validation_failed:
                rule = error_table.VALIDATION_FAILED
            elif error.path is None:
                # Variables are coerced before execution: no path means bad input.
                rule = error_table.BAD_USER_INPUT
            else:
                rule = error_table.INTERNAL
        elif isinstance(original, DomainError):
            rule = error_table.rule_for(original)
            extensions.update(error_table.error_details(original))
        else:
            rule = error_table.INTERNAL
            request_id = self._request_id()
            log.error(
                "unexpected error in resolver",
                request_id=request_id,
                path=error.path,
                exc_info=original,
            )
            if self.mask_internal:
                message = MASKED_MESSAGE
                original = None
        extensions["code"] = rule.code
        if rule is error_table.INTERNAL and (request_id := self._request_id()):
            extensions["requestId"] = request_id
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=original,
            extensions=extensions,
        )
