"""A GET's GraphQL parameters are Starlette's reading of its query string, parsed once per
distinct string (bounded), with fresh JSON values for every request."""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams
from starlette.requests import Request

from gateway.graphql import get_parameters as module
from gateway.graphql.endpoint import GraphQLHTTPEndpoint
from gateway.graphql.get_parameters import MAX_REMEMBERED_BYTES, NAMES, get_parameters

names = st.sampled_from([*NAMES, "other", "Query", "query[]", ""])
texts = st.text(max_size=40)
pairs = st.lists(st.tuples(names, texts), max_size=8)


@given(pairs=pairs, raw=st.binary(max_size=60))
def test_the_parameters_are_starlettes_reading_of_the_query_string(
    pairs: list[tuple[str, str]], raw: bytes
) -> None:
    for query_string in (urllib.parse.urlencode(pairs).encode(), raw):
        expected = QueryParams(query_string)
        assert get_parameters(query_string) == tuple(expected.get(name) for name in NAMES)


def test_a_query_string_is_parsed_once_and_a_long_one_every_time() -> None:
    module._remembered.cache_clear()
    short = urllib.parse.urlencode({"extensions": '{"persistedQuery": {"version": 1}}'}).encode()
    assert get_parameters(short) == get_parameters(short)
    assert module._remembered.cache_info()[:2] == (1, 1)  # (hits, misses)

    long = urllib.parse.urlencode({"query": "{ " + "a " * MAX_REMEMBERED_BYTES + "}"}).encode()
    assert get_parameters(long)[0] == "{ " + "a " * MAX_REMEMBERED_BYTES + "}"
    assert module._remembered.cache_info().currsize == 1


def test_how_many_query_strings_are_kept_is_bounded() -> None:
    module._remembered.cache_clear()
    for n in range(module.MAX_REMEMBERED + 10):
        get_parameters(f"query=q{n}".encode())
    assert module._remembered.cache_info().currsize == module.MAX_REMEMBERED


async def test_each_request_decodes_its_own_variables_and_extensions() -> None:
    endpoint = GraphQLHTTPEndpoint.__new__(GraphQLHTTPEndpoint)
    variables = {"id": "1", "filter": {"tags": ["a"]}}
    query_string = urllib.parse.urlencode(
        {"query": "query($id: ID!) { item(id: $id) { id } }", "variables": orjson.dumps(variables)}
    ).encode()
    scope: Any = {"type": "http", "method": "GET", "query_string": query_string, "headers": []}

    first = await endpoint._read(Request(scope), "GET", {})
    assert isinstance(first, dict)
    first["variables"]["filter"]["tags"].append("changed by the first request")
    second = await endpoint._read(Request(scope), "GET", {})
    assert isinstance(second, dict)
    assert second["variables"] == variables
