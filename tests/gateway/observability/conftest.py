"""An app whose logs, spans and metrics a test can read back.

Logs go through the real production pipeline (JSON lines, redaction) into a buffer;
spans into an in-memory exporter; metrics live on the app's own registry.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from gateway.container import Container, build_container
from gateway.observability import build_observability
from gateway.observability.logging import configure_logging, unconfigure_logging
from gateway.settings import Settings
from persistence import migrate

type Labels = frozenset[tuple[str, str]]


class LogCapture:
    """Every byte the logging pipeline wrote, and its lines parsed."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    @property
    def raw(self) -> bytes:
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.raw.splitlines() if line.strip()]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    capture = LogCapture()
    configure_logging("prod", "debug", output=capture.buffer)
    yield capture
    unconfigure_logging()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
async def container(
    settings: Settings, tracer_provider: TracerProvider
) -> AsyncIterator[Container]:
    await migrate.upgrade(settings.database.url)
    built = build_container(
        settings, build_observability(settings, tracer_provider=tracer_provider)
    )
    yield built
    await built.aclose()


def samples(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of a Prometheus text exposition, by name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> Labels:
    return frozenset(values.items())


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())
