"""The HTTP edge: what every request goes through, as one pure-ASGI layer.

In order: the request id, the client's address and scheme, the incoming trace context,
the access line, the HTTP metrics and the security headers. Each was a middleware of
its own, with a coroutine frame and a `send` wrapper each (measured in
docs/benchmarks/design-notes.md); here one frame identifies the request, one observes
it, and one `send` wrapper edits the response start.

With an SDK tracer provider the OpenTelemetry middleware has to own its server span,
so it stays a layer of its own where it always was: after the request is identified
(its log lines inside the span carry the request id), before it is observed (the access
line carries the span's trace id).

It is also the outermost layer of the app (`gateway.app.GatewayApp`): an exception
that escapes a request before its response started is answered here with Starlette's
own 500 (`ServerErrorMiddleware`'s, sent past this layer's headers as that middleware
sent it) and raised again for the server to log. Starlette's middleware did the same
one layer further out, with a coroutine frame and a `send` wrapper of its own on
every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import context
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.http.client_ip import TrustedProxies, client_of
from gateway.http.request_id import HEADER_KEY, request_id_from
from gateway.http.security_headers import NAMES as SECURITY_NAMES
from gateway.http.security_headers import RawHeaders, SecurityHeaders
from gateway.observability.logging import AccessLog, bind_request_ids, unbind_request_ids
from gateway.observability.metrics import HttpMetrics, Metrics
from gateway.observability.request_state import KEY, RequestState
from gateway.observability.tracing import incoming_trace_context

type Header = tuple[bytes, bytes]


def response_headers(
    sent: Iterable[Header], defaults: RawHeaders, request_id: Header
) -> list[Header]:
    """The headers to send: the route's, the security defaults it did not set, the request id.

    A new list: the one sent may be the response object's own. An X-Request-ID the route
    set is replaced; a security header it set is kept (order among names is free).
    """
    headers = list(sent)
    present = {item[0] for item in headers}
    if HEADER_KEY in present:
        headers = [item for item in headers if item[0] != HEADER_KEY]
    if present.isdisjoint(SECURITY_NAMES):
        headers += defaults  # the usual response sets none of them: all, as they are
    else:
        # Comprehensions, not a generator: inlined since Python 3.12, no frame per response.
        headers += [item for item in defaults if item[0] not in present]
    headers.append(request_id)
    return headers


class EdgeMiddleware:
    """Identifies, traces, logs, counts and secures each HTTP and WebSocket request.

    Stores the request id and the client's address and scheme in the request's
    `RequestState` (read by `request_id_of`, `client_ip_of`, `is_https`). WebSockets get
    those and the ids on their log lines, but no access line, metrics or headers;
    lifespan passes through.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        trusted_proxies: Iterable[str] = (),
        hsts_seconds: int = 63_072_000,
        server_spans: Callable[[ASGIApp], ASGIApp] | None = None,
    ) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)
        self.security = SecurityHeaders(hsts_seconds)
        self.access_log = AccessLog()
        self.http_metrics = HttpMetrics(metrics)
        self.records_spans = server_spans is not None
        # The observing half, inside the OpenTelemetry server span when spans are recorded.
        self._observed: ASGIApp = (
            self._observe if server_spans is None else server_spans(self._observe)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        address, scheme = client_of(scope, self.trusted)
        state = RequestState(request_id_from(scope["headers"]), address, scheme)
        stored: dict[str, Any] = scope.setdefault("state", {})
        stored[KEY] = state
        if self.records_spans:
            # With an SDK provider the OpenTelemetry layer extracts the incoming context itself.
            await self._observed(scope, receive, send)
            return
        incoming = incoming_trace_context(scope["headers"])
        if incoming is None:
            if kind != "http":
                await self._observe(scope, receive, send)
                return
            # `_observe` written out for the usual request: a coroutine frame fewer.
            ids = bind_request_ids(str(state.request_id))
            try:
                await self._answer(scope, receive, send, state)
            finally:
                unbind_request_ids(ids)
            return
        token = context.attach(incoming)
        try:
            await self._observed(scope, receive, send)
        finally:
            context.detach(token)

    async def _observe(self, scope: Scope, receive: Receive, send: Send) -> None:
        state: RequestState = scope["state"][KEY]  # stored by __call__
        token = bind_request_ids(str(state.request_id))
        try:
            if scope["type"] == "http":
                await self._answer(scope, receive, send, state)
            else:
                await self.app(scope, receive, send)
        finally:
            unbind_request_ids(token)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, state: RequestState
    ) -> None:
        # A filtered access line costs nothing to drop, but its fields would still be
        # paid for on every request: the level is asked once, before.
        logged = self.access_log.enabled()
        defaults = self.security.for_scheme(state.client_scheme)
        request_id = (HEADER_KEY, str(state.request_id).encode("latin-1"))
        status = 0  # no response started yet
        started = time.perf_counter()

        async def send_at_edge(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = response_headers(
                    message.get("headers", ()), defaults, request_id
                )
            await send(message)

        try:
            await self.app(scope, receive, send_at_edge)
        except Exception:
            if not status:
                await internal_error(scope, receive, send)
            raise
        finally:
            seconds = time.perf_counter() - started
            # A request that never started its response is counted as a 500.
            status = status or 500
            self.http_metrics.record(scope, status, seconds)
            if logged:
                self.access_log.write(scope, status, seconds)


async def internal_error(scope: Scope, receive: Receive, send: Send) -> None:
    """What Starlette's `ServerErrorMiddleware` answers an unexpected exception with
    (without a debug page or a handler of its own, as the gateway's app has none)."""
    await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
