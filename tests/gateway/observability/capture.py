"""Reading back what the gateway logged, measured and traced."""

from __future__ import annotations

import io
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.logging import flush_access_lines

type Labels = frozenset[tuple[str, str]]


class LogCapture:
    """Every byte the logging pipeline wrote, and its lines parsed."""

    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    @property
    def raw(self) -> bytes:
        # Access lines wait for the end of their loop turn; a test reads in that turn.
        flush_access_lines()
        return self.buffer.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.raw.splitlines() if line.strip()]


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
