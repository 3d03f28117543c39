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

A by-id root whose `id` is a variable used nowhere else (`item(id: $id)`) makes the
entry a template for every id: it is filed under the key with that variable's value
replaced by a marker (`_SLOT`), and a request of the same document and operation
name whose value is the canonical global id of the root's type is answered from it,
the decoded key given to the fetch (`Scope.keys`; one statement for every id). The
answer, the cost and the extensions of a by-id root do not depend on the id's value
(the cost prices page sizes only), and the caller's rules are bound per execution as
for any entry. A value that is not such an id (malformed, another type's, written
otherwise than the gateway writes ids) takes the full path, which answers it as always.

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
from domain.errors import DomainError, UnavailableError
from domain.principals import Principal
from gateway.graphql.deadlines import Deadlines
from gateway.limits.cost_budget import CostBudget, prepaid_by
from gateway.limits.rate_limit_http import pending_request_hit
from resolvers.context import Context, PlannedData, Prepaid
from schema.errors import error_details, rule_for
from schema.node import decode_id, to_global_id
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


# An id variable's value in a template's key: not a string, so never an id a request
# gives (a request sending this very object sends no id, and is keyed by its values).
_SLOT = {"\u0000": "by-id"}


@dataclass(frozen=True, slots=True)
class Slot:
    """A variable used only as the `id` of the by-id root `root`, of type `entity`."""

    variable: str
    entity: str
    root: str


type Slots = tuple[Slot, ...]


@dataclass(frozen=True, slots=True)
class Prepared:
    planned: plan.Planned
    # `extensions` of the full path's answer, without the per-request entries.
    extensions: dict[str, Any]
    # The whole `data` when every root is a constant (`{ __typename }`): no fetch at all.
    constant: dict[str, Any] | None = None
    # A template's id variables (its key holds `_SLOT` for each).
    slots: Slots = ()


def _filed_as(planned: plan.Planned) -> tuple[Slots, plan.PlanKey]:
    """The id variables of a plan whose every one was given as the canonical global id
    of its root's type, and the key with a marker for each (the template's); else no
    slots and the plan's own key (the entry is keyed by the values as any other)."""
    slots = tuple(
        Slot(root.key_from, root.target.entity.entity, root.key)
        for root in planned.plan.roots
        if isinstance(root, plan.RootObject) and root.key_from is not None
    )
    key = planned.key
    if not slots:
        return (), key
    variables = orjson.loads(key[5])
    if not isinstance(variables, dict) or _keys(slots, variables) is None:
        return (), key
    generic = orjson.dumps(_generic(variables, slots), option=orjson.OPT_SORT_KEYS)
    return slots, (*key[:5], generic)


# Longer than any global id the gateway writes (a type name and a 64-bit key, base64).
_LONGEST_ID = 200


def _keys(slots: Slots, variables: dict[str, Any]) -> dict[str, int] | None:
    """The by-id keys the slots' values decode to, by root; None unless every value is
    the canonical global id of its root's type (the only form the full path is sure to
    answer as it answers the template: no other check of the input limits can fail)."""
    keys: dict[str, int] = {}
    for slot in slots:
        value = variables.get(slot.variable)
        if type(value) is not str or len(value) > _LONGEST_ID:
            return None
        try:
            decoded = decode_id(value, slot.entity)
        except (DomainError, ValueError):
            return None
        if to_global_id(slot.entity, decoded) != value:
            return None
        keys[slot.root] = decoded
    return keys


def _generic(variables: dict[str, Any], slots: Slots) -> dict[str, Any]:
    return {**variables, **{slot.variable: _SLOT for slot in slots}}


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
        # The id variables of the templates, by document and operation name (bounded).
        self._slots: dict[tuple[str, str | None], Slots] = {}
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
        slots, key = _filed_as(planned)
        if slots:
            operation = (key[0], key[1])
            self._slots.pop(operation, None)  # the newest last
            self._slots[operation] = slots
            if len(self._slots) > self._maxsize:
                del self._slots[next(iter(self._slots))]
        self._entries[key] = Prepared(planned, extensions, _constant_data(planned.plan), slots)
        self._entries.move_to_end(key)
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
        key: plan.PlanKey | None = None
        prepared: Prepared | None = None
        keys: dict[str, int] | None = None
        slots = self._slots.get((query, operation_name)) if variables else None
        if slots is not None and variables is not None:
            keys = _keys(slots, variables)
            if keys is not None:
                generic = _generic(variables, slots)
                key = PlanCache.key(query, operation_name, generic, context.principal)
                prepared = self._entries.get(key) if key is not None else None
                if prepared is not None and prepared.slots != slots:
                    prepared = None
            if prepared is None:
                keys = None
        if prepared is None:
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
                    data = await self._data(key, planned, context.principal, keys)
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
        self,
        key: plan.PlanKey,
        planned: plan.Planned,
        principal: Principal,
        keys: dict[str, int] | None,
    ) -> dict[str, Any] | None:
        try:
            # The operation's execution timeout, around the only wait that can be long;
            # the caller answers TIMEOUT when it fires, as for the full path.
            scope = scope_for(principal, planned.plan.rules)
            if keys is not None:
                scope = plan.Scope(scope.user_id, scope.rules, keys)
            texts = await self._deadlines.bounded(self._fetch(planned.plan, scope))
        except (TimeoutError, UnavailableError):
            raise  # the caller's answer, not a reason to try the full path again
        except DomainError:
            # Refused for this caller or this id: the full path answers; a template
            # stays for the other ids (any other entry is not trusted again).
            if keys is None:
                self._entries.pop(key, None)
            return None
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
