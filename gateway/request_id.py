"""Request ids: honour a well-formed incoming X-Request-ID, otherwise make one."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_HEADER_KEY = HEADER.encode()
_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def request_id_of(scope: Scope) -> str:
    """The id the middleware stored for this request (a fresh one if it did not run)."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = uuid.uuid4().hex
    return str(state["request_id"])


class RequestIdMiddleware:
    """Stores the request id in `scope["state"]` and echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = b""
        for name, value in scope["headers"]:
            if name == _HEADER_KEY:
                incoming = value  # the last one, as before
        text = incoming.decode("latin-1")
        request_id = text if _VALID.match(text) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A new list: the one sent may be the response object's own. A header of
                # the same name the route set is replaced (order among names is free).
                headers = [item for item in message.get("headers", ()) if item[0] != _HEADER_KEY]
                headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)
