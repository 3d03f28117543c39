"""An app whose logs, spans and metrics a test can read back.

Logs go through the real production pipeline (JSON lines, redaction) into a buffer;
spans into an in-memory exporter; metrics live on the app's own registry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.container import Container, build_container
from gateway.observability import build_observability
from gateway.observability.logging import configure_logging, unconfigure_logging
from gateway.settings import Settings
from tests import migrated
from tests.gateway.observability.capture import LogCapture


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
    await migrated.upgrade(settings.database.url)
    built = build_container(
        settings, build_observability(settings, tracer_provider=tracer_provider)
    )
    yield built
    await built.aclose()
