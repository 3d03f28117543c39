"""Domain errors: they carry data, never transport details.

The mapping to GraphQL codes and HTTP statuses lives in one table in `schema.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFoundError(DomainError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind, self.key = kind, key


class ConflictError(DomainError):
    """The request is valid but clashes with the current state."""


class DuplicateError(ConflictError):
    def __init__(self, kind: str, field: str, value: str) -> None:
        super().__init__(f"a {kind} with this {field} already exists")
        self.kind, self.field, self.value = kind, field, value


class StaleStateError(ConflictError):
    """A compare-and-set found the stored state changed since it was read."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} was changed by another request; read it again")
        self.kind, self.key = kind, key


class OutOfStockError(ConflictError):
    def __init__(self, item_id: int, requested: int, available: int) -> None:
        super().__init__(f"item {item_id} has {available} in stock, {requested} requested")
        self.item_id, self.requested, self.available = item_id, requested, available


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One unmet rule on one input field."""

    field: str
    message: str


class ValidationError(DomainError):
    """Input breaks one or more rules; `problems` lists every one of them."""

    def __init__(self, problems: list[FieldProblem] | FieldProblem) -> None:
        self.problems = [problems] if isinstance(problems, FieldProblem) else list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        return cls(FieldProblem(field, message))


class MissingReferenceError(ValidationError):
    """An input refers to an object that does not exist (a link or reference to a row
    never stored, or deleted since): the input is at fault, not the stored state. A
    delete refused because other rows still refer to the object is a ConflictError."""

    def __init__(self, field: str, target: str | None = None) -> None:
        what = f"a {target}" if target else "an object"
        super().__init__(FieldProblem(field, f"refers to {what} that does not exist"))
        self.field, self.target = field, target


class ResumeExpiredError(DomainError):
    """The events after `position` are no longer kept (or never were): the subscriber
    missed some and must read the current state again instead of resuming."""

    def __init__(self, position: str, window: int) -> None:
        super().__init__(
            f"cannot resume after event {position}: only the last {window} events are kept"
        )
        self.position, self.window = position, window


class InvariantViolationError(DomainError):
    """A rule of an aggregate would be broken by the change."""


class InvalidTransitionError(InvariantViolationError):
    def __init__(self, kind: str, current: str, target: str) -> None:
        super().__init__(f"{kind} cannot go from {current} to {target}")
        self.kind, self.current, self.target = kind, current, target


class UnauthenticatedError(DomainError):
    def __init__(self, message: str = "authentication required") -> None:
        super().__init__(message)


class ForbiddenError(DomainError):
    def __init__(self, message: str = "not allowed") -> None:
        super().__init__(message)


class RateLimitedError(DomainError):
    def __init__(self, retry_after: float, message: str = "rate limit exceeded") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(DomainError):
    """A dependency (the database, Redis) cannot serve; `retry_after` seconds is a hint."""

    def __init__(
        self, message: str = "a dependency is unavailable", *, retry_after: float = 5
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TimedOutError(DomainError):
    """A dependency did not answer within its bound (a statement past its timeout)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} took too long")
        self.what = what


class UpstreamUnavailableError(UnavailableError):
    """An upstream service cannot serve: its circuit breaker is open, its connection was
    refused, it kept failing after the retries, or its bulkhead is full."""

    def __init__(self, upstream: str, reason: str, *, retry_after: float = 5) -> None:
        super().__init__(
            f"the upstream {upstream} is unavailable: {reason}", retry_after=retry_after
        )
        self.upstream, self.reason = upstream, reason


class UpstreamTimeoutError(TimedOutError):
    """An upstream service did not answer within its timeout (after the retries)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(f"the upstream {upstream}")
        self.upstream = upstream
