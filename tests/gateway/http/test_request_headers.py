"""`header_map`: a request's headers decoded once, first value of a repeated name."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from gateway.http.request_headers import header_map

names = st.sampled_from([b"accept", b"authorization", b"content-type", b"x-request-id"])
values = st.binary(max_size=20).map(lambda raw: raw.decode("latin-1").encode("latin-1"))


@given(st.lists(st.tuples(names, values), max_size=8))
def test_it_answers_as_starlette_headers_do(raw: list[tuple[bytes, bytes]]) -> None:
    scope: dict[str, Any] = {"type": "http", "headers": raw}
    expected = Headers(raw=raw)
    mapped = header_map(scope)
    for name in ("accept", "authorization", "content-type", "x-request-id"):
        assert mapped.get(name) == expected.get(name)


def test_it_is_decoded_once_per_request() -> None:
    scope: dict[str, Any] = {"type": "http", "headers": [(b"accept", b"*/*")]}
    assert header_map(scope) is header_map(scope)
