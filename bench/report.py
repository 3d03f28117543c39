"""Results: ratios to the bare route, the markdown table and the JSON document."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

BARE = "bare"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One scenario's figures; None where not measured, `note` says why."""

    scenario: str
    title: str
    requests: int = 0
    duration_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    non_2xx: int = 0
    cpu_ms_per_request: float | None = None
    peak_rss_mb: float | None = None
    sql_per_request: float | None = None
    # Postgres backends' CPU (the run's database) per request.
    pg_cpu_ms_per_request: float | None = None
    # The PostGraphile row answering the same query, to report the ratio to it.
    rival: str | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return self.requests > 0 and self.duration_s > 0

    @property
    def rps(self) -> float | None:
        return self.requests / self.duration_s if self.measured else None


def ratio(value: float | None, base: float | None) -> float | None:
    """value / base, or None when either is missing or the base is zero."""
    if value is None or base is None or base == 0 or math.isnan(base):
        return None
    return value / base


def with_ratios(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    """Each measurement as a JSON-ready dict with rps and its ratios to the bare route."""
    bare = next((m for m in results if m.scenario == BARE), None)
    bare_rps = bare.rps if bare else None
    bare_cpu = bare.cpu_ms_per_request if bare else None
    # The first row of each scenario name: PostGraphile is measured once per shape.
    by_name: dict[str, Measurement] = {}
    for m in results:
        by_name.setdefault(m.scenario, m)
    rows = []
    for m in results:
        row = asdict(m)
        row["rps"] = m.rps
        row["rps_ratio_to_bare"] = ratio(m.rps, bare_rps)
        row["cpu_ratio_to_bare"] = ratio(m.cpu_ms_per_request, bare_cpu)
        rival = by_name.get(m.rival) if m.rival else None
        # Measured in alternated pairs where the run could (bench.run.Pairs): steadier
        # than two rows measured minutes apart.
        paired = m.extra.get("rival_ratio")
        row["rps_ratio_to_rival"] = (
            paired if paired is not None else ratio(m.rps, rival.rps if rival else None)
        )
        rows.append(row)
    return rows


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if value != 0 and abs(value) < 10**-digits:
        return f"{value:.2g}"
    return f"{value:,.{digits}f}"


def _times(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"{value * 100:.2g}%"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The results table (GitHub markdown), one line per scenario."""
    lines = [
        "| scenario | req/s | vs bare | vs PostGraphile | p50 ms | p99 ms | CPU ms/req "
        "| PG CPU ms/req | peak RSS MB | SQL/req | errors | note |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        errors = row["errors"] + row["non_2xx"]
        cells = [
            row["title"],
            _num(row["rps"]),
            _times(row["rps_ratio_to_bare"]),
            _times(row["rps_ratio_to_rival"]) if row["rival"] else "",
            _num(row["p50_ms"], 2),
            _num(row["p99_ms"], 2),
            _num(row["cpu_ms_per_request"], 3),
            _num(row["pg_cpu_ms_per_request"], 3),
            _num(row["peak_rss_mb"], 0),
            _num(row["sql_per_request"], 0),
            str(errors) if row["requests"] else "n/a",
            str(row["note"]).replace("|", "/"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
