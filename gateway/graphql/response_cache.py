"""The response cache: whole `data` of queries, by document, variables and caller.

The pipeline asks `lookup` before running a query and `store`s what it answered
without errors; what may be cached, for how long and for whom is the operation's
cache policy (`schema.cache_control`, from the hints of what it selects).

- Keys: the document's SHA-256, the operation name, the variables and the caller's
  roles; for a `PRIVATE` policy also the caller's user id (an anonymous caller's
  private answers are never cached). A `PUBLIC` answer is shared by the callers with
  the same roles: what a role may see (inactive items, for staff) stays apart.
- Tags: `Type:key` for every global id in the data and every `id` argument, and the
  entity types the policy lists (connections, entities selected without their id).
- Eviction: after the commit, by the committed events (`CacheEvictingPublisher`
  around the services' publisher, before the mutation answers, and
  `CacheEvictingSink` around the outbox relay's sink, which also covers a process
  that died between its commit and its eviction). An event about `Item:7` evicts the
  tags `Item:7` and `Item`. A rolled-back change has no events, so evicts nothing.
- Outages: a store that fails (Redis down) is a miss and nothing is stored; the
  operation runs as if there were no cache, logged once per outage. Evictions that
  fail raise, so the relay publishes the batch again later (at least once).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSchema, parse

from domain.caching import ResponseCacheStore
from domain.errors import UnavailableError
from domain.events import DomainEvent
from domain.outages import OutageReport, UnreportedOutage
from domain.ports import EventPublisher
from domain.principals import Principal
from gateway.limits.cost_budget import CostBudget, prepaid_by
from gateway.limits.rate_limit_http import pending_request_hit
from resolvers.context import Context, PlannedData, Prepaid
from schema.cache_control import (
    UNCACHEABLE,
    CacheHint,
    CachePolicy,
    CacheScope,
    entity_tags,
    policy_of,
)

type CacheObserver = Callable[[str], None]  # "hit", "miss", "error"
# Extensions that change with every request (as for prepared operations).
PER_REQUEST_EXTENSIONS = frozenset({"rateLimit"})


@dataclass(frozen=True, slots=True)
class Entry:
    """A cached answer: `data` as JSON bytes, the operation's cost and `extensions` (less
    the per-request ones)."""

    data: bytes
    cost: int
    extensions: dict[str, Any]

    def encode(self) -> bytes:
        # A header line, then the data: orjson writes no raw newline.
        head = orjson.dumps({"cost": self.cost, "extensions": self.extensions})
        return head + b"\n" + self.data

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        head, _, data = raw.partition(b"\n")
        parsed = orjson.loads(head)
        return cls(data, int(parsed["cost"]), dict(parsed["extensions"]))


@dataclass(frozen=True, slots=True)
class Lookup:
    """A cacheable operation's key and policy, and the entry found (None: a miss)."""

    key: str
    policy: CachePolicy
    generation: int | None
    found: bytes | None


def _ignore(_result: str) -> None:
    return None


def event_tags(events: Iterable[DomainEvent]) -> set[str]:
    """The tags a committed change evicts: `Type:key` and the type of each event's aggregate."""
    tags: set[str] = set()
    for event in events:
        aggregate = event.aggregate
        type_name, sep, key = aggregate.partition(":")
        if sep and type_name and key:
            tags.update((aggregate, type_name))
    return tags


class ResponseCache:
    """Policies by document, entries in a store; see the module docstring."""

    def __init__(
        self,
        schema: GraphQLSchema,
        store: ResponseCacheStore,
        *,
        default_max_age: int = 0,
        max_age_cap: int = 3600,
        max_entry_bytes: int = 1_048_576,
        policy_cache_size: int = 1_000,
        observe: CacheObserver = _ignore,
        budget: CostBudget | None = None,
        report_budget: bool = True,
        max_document_chars: int = 15_000,
        max_tokens: int = 5_000,
        outage: OutageReport | None = None,
    ) -> None:
        self._schema = schema
        self.entries = store
        self._default_max_age = default_max_age
        self._cap = max_age_cap
        self._max_entry_bytes = max_entry_bytes
        self._policies: OrderedDict[tuple[str, str | None], CachePolicy] = OrderedDict()
        self._policy_cache_size = policy_cache_size
        self._observe = observe
        self._budget, self._report_budget = budget, report_budget
        # The policy parses documents before Strawberry's own limits do: the same bounds.
        self._max_document_chars, self._max_tokens = max_document_chars, max_tokens
        # The store's outages, as the composition root reports them (logged once each).
        self._outage: OutageReport = outage if outage is not None else UnreportedOutage()

    def policy(self, query: str, operation_name: str | None) -> CachePolicy:
        """The operation's cache policy, computed once per document and operation name."""
        memo = (query, operation_name)
        found = self._policies.get(memo)
        if found is not None:
            self._policies.move_to_end(memo)
            return found
        try:
            if len(query) > self._max_document_chars:
                raise GraphQLError("too long")
            computed = policy_of(
                self._schema,
                parse(query, max_tokens=self._max_tokens),
                operation_name,
                default_max_age=self._default_max_age,
            )
        except (GraphQLError, RecursionError):
            # Not a document, or past the limits: Strawberry answers (refuses) it.
            computed = UNCACHEABLE
        self._policies[memo] = computed
        if len(self._policies) > self._policy_cache_size:
            self._policies.popitem(last=False)
        return computed

    def http_policy(self, policy: CachePolicy | None) -> CacheHint | None:
        """The policy the answer is served with (capped), None when not cacheable."""
        if policy is None or policy.hint is None or not policy.cacheable:
            return None
        return CacheHint(min(policy.hint.max_age, self._cap), policy.hint.scope)

    async def lookup(
        self,
        query: str,
        operation_name: str | None,
        variables: dict[str, Any] | None,
        principal: Principal,
    ) -> Lookup | None:
        """The entry for this operation and caller; None when it cannot be cached."""
        policy = self.policy(query, operation_name)
        hint = policy.hint
        if hint is None or not policy.cacheable:
            return None
        private = hint.scope is CacheScope.PRIVATE
        if private and principal.user_id is None:
            return None
        key = _key(query, operation_name, variables, principal, private=private)
        try:
            # The generation with the entry: an eviction after it refuses the answer's put.
            generation, found = await self.entries.lookup(key)
        except UnavailableError as error:
            self._outage.failed(error.__cause__ or error)
            self._observe("error")
            return Lookup(key, policy, None, None)
        self._outage.succeeded()
        self._observe("hit" if found is not None else "miss")
        return Lookup(key, policy, generation, found)

    async def answer(self, entry: Entry, context: Context) -> dict[str, Any] | Prepaid:
        """The body of a hit: its cost is debited as the operation's would be. When the
        budget refuses it, the refusal: the full path answers it, reusing the decision
        (a refusal takes nothing, and nothing is asked twice)."""
        extensions = dict(entry.extensions)
        if self._budget is not None and entry.cost > 0:
            decision = await self._budget.debit(
                context.principal.user_id,
                context.client_ip or "unknown",
                entry.cost,
                pending_request_hit(context.request),
            )
            paid = prepaid_by(entry.cost, decision)
            if not paid.allowed:
                return paid
            if self._report_budget:
                extensions["rateLimit"] = dict(paid.report)
        data: Any = (
            orjson.Fragment(entry.data)
            if context.planned_data is PlannedData.RAW_JSON
            else orjson.loads(entry.data)
        )
        body: dict[str, Any] = {"data": data}
        if extensions:
            body["extensions"] = extensions
        return body

    async def store(
        self,
        lookup: Lookup,
        data: Any,
        extensions: dict[str, Any] | None,
        context: Context,
        variables: dict[str, Any] | None,
    ) -> None:
        """File an answer without errors under the lookup's key."""
        hint = self.http_policy(lookup.policy)
        if lookup.generation is None or hint is None:
            return
        encoded = orjson.dumps(data)
        if len(encoded) > self._max_entry_bytes:
            return
        kept = {k: v for k, v in (extensions or {}).items() if k not in PER_REQUEST_EXTENSIONS}
        entry = Entry(encoded, _cost_of(context), kept)
        tags = lookup.policy.tags(variables) | entity_tags(orjson.loads(encoded))
        try:
            await self.entries.put(
                lookup.key, entry.encode(), hint.max_age, tags, lookup.generation
            )
        except UnavailableError as error:
            self._outage.failed(error.__cause__ or error)

    async def evict(self, events: Sequence[DomainEvent]) -> int:
        """Evict what these committed events changed; raises UnavailableError."""
        tags = event_tags(events)
        if not tags:
            return 0
        return await self.entries.evict(tags)


def _cost_of(context: Context) -> int:
    """The operation's priced cost: by the prepared path's debit, else by the schema's."""
    state = context.operation
    if state.prepaid is not None:
        return state.prepaid.cost
    return state.priced[1] if state.priced is not None else 0


def cache_headers(hint: CacheHint | None, principal: Principal) -> dict[str, str]:
    """`Cache-Control` of an answer to a GET, on `/graphql` and REST alike.

    `public` only for an anonymous caller of a `PUBLIC` answer: an authenticated
    caller's answer depends on its roles, which a shared cache cannot see (`Vary`
    names the header that carries them); `no-store` for what may not be cached.
    """
    if hint is None:
        return {"Cache-Control": "no-store"}
    public = hint.scope is CacheScope.PUBLIC and principal.user_id is None
    return {
        "Cache-Control": f"{'public' if public else 'private'}, max-age={hint.max_age}",
        "Vary": "Authorization",
    }


def _key(
    query: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    principal: Principal,
    *,
    private: bool,
) -> str:
    caller = {
        "roles": sorted(role.value for role in principal.roles),
        "user": principal.user_id if private else None,
    }
    digest = hashlib.sha256(
        orjson.dumps(
            [hashlib.sha256(query.encode()).hexdigest(), operation_name, variables, caller],
            option=orjson.OPT_SORT_KEYS,
        )
    ).hexdigest()
    return f"{'private' if private else 'public'}:{digest}"


class CacheEvictingPublisher:
    """The services' publisher: evicts what committed events changed, then wakes the
    relay. Awaited before a mutation answers, so its own replica (and, with Redis,
    every replica) reads its writes."""

    def __init__(self, publisher: EventPublisher, cache: ResponseCache) -> None:
        self._publisher, self._cache = publisher, cache

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        # On failure the relay's sink evicts them again, retried until Redis answers.
        with contextlib.suppress(UnavailableError):
            await self._cache.evict(events)
        await self._publisher.publish(events)


class CacheEvictingSink:
    """The outbox relay's sink: evicts, then hands the events on; an eviction that fails
    raises, so the relay keeps the batch and publishes it again later."""

    def __init__(self, sink: EventPublisher, cache: ResponseCache) -> None:
        self._sink, self._cache = sink, cache

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        await self._cache.evict(events)
        await self._sink.publish(events)
