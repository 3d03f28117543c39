"""Prepared operations: a planned query answered again without running Strawberry.

The first time an operation runs, it goes the whole way through Strawberry: parsing,
validation, the operation limits, the cost limit, the cost budget, then the read
planner. When the planner answered it without an error, everything that decided
the answer except the data is known for that key (document, operation name,
variables, the caller's roles and permissions): the document is valid and within
its limits, it costs `cost` points, and `plan` fetches it. The next request with
the same key skips to what still changes per request: the budget is debited, the
caller's object-level rules are bound, the plan's SQL runs, and the answer is
written with the same `extensions` the full path wrote.

Whatever is not routine goes back to the full path, which answers it as it always
does: a budget refusal (refused there with the same error, nothing taken twice), a
caller the object-level rules refuse, an argument the SQL refuses, a planner fault
(logged there). The entry is dropped in the last three cases.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from strawberry.types import ExecutionResult

from domain import read_plan as plan
from domain.errors import UnavailableError
from domain.principals import Principal
from gateway.graphql.deadlines import Deadlines
from gateway.limits.cost_budget import CostBudget, prepaid_by
from gateway.limits.rate_limit_http import pending_request_hit
from resolvers.context import Context, PlannedData, Prepaid
from schema.errors import error_details, rule_for
from schema.planner.compile import scope_for
from schema.planner.extension import PlanCache

type Fetch = Callable[[plan.Plan, plan.Scope], Awaitable[dict[str, str]]]
# Extensions that change with every request; the rest of `extensions` is the key's.
PER_REQUEST_EXTENSIONS = frozenset({"rateLimit"})


class Observation(Protocol):
    answered: bool


class OperationObserver(Protocol):
    """Logs, metrics and traces for an operation that skips Strawberry's extensions.

    What it records is recorded only once `answered` is set: an operation handed
    back to the full path is recorded there.
    """

    def prepared_operation(
        self, request_scope: dict[str, Any] | None, name: str | None, *, sends_sql: bool = True
    ) -> AbstractContextManager[Observation]: ...


@dataclass(frozen=True, slots=True)
class Prepared:
    planned: plan.Planned
    # `extensions` of the full path's answer, without the per-request entries.
    extensions: dict[str, Any]
    # The whole `data` when every root is a constant (`{ __typename }`): no fetch at all.
    constant: dict[str, Any] | None = None


def _constant_data(built: plan.Plan) -> dict[str, Any] | None:
    if all(isinstance(root, plan.RootConstant) for root in built.roots):
        return {
            root.key: orjson.Fragment(root.json)
            for root in built.roots
            if isinstance(root, plan.RootConstant)
        }
    return None


class PreparedOperations:
    """Answers operations the planner answered before, by their plan key (an LRU)."""

    def __init__(
        self,
        fetch: Fetch,
        observer: OperationObserver,
        *,
        budget: CostBudget | None = None,
        report_budget: bool = True,
        maxsize: int = 1_000,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._fetch, self._observer = fetch, observer
        # The operation's execution timeout, for all operations with one timer.
        self._deadlines = Deadlines(timeout_seconds)
        self._budget, self._report_budget = budget, report_budget
        self._entries: OrderedDict[plan.PlanKey, Prepared] = OrderedDict()
        self._maxsize = maxsize
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, context: Context, result: ExecutionResult) -> None:
        """After a full execution: keep what the planner answered without an error."""
        planned, context.operation.planned = context.operation.planned, None
        if planned is None or result.errors:
            return
        extensions = {
            name: value
            for name, value in (result.extensions or {}).items()
            if name not in PER_REQUEST_EXTENSIONS
        }
        self._entries[planned.key] = Prepared(planned, extensions, _constant_data(planned.plan))
        self._entries.move_to_end(planned.key)
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)

    async def answer(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        context: Context,
    ) -> dict[str, Any] | None:
        """The response body, or None when the full path must run."""
        # A batch shares one context: nothing left over from the previous operation.
        state = context.start_operation()
        if context.planned_data is PlannedData.NONE:
            return None
        key = PlanCache.key(query, operation_name, variables, context.principal)
        prepared = self._entries.get(key) if key is not None else None
        if key is None or prepared is None:
            self.misses += 1
            if key is not None:  # the full path runs: file its planned answer under this key
                state.prepare_as = key
            return None
        self._entries.move_to_end(key)  # least recently used goes first
        planned = prepared.planned
        extensions = dict(prepared.extensions)
        if self._budget is not None:
            paid = await self._debit(planned.cost, context)
            if paid is None:
                return None
            if self._report_budget:
                extensions["rateLimit"] = dict(paid.report)
        scope = getattr(context.request, "scope", None)
        data = prepared.constant
        observed = self._observer.prepared_operation(
            scope, planned.operation_name, sends_sql=data is None
        )
        with observed as observation:
            if data is None:
                try:
                    data = await self._data(key, planned, context.principal)
                except UnavailableError as error:
                    return _unavailable(planned, error, extensions)
            observation.answered = data is not None
        if data is None:
            return None
        if context.planned_data is PlannedData.DECODED:
            data = orjson.loads(orjson.dumps(data))  # REST reshapes `data`: Python values
        self.hits += 1
        body: dict[str, Any] = {"data": data}
        if extensions:
            body["extensions"] = extensions
        return body

    async def _debit(self, cost: int, context: Context) -> Prepaid | None:
        budget = self._budget
        assert budget is not None
        user_id, client_ip = context.principal.user_id, context.client_ip or "unknown"
        pending = pending_request_hit(context.request)
        # Mostly paid from held units, without the budget's coroutine.
        decision = budget.debit_held(user_id, client_ip, cost, pending)
        if decision is None:
            decision = await budget.debit(user_id, client_ip, cost, pending)
        paid = prepaid_by(cost, decision)
        # Paid or refused, the full path must not ask the budget again for this
        # operation: it reuses this decision (a refusal takes nothing).
        context.operation.prepaid = paid
        return paid if paid.allowed else None

    async def _data(
        self, key: plan.PlanKey, planned: plan.Planned, principal: Principal
    ) -> dict[str, Any] | None:
        try:
            # The operation's execution timeout, around the only wait that can be long;
            # the caller answers TIMEOUT when it fires, as for the full path.
            scope = scope_for(principal, planned.plan.rules)
            texts = await self._deadlines.bounded(self._fetch(planned.plan, scope))
        except (TimeoutError, UnavailableError):
            raise  # the caller's answer, not a reason to try the full path again
        except Exception:
            # Refused by a rule or the SQL, or a planner fault: the full path answers
            # (and logs a fault); this entry is not trusted again.
            self._entries.pop(key, None)
            return None
        return {name: orjson.Fragment(text) for name, text in texts.items()}


def _unavailable(
    planned: plan.Planned, error: UnavailableError, extensions: dict[str, Any]
) -> dict[str, Any]:
    """The body the planner gives for an outage: `data` null, the one error table's row
    on the first root field (the endpoint answers it 503 where the media type allows)."""
    details = {"code": rule_for(error).code, **error_details(error)}
    first = {"message": str(error), "path": [planned.plan.roots[0].key], "extensions": details}
    body: dict[str, Any] = {"data": None, "errors": [first]}
    if extensions:
        body["extensions"] = extensions
    return body
