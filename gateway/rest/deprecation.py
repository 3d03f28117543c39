"""`@deprecated` in the schema as HTTP headers: Deprecation (RFC 9745), Sunset (RFC 8594), Link.

The reason text may carry the dates, otherwise the API version's defaults apply:
`@deprecated(reason: "Use `item`. since 2026-11-01, sunset 2027-05-01")`. The first
back-quoted name is the successor; when it is a root field with a route, `Link` points
to that route (rel="successor-version"); `Link` always points to the docs (rel="deprecation").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

_SINCE = re.compile(r"\bsince[:=\s]\s*(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_SUNSET = re.compile(r"\bsunset[:=\s]\s*(\d{4}-\d{2}-\d{2})", re.IGNORECASE)
_SUCCESSOR = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


@dataclass(frozen=True, slots=True)
class DeprecationPolicy:
    """Dates for deprecations whose reason names none."""

    since: date
    sunset_after: timedelta = timedelta(days=180)


@dataclass(frozen=True, slots=True)
class Notice:
    since: date
    sunset: date
    successor: str | None


def notice(reason: str, policy: DeprecationPolicy) -> Notice:
    since_match, sunset_match = _SINCE.search(reason), _SUNSET.search(reason)
    since = date.fromisoformat(since_match.group(1)) if since_match else policy.since
    sunset = (
        date.fromisoformat(sunset_match.group(1)) if sunset_match else since + policy.sunset_after
    )
    successor = _SUCCESSOR.search(reason)
    return Notice(since, sunset, successor.group(1) if successor else None)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def headers(notices: list[Notice], successor_path: str | None, docs: str) -> list[tuple[str, str]]:
    """The headers for a response reading deprecated fields: earliest dates win."""
    since = min(n.since for n in notices)
    sunset = min(n.sunset for n in notices)
    links = [f'<{docs}>; rel="deprecation"; type="text/html"']
    if successor_path:
        links.append(f'<{successor_path}>; rel="successor-version"')
    return [
        ("Deprecation", f"@{int(_midnight(since).timestamp())}"),
        ("Sunset", format_datetime(_midnight(sunset), usegmt=True)),
        *(("Link", link) for link in links),
    ]
