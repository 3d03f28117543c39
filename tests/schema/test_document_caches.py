"""The parser and validation caches: on by default, off with a size of 0."""

from __future__ import annotations

import pytest
from strawberry.extensions import ValidationCache

from schema import SchemaOptions, build_schema
from schema.parser_cache import ReportingParserCache


def _installed(options: SchemaOptions) -> set[type]:
    schema = build_schema(options)
    return {type(factory()) for factory in schema.extensions}


@pytest.mark.parametrize(("size", "cached"), [(1_000, True), (1, True), (0, False)])
def test_the_caches_follow_the_configured_size(size: int, cached: bool) -> None:
    installed = _installed(SchemaOptions(cache_size=size))
    assert (ReportingParserCache in installed) is cached
    assert (ValidationCache in installed) is cached


async def test_without_caches_a_document_is_still_answered() -> None:
    schema = build_schema(SchemaOptions(cache_size=0))
    for _ in range(2):
        result = await schema.execute("{ __typename }")
        assert result.errors is None
        assert result.data == {"__typename": "Query"}
