"""Request rate limits over HTTP: per user when authenticated, per client IP otherwise.

Every limited response carries the IETF draft headers `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy`; a refused
request answers 429 with `Retry-After`, as a GraphQL error (`RATE_LIMITED`) on the
GraphQL path and as problem+json elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.errors import RateLimitedError
from gateway.client_ip import client_ip_of
from gateway.graphql_http import JSON, RequestError, negotiate
from gateway.rate_limit import Decision, Limiter, Quota
from gateway.settings import RateLimitSettings
from schema import errors as error_table

# The user id a request's credentials prove; None when anonymous or not proven.
type Identify = Callable[[Scope], Awaitable[int | None]]

SUBJECT_STATE = "rate_limit_subject"


def subject_key(user_id: int | None, client_ip: str) -> str:
    """The key a caller's requests and cost are counted under."""
    return f"user:{user_id}" if user_id is not None else f"ip:{client_ip}"


def rate_limit_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "RateLimit-Limit": str(decision.quota.amount),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after),
        "RateLimit-Policy": decision.quota.policy,
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


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
    ) -> None:
        self.app = app
        self.limiter, self.anonymous, self.user = limiter, anonymous, user
        self.identify = identify
        self.graphql_path = graphql_path
        self.exempt = frozenset(exempt_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        user_id = await self.identify(scope)
        subject = subject_key(user_id, client_ip_of(scope))
        scope.setdefault("state", {})[SUBJECT_STATE] = subject
        quota = self.user if user_id is not None else self.anonymous
        decision = await self.limiter.hit(quota, "requests", subject)
        headers = rate_limit_headers(decision)
        if not decision.allowed:
            await self._refuse(scope, send, decision, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(
        self, scope: Scope, send: Send, decision: Decision, headers: dict[str, str]
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
            content_type = "application/problem+json"
            body = {
                "type": rule.problem_type,
                "title": rule.title,
                "status": rule.status,
                "detail": "rate limit exceeded",
                "retryAfter": decision.retry_after,
            }
        payload = orjson.dumps(body)
        raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        raw += [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": rule.status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


def request_rate_limit(
    settings: RateLimitSettings, limiter: Limiter, identify: Identify, graphql_path: str
) -> Middleware:
    """The middleware entry for the app, with the quotas the settings give."""
    return Middleware(
        RequestRateLimitMiddleware,
        limiter=limiter,
        anonymous=Quota.parse(settings.anonymous),
        user=Quota.parse(settings.user),
        identify=identify,
        graphql_path=graphql_path,
        exempt_paths=settings.exempt_paths,
    )
