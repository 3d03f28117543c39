"""The client as the edge saw it: its IP address and whether it spoke https.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only from a configured trusted
proxy: anyone else can write them. The chain is read right to left, each trusted hop
skipped; the first untrusted address is the client. Anything malformed falls back to
the peer address: a bad header never fails the request. The edge (`gateway.http.edge`)
stores both in the request's `RequestState` for `client_ip_of` and `is_https`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from starlette.types import Scope

from gateway.observability.request_state import stored_state

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"
# Longer than any real chain of proxies; longer ones are not parsed at all.
MAX_FORWARDED_BYTES = 2048
MAX_HOPS = 32


def _address(raw: str) -> IPAddress | None:
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


# Peers repeat (a load balancer, a client's keep-alive connection) and parsing one and
# writing it back out costs ~2 µs; the forwarded hops are the client's to choose, so
# they are not cached.
@lru_cache(maxsize=1024)
def _peer(raw: str) -> tuple[IPAddress | None, str]:
    address = _address(raw)
    return address, str(address) if address is not None else raw


def _peer_address(raw: str) -> IPAddress | None:
    return _peer(raw)[0]


class TrustedProxies:
    """A set of proxy addresses and networks; validated once, at start-up."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False) for entry in entries
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            return False
        return any(address in network for network in self.networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The client's address: the peer's, or the first untrusted hop of a trusted proxy's chain."""
    peer_address, fallback = _peer(peer) if peer else (None, UNKNOWN)
    if peer_address is None or not forwarded_for or peer_address not in trusted:
        return fallback
    if len(forwarded_for) > MAX_FORWARDED_BYTES:
        return fallback
    hops = forwarded_for.split(",")
    if len(hops) > MAX_HOPS:
        return fallback
    client = peer_address
    for raw in reversed(hops):
        address = _address(raw)
        if address is None:
            # The hop a trusted proxy vouches for is unreadable: trust none of the chain.
            return fallback
        client = address
        if address not in trusted:
            break
    return str(client)


def forwarded_scheme(
    scheme: str, peer: str | None, forwarded_proto: str | None, trusted: TrustedProxies
) -> str:
    """`https` or `http` as the client used it; a trusted proxy may say so in X-Forwarded-Proto."""
    if not forwarded_proto or not peer:
        return scheme
    peer_address = _peer_address(peer)
    if peer_address is None or peer_address not in trusted:
        return scheme
    # The nearest proxy's word counts: it appends last (or overwrites).
    claimed = forwarded_proto[-64:].rsplit(",", 1)[-1].strip().lower()
    return claimed if claimed in ("http", "https") else scheme


def _header(scope: Scope, name: bytes) -> str | None:
    # Repeated headers are one list (RFC 9110, 5.3).
    values = [value.decode("latin-1") for key, value in scope["headers"] if key == name]
    return ",".join(values) if values else None


def client_of(scope: Scope, trusted: TrustedProxies) -> tuple[str, str]:
    """The client's address and scheme (`http` or `https`), as the edge stores them."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    if not trusted.networks:
        # Without trusted proxies the headers cannot matter: not even looked for, and
        # the peer is what `client_ip` and `forwarded_scheme` would give (every request).
        return (_peer(peer)[1] if peer else UNKNOWN), scheme
    forwarded_for = _header(scope, b"x-forwarded-for")
    forwarded_proto = _header(scope, b"x-forwarded-proto")
    return (
        client_ip(peer, forwarded_for, trusted),
        forwarded_scheme(scheme, peer, forwarded_proto, trusted),
    )


def client_ip_of(scope: Scope) -> str:
    """The address the edge stored (the peer's if it did not run)."""
    state = stored_state(scope)
    if state is not None and state.client_ip is not None:
        return state.client_ip
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN


def is_https(scope: Scope) -> bool:
    """Whether the client reached us over https (directly or via a trusted proxy)."""
    state = stored_state(scope)
    if state is not None and state.client_scheme is not None:
        return state.client_scheme == "https"
    return scope.get("scheme") in ("https", "wss")
