"""The bench's arithmetic and formatting, without any load."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest

from bench.load import Request, parse_wrk_output, percentile, wrk_script
from bench.png import bar_chart
from bench.report import Measurement, markdown_table, ratio, with_ratios
from bench.run import Pairs, fanout_note, knee_note, with_pairs


def results() -> list[Measurement]:
    return [
        Measurement("bare", "bare route", requests=10_000, duration_s=1.0, p50_ms=2.0,
                    p99_ms=4.0, cpu_ms_per_request=0.1, peak_rss_mb=40.0, sql_per_request=0),
        Measurement("trivial", "trivial", requests=2_500, duration_s=1.0, p50_ms=10.0,
                    p99_ms=20.0, cpu_ms_per_request=0.4, peak_rss_mb=100.0, sql_per_request=0,
                    non_2xx=3),
        Measurement("nested", "nested", requests=12, duration_s=2.0, p50_ms=500.0,
                    p99_ms=900.0, cpu_ms_per_request=150.0, peak_rss_mb=120.0,
                    sql_per_request=4, pg_cpu_ms_per_request=1.5, rival="rival"),
        Measurement("rest", "rest", note="n/a: no /api/v1/items"),
        Measurement("rival", "rival", requests=3, duration_s=1.0, p50_ms=900.0, p99_ms=990.0,
                    cpu_ms_per_request=5.0, peak_rss_mb=200.0, pg_cpu_ms_per_request=3.0),
    ]  # fmt: skip


def test_each_scenario_is_a_ratio_of_the_bare_route() -> None:
    rows = with_ratios(results())
    assert [(r["scenario"], r["rps"], r["rps_ratio_to_bare"]) for r in rows] == [
        ("bare", 10_000.0, 1.0),
        ("trivial", 2_500.0, 0.25),
        ("nested", 6.0, 0.0006),
        ("rest", None, None),
        ("rival", 3.0, 0.0003),
    ]
    assert [r["rps_ratio_to_rival"] for r in rows] == [None, None, 2.0, None, None]
    assert rows[1]["cpu_ratio_to_bare"] == pytest.approx(4.0)
    assert rows[2]["cpu_ratio_to_bare"] == pytest.approx(1500.0)


def test_a_missing_or_zero_base_gives_no_ratio() -> None:
    assert (ratio(1.0, None), ratio(None, 1.0), ratio(1.0, 0.0), ratio(3.0, 2.0)) == (
        None,
        None,
        None,
        1.5,
    )


def test_the_markdown_table_has_a_row_per_scenario() -> None:
    table = markdown_table(with_ratios(results()))
    assert table.splitlines()[2:] == [
        "| bare route | 10,000.0 | 1.00x |  | 2.00 | 4.00 | 0.100 | n/a | 40 | 0 | 0 |  |",
        "| trivial | 2,500.0 | 0.25x |  | 10.00 | 20.00 | 0.400 | n/a | 100 | 0 | 3 |  |",
        "| nested | 6.0 | 0.06% | 2.00x | 500.00 | 900.00 | 150.000 | 1.500 | 120 | 4 | 0 |  |",
        "| rest | n/a | n/a |  | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a: no /api/v1/items |",
        "| rival | 3.0 | 0.03% |  | 900.00 | 990.00 | 5.000 | 3.000 | 200 | n/a | 0 |  |",
    ]


def test_wrks_summary_line_is_parsed_into_milliseconds() -> None:
    output = (
        "Running 2s test\n"
        'BENCH_RESULT {"requests": 500, "duration_us": 2000000, "p50_us": 1500, '
        '"p99_us": 9000, "errors": 1, "non_2xx": 2}\n'
    )
    result = parse_wrk_output(output)
    assert (result.requests, result.duration_s, result.p50_ms, result.p99_ms) == (
        500,
        2.0,
        1.5,
        9.0,
    )
    assert (result.errors, result.non_2xx) == (1, 2)
    with pytest.raises(ValueError, match="no result line"):
        parse_wrk_output("connection refused")


def test_the_lua_script_stops_each_thread_after_its_share_and_rotates_bodies() -> None:
    script = wrk_script(
        Request("POST", "/graphql", {"x-debug-user": "7"}, b"{}", (b'{"a":1}', b'{"a":2}')),
        max_requests_per_thread=150,
    )
    assert 'wrk.headers["x-debug-user"] = "7"' in script
    assert "if count >= 150 then wrk.thread:stop() end" in script
    assert 'local bodies = {"{\\"a\\":1}", "{\\"a\\":2}"}' in script


def test_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile([], 0.5)) == (
        50.0,
        99.0,
        None,
    )


def test_the_chart_is_a_valid_png_with_one_row_per_ratio() -> None:
    png = bar_chart([1.0, 0.25, 0.0006, None])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (900, 20 * 2 + 28 * 4)
    idat_length = struct.unpack(">I", png[33:37])[0]
    raw = zlib.decompress(png[41 : 41 + idat_length])
    assert len(raw) == height * (1 + width * 3)


def test_the_fanout_row_says_latency_and_delivery_per_subscriber_count() -> None:
    figures = {
        "scenarios": [
            {
                "subscribers": 100,
                "latency_ms": {"p50": 27.5, "p99": 181.7},
                "memory_per_connection_kib": 123.6,
                "deliveries": 5000,
                "deliveries_expected": 5000,
            },
            {
                "subscribers": 1000,
                "latency_ms": {"p50": 702.5, "p99": 1565.2},
                "memory_per_connection_kib": 79.2,
                "deliveries": 49_999,
                "deliveries_expected": 50_000,
            },
        ]
    }
    assert fanout_note(figures) == (
        "100 subscribers: p50 27.5 ms, p99 181.7 ms, 123.6 KiB each, every event delivered; "
        "1000 subscribers: p50 702.5 ms, p99 1565.2 ms, 79.2 KiB each, events lost"
    )
    assert fanout_note({}) == "see results.json"


def test_a_paired_ratio_is_the_median_of_its_rounds_and_replaces_the_rows_ratio() -> None:
    pairs = {"nested": Pairs(((100.0, 250.0), (120.0, 240.0), (80.0, 320.0)))}
    assert pairs["nested"].ratio == 2.5  # 2.5, 2.0, 4.0
    variant = replace(results()[2], title="nested [gc_off]")
    rows = with_ratios(with_pairs([*results(), variant], pairs))
    nested, rival, later = rows[2], rows[4], rows[5]
    assert (nested["rps_ratio_to_rival"], nested["extra"]["pairs"]) == (
        2.5,
        ((100.0, 250.0), (120.0, 240.0), (80.0, 320.0)),
    )
    assert nested["note"] == "vs PostGraphile: median of 3 alternated pairs (2.50x, 2.00x, 4.00x)"
    # A variant's row of the same scenario keeps the ratio of the two rows.
    assert (later["rps_ratio_to_rival"], later["note"]) == (2.0, "")
    assert rival["rps_ratio_to_rival"] is None


def test_the_knee_note_gives_the_spread_at_the_knee_and_at_one_connection() -> None:
    one = {"connections": 1, "p50_ms": 2.5, "p99_ms": 4.7}
    knee = {"connections": 8, "p50_ms": 10.0, "p99_ms": 22.8}
    assert knee_note(knee, one) == (
        "8 connections; p99/p50 2.28 (1.88 at 1 connection); curve in results.json"
    )
    assert knee_note(one, one) == "1 connection; p99/p50 1.88; curve in results.json"
    assert knee_note({**knee, "p99_ms": None}, one).startswith("8 connections; p99/p50 n/a (")
