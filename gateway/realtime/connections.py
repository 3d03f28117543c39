"""WebSocket connections of this process: limits, session watchdog, closing, draining.

Close codes the gateway chooses (Strawberry produces the protocol's own 44xx codes):

- 1001 Going Away: the server is shutting down; reconnect (to another replica).
- 1008 Policy Violation: the user already has `max_connections_per_user` sockets here.
- 1013 Try Again Later: a subscriber fell `queue_size` events behind and was dropped;
  reconnect and resynchronise (events were missed).
- 4498 Session Ended: the access token expired or was revoked (logout, logoutAll,
  password or role change); refresh or log in again, then reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from starlette.websockets import WebSocket

from domain.errors import UnauthenticatedError
from domain.principals import Principal
from domain.tokens import TokenClaims
from resolvers.realtime import EventStream

log = structlog.get_logger("gateway.realtime")

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_SESSION_ENDED = 4498

type TokenCheck = Callable[[str], Awaitable[object]]
type Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConnectionLimitError(Exception):
    """The user has too many open sockets in this process."""


class Connection:
    """One WebSocket: who is on it, its subscriptions' streams, and how to close it."""

    def __init__(self, hub: ConnectionHub, websocket: WebSocket) -> None:
        self._hub = hub
        self.websocket = websocket
        self.principal = Principal.anonymous()
        self.claims: TokenClaims | None = None
        self._token: str | None = None
        # Set by the protocol handler: cancels its operations before the socket closes.
        self.stop_operations: Callable[[], Awaitable[None]] | None = None
        # A close code to use instead of the protocol's generic rejection (4403).
        self.rejection: tuple[int, str] | None = None
        self._streams: weakref.WeakSet[EventStream] = weakref.WeakSet()
        self._closed = asyncio.Event()
        self._closing = False
        self._watchdog: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> int | None:
        return self.principal.user_id

    # -- resolvers.subscriptions.Session ------------------------------------------

    def permits_delivery(self) -> bool:
        if self._closing:
            return False
        return self.claims is None or self._hub.now() < self.claims.expires_at

    def drop_slow_consumer(self) -> None:
        log.warning("dropping a slow subscriber", user_id=self.user_id)
        self.close_soon(CLOSE_TRY_AGAIN_LATER, "subscriber fell behind; reconnect")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def track(self, stream: EventStream) -> None:
        self._streams.add(stream)

    # -- lifecycle -----------------------------------------------------------------

    def admit(self, principal: Principal, claims: TokenClaims | None, token: str | None) -> None:
        """Count the connection for its user and watch its token; raises ConnectionLimitError."""
        self._hub.register(self, principal.user_id)
        self.principal, self.claims, self._token = principal, claims, token
        if claims is not None and token is not None:
            self._watchdog = asyncio.create_task(self._watch(claims, token), name="ws-session")

    def close_soon(self, code: int, reason: str) -> None:
        """Close from any task (including an operation's own) without waiting."""
        if self._closing:
            return
        self._closing = True
        self._closer = asyncio.create_task(self._close(code, reason), name="ws-close")

    async def close(self, code: int, reason: str) -> None:
        """Cancel the operations, then close the socket with `code`."""
        if self._closing:
            if self._closer is not None and self._closer is not asyncio.current_task():
                await asyncio.shield(self._closer)
            return
        self._closing = True
        await self._close(code, reason)

    async def _close(self, code: int, reason: str) -> None:
        try:
            if self.stop_operations is not None:
                await self.stop_operations()
            # Already closed by the client or the protocol: nothing to send.
            with contextlib.suppress(RuntimeError, OSError):
                await self.websocket.close(code=code, reason=reason)
        finally:
            self._closed.set()

    def release(self) -> None:
        """The socket is gone: stop the watchdog, end the streams, stop counting it."""
        self._closing = True
        self._closed.set()
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        for stream in list(self._streams):
            stream.close()
        self._hub.unregister(self)

    async def _watch(self, claims: TokenClaims, token: str) -> None:
        # Expiry is exact (we sleep until it); revocation is polled every interval.
        while True:
            remaining = (claims.expires_at - self._hub.now()).total_seconds()
            if remaining <= 0:
                self.close_soon(CLOSE_SESSION_ENDED, "token expired")
                return
            await asyncio.sleep(min(self._hub.check_seconds, remaining))
            if self._hub.now() >= claims.expires_at:
                continue
            try:
                await self._hub.check_token(token)
            except UnauthenticatedError:
                self.close_soon(CLOSE_SESSION_ENDED, "token revoked")
                return
            except Exception:  # a Redis blip must not end every session
                log.warning("could not check a socket's token; will retry", exc_info=True)


class ConnectionHub:
    """Every open socket of this process, counted per user; drained on shutdown."""

    def __init__(
        self,
        *,
        check_token: TokenCheck,
        max_connections_per_user: int,
        check_seconds: float,
        now: Clock = _utcnow,
    ) -> None:
        self.check_token = check_token
        self.max_per_user = max_connections_per_user
        self.check_seconds = check_seconds
        self.now = now
        self.accepting = True
        self._connections: set[Connection] = set()
        self._per_user: dict[int, set[Connection]] = {}

    @property
    def open_count(self) -> int:
        return len(self._connections)

    def connections_of(self, user_id: int) -> int:
        return len(self._per_user.get(user_id, ()))

    def open(self, websocket: WebSocket) -> Connection:
        connection = Connection(self, websocket)
        self._connections.add(connection)
        return connection

    def register(self, connection: Connection, user_id: int | None) -> None:
        if user_id is None:
            return
        mine = self._per_user.setdefault(user_id, set())
        if connection not in mine and len(mine) >= self.max_per_user:
            raise ConnectionLimitError(f"at most {self.max_per_user} connections per user")
        mine.add(connection)

    def unregister(self, connection: Connection) -> None:
        self._connections.discard(connection)
        user_id = connection.user_id
        if user_id is not None and user_id in self._per_user:
            self._per_user[user_id].discard(connection)
            if not self._per_user[user_id]:
                del self._per_user[user_id]

    async def drain(self, reason: str = "server shutting down") -> None:
        """Refuse new sockets and close open ones with 1001 so clients reconnect elsewhere."""
        self.accepting = False
        connections = list(self._connections)
        if connections:
            log.info("closing websockets for shutdown", count=len(connections))
        await asyncio.gather(
            *(c.close(CLOSE_GOING_AWAY, reason) for c in connections), return_exceptions=True
        )
