"""Loop metrics render exactly as prometheus_client's Counter and Histogram do."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.observability.loop_metrics import LoopCounter, LoopHistogram

LABELS = ("route", "status")
label_values = st.tuples(
    st.sampled_from(["/graphql", "/api/v1/items", 'a"b\\c']), st.sampled_from(["200", "500"])
)
# Bucket bounds and their neighbours, so every edge (amount == bound) is exercised.
amounts = st.one_of(
    st.sampled_from([0.0, 0.005, 0.01, 0.1, 1.0, 5.0, 10.0, 10.000001, 1e9]),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)
_CREATED = re.compile(rb"^.*_created\{.*$\n?", re.M)


def _rendered(registry: CollectorRegistry) -> bytes:
    # `_created` is the wall-clock time each series was first used: equal only by chance.
    return _CREATED.sub(b"", generate_latest(registry))


@given(st.lists(st.tuples(label_values, amounts), max_size=30))
def test_a_histogram_renders_as_prometheus_client_renders_it(
    observations: list[tuple[tuple[str, str], float]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop = LoopHistogram("latency_seconds", "Latency.", LABELS, registry=ours)
    reference = Histogram("latency_seconds", "Latency.", LABELS, registry=theirs)
    for labels, amount in observations:
        loop.labels(*labels).observe(amount)
        reference.labels(*labels).observe(amount)
    assert _rendered(ours) == _rendered(theirs)


@given(st.lists(st.tuples(label_values, st.integers(0, 5)), max_size=30))
def test_a_counter_renders_as_prometheus_client_renders_it(
    increments: list[tuple[tuple[str, str], int]],
) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    loop = LoopCounter("requests", "Requests.", LABELS, registry=ours)
    reference = Counter("requests", "Requests.", LABELS, registry=theirs)
    for labels, amount in increments:
        loop.labels(*labels).inc(amount)
        reference.labels(*labels).inc(amount)
    assert _rendered(ours) == _rendered(theirs)


def test_custom_buckets_and_created_series_match_too() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    buckets = (0, 1, 2, 5)
    LoopHistogram("sql", "SQL.", ["op"], registry=ours, buckets=buckets).labels(op="q").observe(3)
    Histogram("sql", "SQL.", ["op"], registry=theirs, buckets=buckets).labels(op="q").observe(3)
    assert _rendered(ours) == _rendered(theirs)
    assert b'sql_created{op="q"}' in generate_latest(ours)


def test_labels_are_checked_and_counters_only_go_up() -> None:
    counter = LoopCounter("hits", "Hits.", ["kind"], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("a", "b")
    with pytest.raises(ValueError, match="non-negative"):
        counter.labels("a").inc(-1)
    assert counter.labels(kind="a") is counter.labels("a")


def test_a_name_is_registered_once() -> None:
    registry = CollectorRegistry()
    LoopCounter("hits", "Hits.", ["kind"], registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("hits", "Hits.", ["kind"], registry=registry)
