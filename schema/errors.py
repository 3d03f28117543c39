"""The one error mapping: each domain error class to a GraphQL code, an HTTP status
and an RFC 9457 problem type. GraphQL (extensions.code) and REST (problem+json) both
read this table; an error class inherits its nearest ancestor's row (MRO lookup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain import errors

PROBLEM_BASE = "https://python-api-base.dev/problems/"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    code: str
    status: int
    title: str

    @property
    def problem_type(self) -> str:
        return PROBLEM_BASE + self.code.lower().replace("_", "-")


INTERNAL = ErrorRule("INTERNAL_SERVER_ERROR", 500, "Internal server error")
PARSE_FAILED = ErrorRule("GRAPHQL_PARSE_FAILED", 400, "The GraphQL document could not be parsed")
VALIDATION_FAILED = ErrorRule(
    "GRAPHQL_VALIDATION_FAILED", 400, "The GraphQL document is not valid against the schema"
)
BAD_USER_INPUT = ErrorRule("BAD_USER_INPUT", 400, "Invalid input")
BAD_REQUEST = ErrorRule("BAD_REQUEST", 400, "Bad request")

# Operation limits (schema/limits.py): the document is refused before anything runs.
MAX_DEPTH_EXCEEDED = ErrorRule("MAX_DEPTH_EXCEEDED", 400, "The operation is nested too deeply")
MAX_ALIASES_EXCEEDED = ErrorRule("MAX_ALIASES_EXCEEDED", 400, "The operation has too many aliases")
MAX_DIRECTIVES_EXCEEDED = ErrorRule(
    "MAX_DIRECTIVES_EXCEEDED", 400, "The operation has too many directives"
)
MAX_ROOT_FIELDS_EXCEEDED = ErrorRule(
    "MAX_ROOT_FIELDS_EXCEEDED", 400, "The operation selects too many root fields"
)
MAX_TOKENS_EXCEEDED = ErrorRule("MAX_TOKENS_EXCEEDED", 400, "The document is too long")
MAX_COST_EXCEEDED = ErrorRule("MAX_COST_EXCEEDED", 400, "The operation would cost too much")
# Input limits (schema/input_limits.py): the document is refused before it is parsed.
MAX_DOCUMENT_LENGTH_EXCEEDED = ErrorRule(
    "MAX_DOCUMENT_LENGTH_EXCEEDED", 400, "The document has too many characters"
)
MAX_NAME_LENGTH_EXCEEDED = ErrorRule(
    "MAX_NAME_LENGTH_EXCEEDED", 400, "A name in the document is too long"
)
# Idempotency keys (gateway/http/idempotency.py, the IETF httpapi draft's statuses).
IDEMPOTENCY_KEY_IN_USE = ErrorRule(
    "IDEMPOTENCY_KEY_IN_USE", 409, "A request with this idempotency key is being processed"
)
IDEMPOTENCY_KEY_REUSED = ErrorRule(
    "IDEMPOTENCY_KEY_REUSED", 422, "The idempotency key was used for a different request"
)
# The operation ran past GRAPHQL__EXECUTION_TIMEOUT_SECONDS and was cancelled, or one
# statement ran past DATABASE__STATEMENT_TIMEOUT_SECONDS.
TIMEOUT = ErrorRule("TIMEOUT", 504, "The operation took too long")
# A field backed by an upstream service (upstreams/): that field is null, the rest answers.
UPSTREAM_UNAVAILABLE = ErrorRule("UPSTREAM_UNAVAILABLE", 503, "An upstream service is unavailable")
UPSTREAM_TIMEOUT = ErrorRule("UPSTREAM_TIMEOUT", 504, "An upstream service took too long")

ERROR_TABLE: dict[type[BaseException], ErrorRule] = {
    errors.DomainError: ErrorRule("DOMAIN_ERROR", 400, "The request could not be completed"),
    errors.NotFoundError: ErrorRule("NOT_FOUND", 404, "Not found"),
    errors.ConflictError: ErrorRule("CONFLICT", 409, "Conflict with the current state"),
    errors.DuplicateError: ErrorRule("ALREADY_EXISTS", 409, "Already exists"),
    errors.OutOfStockError: ErrorRule("OUT_OF_STOCK", 409, "Not enough stock"),
    errors.ValidationError: ErrorRule("BAD_USER_INPUT", 422, "Invalid input"),
    # An input naming an object that does not exist (a foreign key refused the write);
    # a delete refused because others still refer to the object stays CONFLICT.
    errors.MissingReferenceError: ErrorRule("BAD_USER_INPUT", 422, "Invalid input"),
    errors.InvariantViolationError: ErrorRule(
        "INVARIANT_VIOLATED", 422, "A business rule forbids it"
    ),
    errors.InvalidTransitionError: ErrorRule("INVALID_TRANSITION", 409, "Transition not allowed"),
    errors.UnauthenticatedError: ErrorRule("UNAUTHENTICATED", 401, "Authentication required"),
    errors.ForbiddenError: ErrorRule("FORBIDDEN", 403, "Forbidden"),
    errors.RateLimitedError: ErrorRule("RATE_LIMITED", 429, "Too many requests"),
    errors.UnavailableError: ErrorRule("UNAVAILABLE", 503, "Service unavailable"),
    errors.ResumeExpiredError: ErrorRule(
        "RESUME_WINDOW_EXPIRED", 410, "The events to resume from are no longer kept"
    ),
    errors.TimedOutError: TIMEOUT,
    errors.UpstreamUnavailableError: UPSTREAM_UNAVAILABLE,
    errors.UpstreamTimeoutError: UPSTREAM_TIMEOUT,
}


def rule_for(error: BaseException) -> ErrorRule:
    """The row of the nearest class in the error's MRO; INTERNAL when none matches."""
    for cls in type(error).__mro__:
        rule = ERROR_TABLE.get(cls)
        if rule is not None:
            return rule
    return INTERNAL


def error_details(error: BaseException) -> dict[str, Any]:
    """The data a client may act on, beyond the code: fields, retry delays, keys."""
    details: dict[str, Any] = {}
    if isinstance(error, errors.ValidationError):
        details["problems"] = [{"field": p.field, "message": p.message} for p in error.problems]
    if isinstance(error, errors.RateLimitedError | errors.UnavailableError):
        details["retryAfter"] = error.retry_after
    if isinstance(error, errors.ResumeExpiredError):
        details.update(after=error.position, window=error.window)
    if isinstance(error, errors.UpstreamUnavailableError | errors.UpstreamTimeoutError):
        details["upstream"] = error.upstream
    if isinstance(error, errors.OutOfStockError):
        details.update(itemId=error.item_id, requested=error.requested, available=error.available)
    return details
