"""The schema extension that answers planned queries from the read model.

It runs where the executor would (`on_execute`): parsing, validation, the operation
limits and the cost checks have all run, and a refusal they set is left alone. For
an operation the planner accepts, the result's `data` maps each root field to the
JSON text the database built (`orjson.Fragment`), which the HTTP endpoint writes out
as it is; anything else runs through the resolvers as usual.

Only callers that ask get planned answers (`Context.planned_data`): the HTTP
endpoint, which writes JSON with orjson, asks for `RAW_JSON` and gets fragments; the
REST fallback, which reads `data` as Python values, asks for `DECODED` and gets the
JSON decoded (the same values the resolvers give), as do queries sent over WebSocket.
Subscriptions are never planned.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
import structlog
from graphql import DocumentNode, GraphQLError
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from domain import read_plan as plan
from domain.errors import DomainError, UnavailableError
from domain.principals import Principal
from domain.users import Role
from resolvers.context import Context, PlannedData
from schema.cost import execution_cost
from schema.planner import partial
from schema.planner.compile import plan_operation, scope_for

log = structlog.get_logger("gateway.planner")


type Fetch = Callable[[plan.Plan, plan.Scope], Awaitable[dict[str, str]]]

# The role names of each set of roles, made once: every prepared replay builds a key,
# and the sets are few (subsets of `Role`; bounded by it).
_ROLE_NAMES: dict[frozenset[Role], frozenset[str]] = {}


class PlanCache:
    """Plans by document, operation, the caller's roles and permissions, and variables.

    The caller's id is not part of the key: it enters the SQL as a parameter (`me`,
    a customer's own orders, their own email), so one plan serves every customer.
    """

    def __init__(self, maxsize: int = 1_000) -> None:
        self._plans: OrderedDict[plan.PlanKey, plan.Plan | None] = OrderedDict()
        self._maxsize = maxsize
        self.hits = self.misses = 0

    @staticmethod
    def key(
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> plan.PlanKey | None:
        """What a plan depends on; None for variables that have no canonical JSON."""
        try:
            frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS)
        except TypeError:
            return None
        roles = principal.roles
        names = _ROLE_NAMES.get(roles)
        if names is None:
            names = _ROLE_NAMES[roles] = frozenset(role.value for role in roles)
        return (
            query,
            operation_name,
            names,
            principal.permissions,
            principal.is_authenticated,
            frozen,
        )

    def plan(
        self,
        schema: strawberry.Schema,
        key: plan.PlanKey,
        document: DocumentNode,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> plan.Plan | None:
        if key in self._plans:
            self.hits += 1
            self._plans.move_to_end(key)
            return self._plans[key]
        self.misses += 1
        found = plan_operation(schema, document, operation_name, variables, principal)
        self._plans[key] = found
        if len(self._plans) > self._maxsize:
            self._plans.popitem(last=False)
        return found


class ReadPlanner(SchemaExtension):
    """Answers a plannable query with one SQL statement per root field."""

    def __init__(self, *, fetch: Fetch, cache: PlanCache) -> None:
        self.fetch, self.cache = fetch, cache
        self.planned = False

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if context.result is None and document is not None:
            result = await self._answer(document)
            if isinstance(result, GraphQLExecutionResult):
                context.result = result
                self.planned = result.errors is None
            elif result is not None:
                # Part planned: the resolvers run the rest of the operation now.
                context.graphql_document = result.remaining
                yield
                context.graphql_document = document
                resolved = context.result
                if isinstance(resolved, GraphQLExecutionResult) and resolved.data is not None:
                    resolved.data = partial.merged(
                        document, context.operation_name, result.data, resolved.data
                    )
                return
        yield

    async def _answer(self, document: DocumentNode) -> GraphQLExecutionResult | _Part | None:
        context = self.execution_context
        caller = context.context
        if not isinstance(caller, Context) or caller.planned_data is PlannedData.NONE:
            return None
        if context.query is None:
            return None
        principal = caller.principal
        state = caller.operation
        prepare_as, state.prepare_as = state.prepare_as, None
        key = PlanCache.key(context.query, context.operation_name, context.variables, principal)
        if key is None:
            return None
        found = self.cache.plan(
            context.schema, key, document, context.operation_name, context.variables, principal
        )
        if found is None:
            return None
        try:
            texts = await self.fetch(found, scope_for(principal, found.rules))
        except UnavailableError as error:
            # The database is down: the resolvers would only try (and fail) again, so
            # the outage is the answer, tried once (and logged once, as an outage).
            return GraphQLExecutionResult(
                data=None,
                errors=[GraphQLError(str(error), path=[found.roots[0].key], original_error=error)],
            )
        except DomainError:
            # An argument the SQL side refuses (a cursor for another sort, say): the
            # resolvers refuse it too, with the error the client must see.
            return None
        except Exception:
            # A planner fault must not become the client's error: the resolvers answer
            # (a read; nothing was written), and the fault is logged once to be fixed.
            log.exception(
                "read planner failed; answered by the resolvers",
                request_id=caller.request_id,
                operation_name=context.operation_name,
            )
            return None
        if caller.planned_data is PlannedData.RAW_JSON:
            data = {name: orjson.Fragment(text) for name, text in texts.items()}
        else:
            data = {name: orjson.loads(text) for name, text in texts.items()}
        if found.fallback:
            remaining = partial.keeping(document, context.operation_name, found.fallback)
            return _Part(data, remaining)
        if prepare_as is not None:
            state.planned = plan.Planned(
                prepare_as, found, execution_cost(context), context.operation_name
            )
        return GraphQLExecutionResult(data=data, errors=None)


@dataclass(frozen=True, slots=True)
class _Part:
    """The planned root fields' values, and the operation left for the resolvers."""

    data: dict[str, Any]
    remaining: DocumentNode


def planner_extension(fetch: Fetch, cache: PlanCache | None = None) -> Callable[[], ReadPlanner]:
    """A factory for `build_schema(extra_extensions=...)`; one plan cache per process."""
    shared = cache or PlanCache()

    def build() -> ReadPlanner:
        return ReadPlanner(fetch=fetch, cache=shared)

    return build
