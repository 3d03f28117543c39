"""Request rate limits over HTTP: per user when authenticated, per client IP otherwise.

Every limited response carries the IETF draft headers `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy`; a refused
request answers 429 with `Retry-After`, as a GraphQL error (`RATE_LIMITED`) on the
GraphQL path and as problem+json elsewhere.

On the GraphQL path and the REST API's (whose operations run through the same
schema) the hit is deferred, when a cost budget will be debited: the budget takes it
in the same call as the operation's cost (one Redis round trip for both instead of
two), and a request that never reaches the budget (a syntax error, an unknown
persisted query, an unknown REST path) takes it when its response starts. Either way a refused
request answers the same 429. A caller just refused is refused again in this process,
without asking Redis, until its quota has room (the time `Retry-After` gave): the
counters would give the same answer, and a flood from one caller never reaches the
parser.
"""

from __future__ import annotations

import functools
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import RateLimitedError
from gateway.http.client_ip import client_ip_of
from gateway.http.negotiation import JSON, RequestError, negotiate
from gateway.http.problem_details import PROBLEM_JSON, problem_document
from gateway.http.request_id import request_id_of
from gateway.limits.rate_limit import Decision, Hit, Limiter, Quota
from gateway.settings import RateLimitSettings
from schema import errors as error_table

# The user id a request's credentials prove; None when anonymous or not proven.
type Identify = Callable[[Scope], Awaitable[int | None]]

# The GraphQL request's `PendingRequestHit`, for the cost budget to take.
REQUEST_HIT_STATE = "rate_limit_request_hit"
# Callers refused lately, remembered per process (the oldest forgotten first).
MAX_REMEMBERED_REFUSALS = 10_000


def subject_key(user_id: int | None, client_ip: str) -> str:
    """The key a caller's requests and cost are counted under."""
    return f"user:{user_id}" if user_id is not None else f"ip:{client_ip}"


type RawHeaders = list[tuple[bytes, bytes]]


def rate_limit_headers(decision: Decision) -> RawHeaders:
    """`RateLimit-*` (and, refused, `Retry-After`) as ASGI headers, in that order."""
    limit, policy = _quota_headers(decision.quota)
    # `decision.reset_after` written out (a property call a response).
    wait = decision.reset_at - decision.now
    reset = math.ceil(wait) if wait > 0 else 0
    headers = [
        limit,
        (b"ratelimit-remaining", b"%d" % decision.remaining),
        (b"ratelimit-reset", b"%d" % reset),
        policy,
    ]
    if not decision.allowed:
        headers.append((b"retry-after", b"%d" % max(1, reset)))  # Decision.retry_after
    return headers


@functools.lru_cache(maxsize=64)
def _quota_headers(quota: Quota) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    # Encoded once per quota: building every header from a dict of strings each
    # request was ~4% of a cheap request's CPU.
    return (
        (b"ratelimit-limit", b"%d" % quota.amount),
        (b"ratelimit-policy", quota.policy.encode("latin-1")),
    )


def _add_headers(message: Message, headers: RawHeaders) -> None:
    # Appended, not set: nothing inside this layer writes these names (and Starlette's
    # MutableHeaders would scan the list once per name).
    message["headers"] = [*message.get("headers", ()), *headers]


@functools.lru_cache(maxsize=16_384)
def request_hit(quota: Quota, subject: str) -> Hit:
    """A caller's hit on its request quota: the same value on every request of the
    caller, made once (a named tuple and its key tuple were ~0.4 µs a request)."""
    return Hit(quota, ("requests", subject))


class PendingRequestHit:
    """A request's hit on its quota, taken at the latest when its response starts."""

    __slots__ = ("_limiter", "decision", "hit", "subject")

    def __init__(self, limiter: Limiter, quota: Quota, subject: str) -> None:
        self._limiter = limiter
        self.subject = subject
        self.hit = request_hit(quota, subject)
        self.decision: Decision | None = None

    async def take(self) -> Decision:
        """The hit's decision, taking it now unless it was taken with the cost."""
        if self.decision is None:
            (self.decision,) = await self._limiter.hit_all([self.hit])
        return self.decision


def pending_request_hit(request: Any) -> PendingRequestHit | None:
    """The request's untaken hit, from a Starlette request (or anything with `scope`)."""
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    pending = scope.get("state", {}).get(REQUEST_HIT_STATE)
    if isinstance(pending, PendingRequestHit) and pending.decision is None:
        return pending
    return None


class RequestRateLimitMiddleware:
    """Admits each HTTP request against its caller's quota; 429 when it is used up."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: Limiter,
        anonymous: Quota,
        user: Quota,
        identify: Identify,
        graphql_path: str = "/graphql",
        exempt_paths: Iterable[str] = (),
        defer_graphql: bool = False,
        deferred_prefixes: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.limiter, self.anonymous, self.user = limiter, anonymous, user
        self.identify = identify
        self.graphql_path = graphql_path
        self.exempt = frozenset(exempt_paths)
        # Only where a cost budget will take the hit: otherwise it would wait for the
        # response for nothing.
        self.defer_graphql = defer_graphql
        # Other paths whose operations debit the budget (the REST API's).
        self.deferred_prefixes = tuple(deferred_prefixes) if defer_graphql else ()
        self._clock = clock
        self._refused: OrderedDict[str, Decision] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        user_id = await self.identify(scope)
        subject = subject_key(user_id, client_ip_of(scope))
        quota = self.user if user_id is not None else self.anonymous
        # Nobody refused lately (the usual case): nothing to look up.
        refused = self._still_refused(subject) if self._refused else None
        if refused is not None:
            await self._refuse(scope, send, refused, rate_limit_headers(refused))
            return
        path: str = scope["path"]
        if self.defer_graphql and (
            path == self.graphql_path or path.startswith(self.deferred_prefixes)
        ):
            await self._deferred(
                scope, receive, send, PendingRequestHit(self.limiter, quota, subject)
            )
            return
        decision = await self.limiter.hit(quota, "requests", subject)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            self._remember(subject, decision)
            await self._refuse(scope, send, decision, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                _add_headers(message, headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _deferred(
        self, scope: Scope, receive: Receive, send: Send, pending: PendingRequestHit
    ) -> None:
        scope["state"][REQUEST_HIT_STATE] = pending
        refused = False

        async def send_when_decided(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                # Taken with the cost, as a prepared or planned operation's is: no await.
                decision = pending.decision or await pending.take()
                headers = rate_limit_headers(decision)
                if not decision.allowed:
                    # Whatever the app answered (the budget's refusal, an error): the
                    # same 429 as a request refused up front.
                    refused = True
                    self._remember(pending.subject, decision)
                    await self._refuse(scope, send, decision, headers)
                    return
                _add_headers(message, headers)
            elif refused:
                return
            await send(message)

        try:
            await self.app(scope, receive, send_when_decided)
        finally:
            if pending.decision is None:  # no response (the app failed): still counted
                await pending.take()

    def _still_refused(self, subject: str) -> Decision | None:
        refused = self._refused.get(subject)
        if refused is None:
            return None
        now = self._clock()
        if now >= refused.reset_at:
            del self._refused[subject]
            return None
        return Decision(False, refused.quota, 0, refused.reset_at, now)

    def _remember(self, subject: str, decision: Decision) -> None:
        self._refused[subject] = decision
        self._refused.move_to_end(subject)
        if len(self._refused) > MAX_REMEMBERED_REFUSALS:
            self._refused.popitem(last=False)

    async def _refuse(
        self, scope: Scope, send: Send, decision: Decision, headers: RawHeaders
    ) -> None:
        rule = error_table.rule_for(RateLimitedError(decision.retry_after))
        body: dict[str, Any]
        if scope["path"] == self.graphql_path:
            try:
                media = negotiate(Headers(scope=scope).get("accept"))
            except RequestError:
                media = JSON
            content_type = f"{media}; charset=utf-8"
            extensions = {"code": rule.code, "retryAfter": decision.retry_after}
            body = {"errors": [{"message": "rate limit exceeded", "extensions": extensions}]}
        else:
            content_type = PROBLEM_JSON
            body = problem_document(
                rule,
                "rate limit exceeded",
                instance=scope["path"],
                request_id=request_id_of(scope),
                members={"retryAfter": decision.retry_after},
            )
        payload = orjson.dumps(body)
        raw = [
            *headers,
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": rule.status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def request_rate_limit(
    settings: RateLimitSettings,
    limiter: Limiter,
    identify: Identify,
    graphql_path: str,
    *,
    cost_budget: bool,
    rest_prefix: str | None = None,
) -> Middleware:
    """The middleware entry for the app, with the quotas the settings give.

    `cost_budget`: whether GraphQL operations debit a cost budget (which then takes the
    request's hit in the same round trip), on `graphql_path` and under `rest_prefix`.
    """
    return Middleware(
        RequestRateLimitMiddleware,
        limiter=limiter,
        anonymous=Quota.parse(settings.anonymous),
        user=Quota.parse(settings.user),
        identify=identify,
        graphql_path=graphql_path,
        exempt_paths=settings.exempt_paths,
        defer_graphql=cost_budget,
        deferred_prefixes=() if rest_prefix is None else (rest_prefix,),
        # Refusals remembered until the quota has room, on the limiter's own time.
        clock=limiter.clock,
    )
