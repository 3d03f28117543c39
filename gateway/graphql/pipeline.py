"""The one GraphQL pipeline: how every transport runs an operation.

`/graphql` (GET, POST, batches), the REST fallback and queries and mutations sent over
WebSocket (graphql-transport-ws) hand an operation to `Pipeline.run`; each gets the same
stages in the same order:

1. persisted and trusted documents (a hash becomes its document; `/graphql` only: REST
   routes carry their own documents);
2. the prepared replay: an operation the planner answered before is answered again
   without parsing, validation or Strawberry's extensions (the budget is still debited);
3. otherwise Strawberry under the execution timeout (which governs the work before the
   first commit only): the parse and validation caches,
   the operation limits, the cost limit and budget, the read planner or the resolvers
   with per-request dataloaders, error mapping and masking, metrics and spans (all
   schema extensions);
4. a planned answer is kept for the next replay.

Around them, the response cache (`response_cache.py`): a query whose cache policy
allows it is answered from the cache when an answer for the same document, variables
and caller is there (no execution; its cost is still debited from the budget), and an
answer without errors is filed for the next. The served policy is left in
`context.operation.cache_hint` for the transport's `Cache-Control`.

What a transport does with the outcome (status codes, media types, problem+json,
WebSocket messages) stays the transport's. Subscriptions run on Strawberry's
subscription executor with the same schema and extensions (limits, budget, error
mapping); they are long-lived, so the execution timeout does not apply to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from domain import commit_point
from gateway.graphql.persisted_queries import NOT_SUPPORTED, PersistedQueries, PersistedQueryError
from gateway.graphql.prepared_operations import PreparedOperations
from gateway.graphql.response_cache import Entry, ResponseCache
from resolvers.context import Context, Prepaid


@dataclass(frozen=True, slots=True)
class PreparedAnswer:
    """An operation answered without Strawberry (the prepared replay, or the response
    cache): `data` (and `extensions`) only."""

    body: dict[str, Any]


type Outcome = PreparedAnswer | ExecutionResult


class OperationTimeoutError(Exception):
    """The operation ran past the execution timeout and was cancelled."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the operation did not finish within {seconds:g} seconds")
        self.seconds = seconds


class Pipeline:
    """Runs one operation for any transport (see the module docstring for the stages)."""

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        execution_timeout_seconds: float,
        persisted: PersistedQueries | None = None,
        prepared: PreparedOperations | None = None,
        cache: ResponseCache | None = None,
    ) -> None:
        self.schema = schema
        self.execution_timeout_seconds = execution_timeout_seconds
        self._persisted = persisted
        self._prepared = prepared
        self.cache = cache

    async def document_of(self, params: dict[str, Any]) -> dict[str, Any]:
        """`params` with its document, when it names one by hash; raises PersistedQueryError."""
        if self._persisted is None:
            if params.get("query") is None:
                raise PersistedQueryError(
                    NOT_SUPPORTED, "PersistedQueryNotSupported", document_error=True
                )
            return params
        return await self._persisted.resolve(params)

    async def run(
        self,
        query: str,
        context: Context,
        *,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        extensions: dict[str, Any] | None = None,
        allowed: Collection[OperationType] = (OperationType.QUERY, OperationType.MUTATION),
    ) -> Outcome:
        """The operation's outcome; raises OperationTimeoutError, and Strawberry's request
        errors (a disallowed operation type, no operation to run) for the transport to map.
        """
        if self.cache is None or not isinstance(context, Context):
            return await self._run(query, context, variables, operation_name, extensions, allowed)
        lookup = await self.cache.lookup(query, operation_name, variables, context.principal)
        refused: Prepaid | None = None
        if lookup is not None and lookup.found is not None:
            context.start_operation()
            answer = await self.cache.answer(Entry.decode(lookup.found), context)
            if isinstance(answer, Prepaid):
                refused = answer  # the budget's refusal, answered by the full path
            else:
                context.operation.cache_hint = self.cache.http_policy(lookup.policy)
                return PreparedAnswer(answer)
        outcome = await self._run(
            query, context, variables, operation_name, extensions, allowed, refused
        )
        if lookup is None:
            return outcome
        if isinstance(outcome, PreparedAnswer):
            body = outcome.body
            data, failed, answered = body.get("data"), "errors" in body, body.get("extensions")
        else:
            data, failed, answered = outcome.data, bool(outcome.errors), outcome.extensions
        if not failed and data is not None:
            context.operation.cache_hint = self.cache.http_policy(lookup.policy)
            await self.cache.store(lookup, data, answered, context, variables)
        return outcome

    async def _run(
        self,
        query: str,
        context: Context,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        extensions: dict[str, Any] | None,
        allowed: Collection[OperationType],
        prepaid: Prepaid | None = None,
    ) -> Outcome:
        try:
            # Outside the timer: a prepared answer bounds its own I/O (the fetch) by the
            # same timeout, and one that needs none (`{ __typename }`) should not pay for one.
            if prepaid is not None:
                # The budget decided already (a cache hit it refused): Strawberry's budget
                # extension reuses the decision.
                context.start_operation().prepaid = prepaid
            elif self._prepared is not None:
                answered = await self._prepared.answer(query, operation_name, variables, context)
                if answered is not None:
                    return PreparedAnswer(answered)
            elif isinstance(context, Context):  # a version's own schema may bring its own
                context.start_operation()
            async with asyncio.timeout(self.execution_timeout_seconds) as deadline:
                # The timeout governs the work before the first commit only.
                with commit_point.on_commit(_lift(deadline)):
                    result = await self.schema.execute(
                        query,
                        variable_values=variables,
                        context_value=context,
                        operation_name=operation_name,
                        allowed_operation_types=set(allowed),
                        operation_extensions=extensions,
                    )
        except TimeoutError:
            # Cancelled mid-execution: whatever was resolved is dropped.
            raise OperationTimeoutError(self.execution_timeout_seconds) from None
        if self._prepared is not None:
            self._prepared.remember(context, result)
        return result


def _lift(deadline: asyncio.Timeout) -> Callable[[], None]:
    """The commit-point callback: from the first commit on, the operation runs to its end.

    Cancelling a COMMIT in flight would leave its outcome unknown, and cancelling what
    follows would answer a committed change as a failure (a client would retry it).
    An expired deadline has already thrown into the task before it reached a commit.
    """

    def lift() -> None:
        if not deadline.expired():
            deadline.reschedule(None)

    return lift
