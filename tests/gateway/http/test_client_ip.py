"""The client IP: X-Forwarded-For believed only from trusted proxies, garbage never fatal."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from gateway.http.client_ip import (
    MAX_HOPS,
    TrustedProxies,
    client_ip,
    client_of,
    forwarded_scheme,
)
from gateway.http.edge import EdgeMiddleware
from gateway.observability.metrics import Metrics
from gateway.observability.request_state import RequestState, request_state

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])
PEER = "10.1.2.3"

ipv4 = st.ip_addresses(v=4).map(str)
addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_ip("203.0.113.9", "198.51.100.1", PROXIES) == "203.0.113.9"


def test_a_trusted_peer_names_the_client() -> None:
    assert client_ip(PEER, "198.51.100.1", PROXIES) == "198.51.100.1"


def test_the_chain_is_read_right_to_left_skipping_trusted_hops() -> None:
    chain = "1.1.1.1, 198.51.100.1, 10.9.9.9, 192.0.2.7"
    # 1.1.1.1 was written by the client itself: only the first untrusted hop counts.
    assert client_ip(PEER, chain, PROXIES) == "198.51.100.1"


def test_a_chain_of_trusted_hops_only_gives_its_leftmost() -> None:
    assert client_ip(PEER, "10.0.0.1, 10.0.0.2", PROXIES) == "10.0.0.1"


def test_addresses_are_normalised() -> None:
    assert client_ip(PEER, "[2001:DB9::1]", PROXIES) == "2001:db9::1"
    assert client_ip(PEER, "::ffff:198.51.100.4", PROXIES) == "198.51.100.4"


def test_an_unreadable_hop_falls_back_to_the_peer() -> None:
    assert client_ip(PEER, "198.51.100.1, not-an-ip", PROXIES) == PEER
    assert client_ip(PEER, "", PROXIES) == PEER
    assert client_ip(PEER, ",", PROXIES) == PEER
    assert client_ip(PEER, "999.1.1.1", PROXIES) == PEER


def test_a_too_long_chain_falls_back_to_the_peer() -> None:
    chain = ", ".join(["198.51.100.1"] * (MAX_HOPS + 1))
    assert client_ip(PEER, chain, PROXIES) == PEER
    assert client_ip(PEER, "1" * 5000, PROXIES) == PEER


def test_a_missing_peer_is_unknown_or_kept_as_given() -> None:
    assert client_ip(None, "198.51.100.1", PROXIES) == "unknown"
    assert client_ip("testclient", "198.51.100.1", PROXIES) == "testclient"


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip(PEER, "198.51.100.1", TrustedProxies()) == PEER


@given(
    st.lists(addresses, max_size=MAX_HOPS // 2),
    addresses,
    st.lists(
        st.sampled_from(["10.0.0.1", "10.200.3.4", "2001:db8::9", "192.0.2.7"]),
        max_size=MAX_HOPS // 2 - 1,
    ),
)
def test_the_client_is_the_rightmost_untrusted_hop(
    spoofed: list[str], client: str, trusted_hops: list[str]
) -> None:
    if ipaddress.ip_address(client) in PROXIES:
        return
    chain = ", ".join([*spoofed, client, *trusted_hops])
    expected = str(ipaddress.ip_address(client))
    mapped = ipaddress.ip_address(client)
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        expected = str(mapped.ipv4_mapped)
    assert client_ip(PEER, chain, PROXIES) == expected


@given(st.text(max_size=300), st.one_of(ipv4, st.just(PEER)))
def test_any_header_gives_the_peer_or_an_address_in_the_header(header: str, peer: str) -> None:
    result = client_ip(peer, header, PROXIES)
    if peer != PEER:
        # An untrusted peer: its header is never read.
        assert result == peer
    else:
        # Either the peer or a well-formed address the chain held.
        assert result == peer or str(ipaddress.ip_address(result)) == result


@given(st.binary(max_size=200))
def test_raw_header_bytes_never_break_the_client_lookup(raw: bytes) -> None:
    scope: Scope = {
        "type": "http",
        "scheme": "http",
        "client": (PEER, 1234),
        "headers": [(b"x-forwarded-for", raw), (b"x-forwarded-proto", raw)],
    }
    address, scheme = client_of(scope, TrustedProxies(["10.0.0.0/8"]))
    assert scheme in ("http", "https")
    assert address == PEER or str(ipaddress.ip_address(address)) == address


def test_forwarded_proto_is_believed_only_from_a_trusted_proxy() -> None:
    assert forwarded_scheme("http", PEER, "https", PROXIES) == "https"
    assert forwarded_scheme("http", "203.0.113.9", "https", PROXIES) == "http"
    # The nearest proxy appends last: its word counts, not the client's.
    assert forwarded_scheme("http", PEER, "https, http", PROXIES) == "http"
    assert forwarded_scheme("https", PEER, "gopher", PROXIES) == "https"


async def test_the_edge_stores_address_and_scheme() -> None:
    seen: list[RequestState] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(request_state(scope))
        await PlainTextResponse("ok")(scope, receive, send)

    async def receive() -> Message:
        return {"type": "http.request"}

    async def send(message: Message) -> None:
        return None

    scope: Scope = {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": "/",
        "client": (PEER, 1234),
        "headers": [
            (b"x-forwarded-for", b"198.51.100.1"),
            (b"x-forwarded-for", b"10.0.0.5"),
            (b"x-forwarded-proto", b"https"),
            (b"x-request-id", b"req-12345678"),
        ],
    }
    edge = EdgeMiddleware(app, metrics=Metrics(), trusted_proxies=["10.0.0.0/8"])
    await edge(scope, receive, send)
    assert seen == [
        RequestState(request_id="req-12345678", client_ip="198.51.100.1", client_scheme="https")
    ]


def test_without_trusted_proxies_the_peer_and_its_scheme_are_kept() -> None:
    forwarded = [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-proto", b"https")]
    found = [
        client_of({"scheme": scheme, "client": (peer, 1), "headers": forwarded}, TrustedProxies())
        for peer, scheme in (("::ffff:203.0.113.9", "http"), ("203.0.113.9", "https"))
    ]
    assert found == [("203.0.113.9", "http"), ("203.0.113.9", "https")]
