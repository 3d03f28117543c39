"""A per-caller budget of GraphQL cost points per window, as GitHub's GraphQL API has.

Each operation's static cost is debited before it runs; an operation the budget
cannot pay for is refused with `RATE_LIMITED` (and `retryAfter`), and every response
reports `extensions.rateLimit = {cost, remaining, resetAt}`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from graphql import DocumentNode, FieldNode, GraphQLError, OperationType, get_operation_ast
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from domain.errors import RateLimitedError
from gateway.limits.rate_limit import Decision, Hit, Limiter, Quota
from gateway.limits.rate_limit_http import PendingRequestHit, pending_request_hit, subject_key
from gateway.settings import RateLimitSettings
from resolvers.context import Context, Prepaid
from schema.cost import execution_cost

MESSAGE = "the cost budget of this window is used up"


class CostBudget:
    """Cost points per window for each user, and for each anonymous client IP."""

    def __init__(
        self, limiter: Limiter, *, user: Quota, anonymous: Quota, introspection_cost: int = 10
    ) -> None:
        self._limiter, self.user, self.anonymous = limiter, user, anonymous
        self.introspection_cost = introspection_cost

    async def debit(
        self,
        user_id: int | None,
        client_ip: str,
        cost: int,
        request_hit: PendingRequestHit | None = None,
    ) -> Decision:
        """Take `cost` points if that many are left (nothing is taken otherwise).

        With the request's untaken `request_hit`, both are taken in one call, the
        request's first: when its quota refuses it, the cost is refused and not taken.
        """
        hits, pending = self._hits(user_id, client_ip, cost, request_hit)
        # A busy caller's hits are mostly paid from held units: no coroutine for them.
        decisions = self._limiter.spend_held(hits) or await self._limiter.hit_all(hits)
        if pending is not None:
            pending.decision = decisions[0]
        return decisions[-1]

    def debit_held(
        self,
        user_id: int | None,
        client_ip: str,
        cost: int,
        request_hit: PendingRequestHit | None = None,
    ) -> Decision | None:
        """`debit`'s decision when the units this replica holds pay for it (no await);
        None, and nothing taken, otherwise (then `debit`). For the prepared path, which
        debits on every request: a coroutine fewer there."""
        hits, pending = self._hits(user_id, client_ip, cost, request_hit)
        decisions = self._limiter.spend_held(hits)
        if decisions is None:
            return None
        if pending is not None:
            pending.decision = decisions[0]
        return decisions[-1]

    def _hits(
        self,
        user_id: int | None,
        client_ip: str,
        cost: int,
        request_hit: PendingRequestHit | None,
    ) -> tuple[list[Hit], PendingRequestHit | None]:
        quota = self.user if user_id is not None else self.anonymous
        cost_hit = _cost_hit(quota, user_id, client_ip, cost)
        pending = request_hit if request_hit is not None and request_hit.decision is None else None
        return ([cost_hit] if pending is None else [pending.hit, cost_hit]), pending


@functools.lru_cache(maxsize=16_384)
def _cost_hit(quota: Quota, user_id: int | None, client_ip: str, cost: int) -> Hit:
    # A caller's operations cost the same few amounts: each hit is made once, not its
    # subject's text, key tuple and named tuple on every request (~0.5 µs).
    return Hit(quota, ("cost", subject_key(user_id, client_ip)), cost)


def report(cost: int, decision: Decision) -> dict[str, Any]:
    return {
        "cost": cost,
        "remaining": decision.remaining,
        "resetAt": _RESET_TEXTS.text(decision.reset_at),
    }


def _whole_second(timestamp: float) -> int:
    # As datetime.fromtimestamp(...).replace(microsecond=0) reads it: rounded to the
    # microsecond (half to even) first, so 9.9999996 is 10.
    fraction, whole = math.modf(timestamp)
    return int(whole) + (round(fraction * 1e6) >= 1_000_000)


@functools.lru_cache(maxsize=1_024)
def _reset_text(second: int) -> str:
    # Per whole second: formatting the time was ~5% of a cheap request's CPU.
    return datetime.fromtimestamp(second, UTC).isoformat().replace("+00:00", "Z")


class _ResetTexts:
    """`resetAt` of the last reset instant asked for. A busy caller's decisions paid from
    held units carry the same instant (the one Redis last reported) request after
    request: its text is given for an equal float without `_whole_second` and the
    cache's lookup. One entry: an instant that changes every request (an unspent
    quota resets "now") only replaces it."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # One tuple, replaced whole: a reader in another thread (two apps in one
        # process) never pairs an instant with another instant's text.
        self._last = (math.nan, "")  # NaN: equal to nothing

    def text(self, instant: float) -> str:
        last = self._last
        if instant == last[0]:
            return last[1]
        text = _reset_text(_whole_second(instant))
        self._last = (instant, text)
        return text


_RESET_TEXTS = _ResetTexts()


def prepaid_by(cost: int, decision: Decision) -> Prepaid:
    """The budget's decision as the operation's state carries it."""
    # `decision.retry_after` written out (two properties a request): whole seconds until
    # the reset, at least 1.
    wait = decision.reset_at - decision.now
    retry_after = math.ceil(wait) if wait > 1 else 1
    return Prepaid(cost, decision.allowed, retry_after, report(cost, decision))


class CostBudgetExtension(SchemaExtension):
    """Debits each operation's cost before execution; refuses it when the budget is spent."""

    def __init__(self, *, budget: CostBudget, report: bool = True) -> None:
        self.budget, self.report = budget, report
        self._report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            # Shared with the cost limit: the document is walked once per operation.
            cost = execution_cost(context)
            if _introspection_only(context.graphql_document, context.operation_name):
                cost = min(cost, self.budget.introspection_cost)
            caller: Context = context.context
            prepaid, caller.operation.prepaid = caller.operation.prepaid, None
            if prepaid is None or prepaid.cost != cost:
                decision = await self.budget.debit(
                    caller.principal.user_id,
                    caller.client_ip or "unknown",
                    cost,
                    pending_request_hit(caller.request),
                )
                prepaid = prepaid_by(cost, decision)
            self._report = dict(prepaid.report)
            if not prepaid.allowed:
                refusal = RateLimitedError(prepaid.retry_after, MESSAGE)
                context.result = GraphQLExecutionResult(
                    data=None, errors=[GraphQLError(MESSAGE, original_error=refusal)]
                )
        yield

    def get_results(self) -> dict[str, Any]:
        return {"rateLimit": self._report} if self.report and self._report is not None else {}


def _introspection_only(document: DocumentNode, operation_name: str | None) -> bool:
    """A query selecting only meta fields (`__schema`, `__type`, `__typename`) at its root."""
    operation = get_operation_ast(document, operation_name)
    return (
        operation is not None
        and operation.operation is OperationType.QUERY
        and all(
            isinstance(selection, FieldNode) and selection.name.value.startswith("__")
            for selection in operation.selection_set.selections
        )
    )


def cost_budget_extension(budget: CostBudget, *, report: bool) -> Callable[[], SchemaExtension]:
    """The schema extension debiting `budget` (shared with prepared operations)."""
    return partial(CostBudgetExtension, budget=budget, report=report)


def cost_budget(settings: RateLimitSettings, limiter: Limiter) -> CostBudget:
    """The budgets the settings give, on the shared limiter."""
    return CostBudget(
        limiter,
        user=Quota.parse(settings.cost_budget),
        anonymous=Quota.parse(settings.anonymous_cost_budget),
        introspection_cost=settings.introspection_cost,
    )
