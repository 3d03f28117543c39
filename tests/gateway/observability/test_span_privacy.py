"""No span carries a document, variable values or filter values, whatever the transport.

A marker string travels in a query over GET and POST (inline and as a variable) and in
REST filter parameters; every exported span's name, attributes and events are scanned
for it, with resolver spans on (the most there can be).
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.settings import Settings
from tests.gateway.world import World

MARKER = "Zq9MarkerXy"
INLINE = '{ items(filter: {nameContains: "MARKER"}) { totalCount } }'.replace("MARKER", MARKER)
WITH_VARIABLE = "query($n: String) { items(filter: {nameContains: $n}) { totalCount } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"telemetry": settings.telemetry.model_copy(update={"resolver_spans": True})}
    )


def texts(span: ReadableSpan) -> Iterator[str]:
    yield span.name
    for attributes in [span.attributes or {}, *((e.attributes or {}) for e in span.events)]:
        for key, value in attributes.items():
            values = value if isinstance(value, tuple | list) else [value]
            yield from (f"{key}={item}" for item in values)


async def test_no_span_holds_query_text_variables_or_filter_values(
    client: httpx.AsyncClient, world: World, span_exporter: InMemorySpanExporter
) -> None:
    variables = orjson.dumps({"n": MARKER}).decode()
    responses = [
        await client.get(f"/graphql?query={quote(INLINE)}"),
        await client.get(f"/graphql?query={quote(WITH_VARIABLE)}&variables={quote(variables)}"),
        await client.post("/graphql", json={"query": INLINE}),
        await client.post("/graphql", json={"query": WITH_VARIABLE, "variables": {"n": MARKER}}),
        await client.get(f"/api/v1/items?filter[nameContains]={MARKER}"),
        await client.get(f"/api/v1/items?filter%5BnameContains%5D={MARKER}&first=5"),
    ]
    assert [r.status_code for r in responses] == [200] * 6
    spans = span_exporter.get_finished_spans()
    server_spans = [s for s in spans if s.name.startswith(("GET ", "POST "))]
    assert len(server_spans) == 6  # the HTTP server spans are there, and scanned
    leaks = sorted({text for span in spans for text in texts(span) if MARKER in text})
    assert leaks == []
