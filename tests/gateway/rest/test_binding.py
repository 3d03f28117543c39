"""Binding a request to an operation's variables: the path, the query string and what
they must say, with and without a query string (each has its own way through `bind`)."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from starlette.requests import Request

from gateway.rest.endpoint import bind
from gateway.rest.operation import OperationSpec, RestOperation, compile_operation
from gateway.rest.problems import Problem
from gateway.rest.types import SchemaBuilder


@strawberry.type
class Query:
    @strawberry.field
    def by_id(self, id: strawberry.ID) -> str:
        return id

    @strawberry.field
    def by_name(self, name: str) -> str:
        return name

    @strawberry.field
    def by_number(self, n: int) -> int:
        return n

    @strawberry.field
    def search(self, id: strawberry.ID, term: str, page: int, size: int | None = None) -> str:
        return term


SCHEMA = strawberry.Schema(query=Query)._schema


def _compiled(path: str, document: str) -> RestOperation:
    return compile_operation(SCHEMA, OperationSpec("GET", path, document), SchemaBuilder())


BY_ID = _compiled("/api/v1/things/{id}", "query($id: ID!) { byId(id: $id) }")
BY_NAME = _compiled("/api/v1/names/{name}", "query($name: String!) { byName(name: $name) }")
BY_NUMBER = _compiled("/api/v1/numbers/{n}", "query($n: Int!) { byNumber(n: $n) }")
SEARCH = _compiled(
    "/api/v1/things/{id}/search",
    "query($id: ID!, $term: String!, $page: Int!, $size: Int) "
    "{ search(id: $id, term: $term, page: $page, size: $size) }",
)


def _request(params: dict[str, str], query: bytes = b"") -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "query_string": query,
        "headers": [],
        "path_params": params,
    }
    return Request(scope)


async def _problems(operation: RestOperation, request: Request) -> list[dict[str, str]]:
    with pytest.raises(Problem) as raised:
        await bind(operation, request, 1_000)
    problems: list[dict[str, str]] = raised.value.members["problems"]
    return problems


def test_only_id_and_string_path_parameters_are_taken_as_they_are() -> None:
    assert BY_ID.path_as_is
    assert BY_NAME.path_as_is
    assert SEARCH.path_as_is
    assert not BY_NUMBER.path_as_is
    assert SEARCH.required_query == ("term", "page")
    assert SEARCH.query_names == {"term", "page", "size"}


async def test_id_and_string_segments_are_the_variables_as_sent() -> None:
    assert await bind(BY_ID, _request({"id": "SXRlbTox"}), 1_000) == {"id": "SXRlbTox"}
    assert await bind(BY_NAME, _request({"name": "a b=c"}), 1_000) == {"name": "a b=c"}


async def test_an_int_segment_is_parsed_and_checked() -> None:
    assert await bind(BY_NUMBER, _request({"n": "42"}), 1_000) == {"n": 42}
    problems = await _problems(BY_NUMBER, _request({"n": "forty-two"}))
    assert problems == [{"field": "n", "message": "must be an integer"}]
    problems = await _problems(BY_NUMBER, _request({"n": "9999999999"}))
    assert problems == [{"field": "n", "message": "must be a 32-bit integer"}]


@pytest.mark.parametrize("query", [b"", b"size=3"], ids=["no query string", "some"])
async def test_required_query_parameters_are_reported_with_or_without_a_query_string(
    query: bytes,
) -> None:
    problems = await _problems(SEARCH, _request({"id": "x"}, query))
    assert problems == [
        {"field": "term", "message": "is required"},
        {"field": "page", "message": "is required"},
    ]


async def test_a_full_query_string_binds_every_parameter() -> None:
    bound = await bind(SEARCH, _request({"id": "x"}, b"term=a&page=2"), 1_000)
    assert bound == {"id": "x", "term": "a", "page": 2}
    with pytest.raises(Problem) as raised:
        await bind(SEARCH, _request({"id": "x"}, b"term=a&page=2&colour=red"), 1_000)
    assert raised.value.detail == "unknown query parameter(s): colour"


@strawberry.type
class Narrower:
    @strawberry.field
    def by_name(self, name: str) -> str:
        return name


def test_a_document_valid_against_one_schema_is_still_checked_against_another() -> None:
    # Found valid once against SCHEMA (BY_ID above), as another gateway's build would.
    spec = OperationSpec("GET", "/api/v1/things/{id}", "query($id: ID!) { byId(id: $id) }")
    compile_operation(strawberry.Schema(query=Query)._schema, spec, SchemaBuilder())
    with pytest.raises(ValueError, match="Cannot query field 'byId' on type 'Narrower'"):
        compile_operation(strawberry.Schema(query=Narrower)._schema, spec, SchemaBuilder())
