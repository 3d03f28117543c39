"""Request ids at the edge: a well-formed incoming one is echoed, anything else replaced;
one header."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.http.edge import EdgeMiddleware
from gateway.http.request_id import new_request_id, request_id_of
from gateway.observability.metrics import Metrics

# One response object sent for every request: the middleware must not grow its headers.
SHARED = PlainTextResponse("shared")


async def echo(request: Request) -> Response:
    return PlainTextResponse(request_id_of(request.scope))


async def own_id(_: Request) -> Response:
    return PlainTextResponse("own", headers={"X-Request-ID": "set-by-the-route"})


async def shared(_: Request) -> Response:
    return SHARED


def _client() -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/", echo), Route("/own", own_id), Route("/shared", shared)])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=EdgeMiddleware(app, metrics=Metrics())),
        base_url="http://t",
    )


def _ids(response: httpx.Response) -> list[str]:
    return response.headers.get_list("x-request-id")


async def test_a_well_formed_id_is_kept_and_the_last_of_several_counts() -> None:
    async with _client() as client:
        one = await client.get("/", headers={"X-Request-ID": "req-12345678"})
        several = await client.get(
            "/", headers=[("x-request-id", "first-12345678"), ("x-request-id", "last-12345678")]
        )
    assert [(r.text, _ids(r)) for r in (one, several)] == [
        ("req-12345678", ["req-12345678"]),
        ("last-12345678", ["last-12345678"]),
    ]


async def test_a_missing_or_malformed_id_is_replaced_by_a_fresh_one() -> None:
    async with _client() as client:
        responses = [await client.get("/"), await client.get("/", headers={"X-Request-ID": "x"})]
    # One header, the id the request saw: 32 hex digits, a different one each time.
    echoed = [(_ids(r) == [r.text], len(r.text), int(r.text, 16) >= 0) for r in responses]
    assert (echoed, len({r.text for r in responses})) == ([(True, 32, True)] * 2, 2)


async def test_the_request_id_replaces_one_the_route_set() -> None:
    async with _client() as client:
        response = await client.get("/own", headers={"X-Request-ID": "req-12345678"})
    assert _ids(response) == ["req-12345678"]


async def test_a_response_object_sent_twice_is_left_as_it_was() -> None:
    before = list(SHARED.raw_headers)
    async with _client() as client:
        first = await client.get("/shared", headers={"X-Request-ID": "first-12345678"})
        second = await client.get("/shared", headers={"X-Request-ID": "second-12345678"})
    assert (SHARED.raw_headers, _ids(first), _ids(second)) == (
        before,
        ["first-12345678"],
        ["second-12345678"],
    )


def test_fresh_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_request_id() for _ in range(1000)]  # several draws of the pool
    assert (len(set(ids)), {len(one) for one in ids}) == (1000, {32})
    assert all(not one.strip("0123456789abcdef") for one in ids)
