"""Counters and histograms for the per-request hot path, updated without a lock.

prometheus_client guards every value with a lock and checks the metric on every call:
the five series a prepared GraphQL request updates (HTTP count and latency, operation
count, latency and SQL statements) cost about a ninth of the whole request. These
series are only ever updated from the event loop's thread, so a plain `+=` is safe;
a scrape from the metrics thread reads each number whole (the GIL), which is as
consistent as prometheus_client's own reads (one lock per value, not per histogram).

They are collectors on the same registry and render exactly as `Counter` and
`Histogram` do (`_total`/`_created`, cumulative `_bucket`s, `_count`, `_sum`), so
dashboards and alerts cannot tell them apart; `labels()` takes values the same way.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# How prometheus_client writes a bucket bound (`+Inf`, `0.005`, `1.0`).
_bound_text: Callable[[float], str] = floatToGoString

DEFAULT_BUCKETS: tuple[float, ...] = Histogram.DEFAULT_BUCKETS
INF = float("inf")


class Increments(Protocol):
    """A counter's series: this module's `CounterChild` or prometheus_client's."""

    def inc(self, amount: float = 1) -> None: ...


class Observes(Protocol):
    """A histogram's series: this module's `HistogramChild` or prometheus_client's."""

    def observe(self, amount: float) -> None: ...


class LabelledCounter(Protocol):
    """`LoopCounter` or prometheus_client's `Counter` (several worker processes)."""

    def labels(self, *values: str) -> Increments: ...


class LabelledHistogram(Protocol):
    """`LoopHistogram` or prometheus_client's `Histogram` (several worker processes)."""

    def labels(self, *values: str) -> Observes: ...


class CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        self.value += amount


class HistogramChild:
    __slots__ = ("bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        # Per bucket, not cumulative: one increment an observation; summed when collected.
        self.counts = [0.0] * len(bounds)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        self.sum += amount
        # The first bound >= amount: the bucket prometheus_client counts it in.
        self.counts[bisect_left(self.bounds, amount)] += 1


class _LabelledSeries[Child: (CounterChild, HistogramChild)](Collector):
    kind = ""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
    ) -> None:
        if not labelnames:
            raise ValueError(f"{name}: loop metrics are labelled")
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Child] = {}
        # Children are made on first use, possibly while the metrics thread collects.
        self._lock = threading.Lock()
        registry.register(self)

    def labels(self, *values: str, **named: str) -> Child:
        """The series of these label values (positional, or all by name)."""
        if named:
            if values:
                raise ValueError("pass label values by position or by name, not both")
            values = tuple(str(named[name]) for name in self.labelnames)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}")
        key = tuple(str(value) for value in values)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                child = self._children.setdefault(key, self._new_child())
        return child

    def _new_child(self) -> Child:
        raise NotImplementedError

    def _series(self) -> list[tuple[dict[str, str], Child]]:
        with self._lock:
            items = list(self._children.items())
        return [(dict(zip(self.labelnames, key, strict=True)), child) for key, child in items]

    def describe(self) -> list[Metric]:
        return [Metric(self.name, self.documentation, self.kind)]


class LoopCounter(_LabelledSeries[CounterChild]):
    """A labelled counter, as `prometheus_client.Counter` renders it."""

    kind = "counter"

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        for labels, child in self._series():
            metric.add_sample(self.name + "_total", labels, child.value)
            metric.add_sample(self.name + "_created", labels, child.created)
        yield metric


class LoopHistogram(_LabelledSeries[HistogramChild]):
    """A labelled histogram, as `prometheus_client.Histogram` renders it."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        registry: CollectorRegistry,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        bounds = tuple(sorted(float(bound) for bound in buckets))
        if not bounds or bounds[-1] != INF:
            bounds = (*bounds, INF)
        if len(bounds) < 2 or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct, at least one")
        self.bounds = bounds
        self._bound_texts = tuple(_bound_text(bound) for bound in bounds)
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self.bounds)

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.documentation, self.kind)
        for labels, child in self._series():
            total = 0.0
            for bound, count in zip(self._bound_texts, list(child.counts), strict=True):
                total += count
                le = {**labels, "le": bound}
                metric.add_sample(self.name + "_bucket", le, total)
            metric.add_sample(self.name + "_count", labels, total)
            if self.bounds[0] >= 0:  # as prometheus_client: no sum when negatives are possible
                metric.add_sample(self.name + "_sum", labels, child.sum)
            metric.add_sample(self.name + "_created", labels, child.created)
        yield metric
