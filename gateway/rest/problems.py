"""RFC 9457 problem details, with status, type and title from the one error table.

Domain errors are looked up with `rule_for` (MRO); GraphQL request errors by the code the
error mapping gave them. Only HTTP-protocol failures that GraphQL cannot have (405, 406,
412, 415) have their own rows here, built with the same `ErrorRule`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError
from starlette.responses import Response

from domain.errors import DomainError, FieldProblem, NotFoundError, ValidationError
from gateway.http.problem_details import PROBLEM_JSON, problem_bytes, problem_headers
from schema import errors as error_table
from schema.errors import ErrorRule, rule_for

METHOD_NOT_ALLOWED = ErrorRule("METHOD_NOT_ALLOWED", 405, "Method not allowed")
PRECONDITION_FAILED = ErrorRule("PRECONDITION_FAILED", 412, "Precondition failed")
UNSUPPORTED_MEDIA_TYPE = ErrorRule("UNSUPPORTED_MEDIA_TYPE", 415, "Unsupported media type")
PAYLOAD_TOO_LARGE = ErrorRule("PAYLOAD_TOO_LARGE", 413, "Payload too large")
NOT_ACCEPTABLE = ErrorRule("NOT_ACCEPTABLE", 406, "Not acceptable")
ROUTE_NOT_FOUND = ErrorRule("NOT_FOUND", 404, "Not found")

_BY_CODE: dict[str, ErrorRule] = {}
for _row in (
    error_table.BAD_REQUEST,
    error_table.BAD_USER_INPUT,
    error_table.PARSE_FAILED,
    error_table.VALIDATION_FAILED,
    error_table.INTERNAL,
    error_table.IDEMPOTENCY_KEY_IN_USE,
    error_table.IDEMPOTENCY_KEY_REUSED,
    *error_table.ERROR_TABLE.values(),
):
    _BY_CODE.setdefault(_row.code, _row)
# Extension members that are transport details, not problem members.
_NOT_MEMBERS = frozenset({"code", "requestId"})


class Problem(Exception):
    """A request answered with problem+json instead of a representation."""

    def __init__(
        self,
        rule: ErrorRule,
        detail: str,
        *,
        members: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.rule, self.detail = rule, detail
        self.members = members or {}
        self.headers = headers or {}

    @classmethod
    def of_domain(cls, error: DomainError) -> Problem:
        return cls(rule_for(error), str(error), members=error_table.error_details(error))

    @classmethod
    def invalid(cls, problems: Sequence[FieldProblem]) -> Problem:
        """422 listing every bad field, as the domain's ValidationError would."""
        return cls.of_domain(ValidationError(list(problems)))

    @classmethod
    def bad_request(cls, detail: str, problems: Sequence[FieldProblem] = ()) -> Problem:
        members = {"problems": [{"field": p.field, "message": p.message} for p in problems]}
        return cls(error_table.BAD_REQUEST, detail, members=members if problems else None)

    @classmethod
    def not_found(cls, kind: str, key: object) -> Problem:
        return cls.of_domain(NotFoundError(kind, key))

    @classmethod
    def of_code(
        cls,
        code: str,
        detail: str,
        headers: dict[str, str] | None = None,
        members: dict[str, Any] | None = None,
    ) -> Problem:
        rule = _BY_CODE.get(code, error_table.BAD_REQUEST)
        return cls(rule, detail, members=members, headers=headers)

    def response(self, *, instance: str, request_id: str) -> Response:
        body = problem_bytes(
            self.rule, self.detail, instance=instance, request_id=request_id, members=self.members
        )
        headers = problem_headers(self.rule, self.members) | self.headers
        return Response(body, self.rule.status, headers=headers, media_type=PROBLEM_JSON)


def from_graphql(errors: Sequence[GraphQLError]) -> Problem:
    """The problem for a failed execution: the first error's row, unless one is a 5xx.

    A server failure outranks the client's mistakes (the client cannot fix it by changing
    the request); otherwise the first error in document order is the one reported.
    """
    chosen = errors[0]
    for error in errors:
        if _rule(error).status >= 500:
            chosen = error
            break
    rule = _rule(chosen)
    extensions = dict(chosen.extensions or {})
    members = {k: v for k, v in extensions.items() if k not in _NOT_MEMBERS}
    return Problem(rule, chosen.message, members=members)


def _rule(error: GraphQLError) -> ErrorRule:
    if isinstance(error.original_error, DomainError):
        return rule_for(error.original_error)
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return _BY_CODE.get(code, error_table.INTERNAL)
    return error_table.INTERNAL
