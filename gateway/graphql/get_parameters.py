"""A GET request's GraphQL parameters, read from its query string once per distinct string.

A persisted query over GET (APQ, a trusted document, a CDN-cacheable read) sends the
same query string on every request for the same operation and variables. Parsing it
(`parse_qsl` and percent-decoding of the JSON in `extensions` and `variables`) was
7.8 µs of a 10 µs read of the parameters, about a tenth of the whole persisted trivial
query's CPU under `make bench` (docs/benchmarks/design-notes.md, "A GET's parameters
parsed once"). The decoded texts are kept, least recently used first out, for query
strings up to `MAX_REMEMBERED_BYTES`; the JSON in them is decoded on every request, so
each request gets values of its own to change.
"""

from __future__ import annotations

import functools
from typing import Final

from starlette.datastructures import QueryParams

# The parameters GraphQL over HTTP reads from a GET's query string, in this order.
NAMES: Final = ("query", "documentId", "operationName", "variables", "extensions")
# Query strings are the client's: how many are kept and how long each may be is bounded
# (a hash-only request is ~150 bytes; a whole document in `query` is parsed each time).
MAX_REMEMBERED: Final = 1024
MAX_REMEMBERED_BYTES: Final = 1024

type GetParameters = tuple[str | None, str | None, str | None, str | None, str | None]


def _parse(query_string: bytes) -> GetParameters:
    # Starlette's parsing, as `Request.query_params` does it: a repeated name's last value.
    params = QueryParams(query_string)
    return (
        params.get("query"),
        params.get("documentId"),
        params.get("operationName"),
        params.get("variables"),
        params.get("extensions"),
    )


_remembered = functools.lru_cache(maxsize=MAX_REMEMBERED)(_parse)


def get_parameters(query_string: bytes) -> GetParameters:
    """`query`, `documentId`, `operationName`, `variables` and `extensions` as texts (None
    where absent), from a raw query string."""
    if len(query_string) > MAX_REMEMBERED_BYTES:
        return _parse(query_string)
    return _remembered(query_string)
