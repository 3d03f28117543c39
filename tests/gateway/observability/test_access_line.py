"""The access line written directly in prod is the line structlog's chain would write."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from gateway.observability.logging import (
    _UTC_Z,
    ACCESS_FIELDS,
    REDACTED,
    AccessLog,
    _redacted,
    _redacted_id,
    bind_request_ids,
    configure_logging,
    redact_text,
    unbind_request_ids,
    unconfigure_logging,
)
from gateway.observability.request_state import KEY, RequestState

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
# Text a client controls, with the things redaction exists for mixed in.
hostile = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            f"/verify/{JWT}",
            "/users/ann@example.com/orders",
            "/x?password=hunter2",
            "Bearer abc.def",
            "token=abc",
            "/api/v1/items/SXRlbTox",
        ]
    ),
)


def scope_for(
    method: str, path: str, client: str | None, operations: list[tuple[str | None, str]]
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "client": (client, 5000) if client is not None else None,
        "state": {KEY: RequestState(principal_id=7, graphql_operations=operations)},
    }


def lines_of(scope: dict[str, Any], *, direct: bool, bound: dict[str, Any]) -> list[dict[str, Any]]:
    output = io.BytesIO()
    configure_logging("prod", "info", output=output)
    access = AccessLog(direct=direct)
    token = bind_request_ids("req-1")
    tokens = structlog.contextvars.bind_contextvars(**bound)
    try:
        assert access.enabled()
        access.write(scope, 200, 0.01234)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
        unbind_request_ids(token)
        unconfigure_logging()
    lines = [orjson.loads(raw) for raw in output.getvalue().splitlines()]
    for line in lines:
        # Both are ISO-8601 UTC instants written by the same TimeStamper.
        assert line.pop("timestamp").endswith("Z")
    return lines


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PASSWORD", "TOKEN"]),
    path=hostile,
    client=st.one_of(st.none(), hostile),
    name=st.one_of(st.none(), hostile),
    bound=st.dictionaries(
        st.sampled_from(["tenant", "password", "api_key", "note"]), hostile, max_size=2
    ),
)
def test_the_direct_line_is_the_chains_line(
    method: str, path: str, client: str | None, name: str | None, bound: dict[str, Any]
) -> None:
    scope = scope_for(method, path, client, [(name, "query")])
    direct = lines_of(scope, direct=True, bound=bound)
    assert direct == lines_of(scope, direct=False, bound=bound)
    assert len(direct) == 1
    assert not {"password", "api_key"} & set(direct[0])


@settings(max_examples=50, deadline=None)
@given(
    operations=st.lists(
        st.tuples(st.one_of(st.none(), hostile), st.sampled_from(["query", "mutation"])),
        max_size=3,
    )
)
def test_a_batchs_direct_line_is_the_chains_line(operations: list[tuple[str | None, str]]) -> None:
    scope = scope_for("POST", "/graphql", "127.0.0.1", operations)
    assert lines_of(scope, direct=True, bound={}) == lines_of(scope, direct=False, bound={})


@given(st.one_of(st.text(alphabet="0123456789abcdef"), st.text(max_size=40), hostile))
def test_request_ids_and_remembered_texts_are_redacted_as_any_text(text: str) -> None:
    # The second `_redacted` call answers from what the first remembered.
    assert [_redacted_id(text), _redacted(text), _redacted(text)] == [redact_text(text)] * 3


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_direct_lines_timestamp_is_the_timestampers_text(instant: datetime) -> None:
    # The chain's TimeStamper writes isoformat() with Z; the direct line has orjson write
    # the instant (microseconds only when not zero, in both).
    stamped = instant.isoformat().replace("+00:00", "Z")
    assert orjson.dumps(instant, option=_UTC_Z) == orjson.dumps(stamped)


def test_client_text_is_redacted_by_field_and_the_rest_kept() -> None:
    scope = scope_for("GET", f"/verify/{JWT}", "ann@example.com", [("Ping", "query")])
    [line] = lines_of(scope, direct=True, bound={"password": "hunter2"})
    assert line == {
        "event": "request",
        "method": "GET",
        "path": f"/verify/{REDACTED}",
        "status": 200,
        "duration_ms": 12.34,
        "client_ip": "a***@example.com",
        "principal_id": 7,
        "operation_name": "Ping",
        "operation_type": "query",
        "request_id": "req-1",
        "trace_id": None,
        "level": "info",
        "logger": "gateway.access",
    }


def test_every_field_of_the_line_has_a_redaction_rule() -> None:
    scope = scope_for("GET", "/", "127.0.0.1", [])
    with capture_logs() as captured:
        access = AccessLog()
        assert access.enabled()
        access.write(scope, 204, 0.001)
    [line] = captured
    assert set(line) - {"event", "log_level"} == set(ACCESS_FIELDS)


def test_under_another_configuration_the_line_takes_structlogs_chain() -> None:
    output = io.BytesIO()
    configure_logging("prod", "info", output=output)
    access = AccessLog()
    scope = scope_for("GET", "/", "127.0.0.1", [])
    try:
        with capture_logs() as captured:
            assert access.enabled()
            access.write(scope, 200, 0.001)
        # Back to the configured pipeline: written directly again.
        assert access.enabled()
        access.write(scope, 200, 0.001)
    finally:
        unconfigure_logging()
    assert [line["path"] for line in captured] == ["/"]
    assert [orjson.loads(raw)["path"] for raw in output.getvalue().splitlines()] == ["/"]


def test_the_console_renderer_of_dev_is_never_bypassed() -> None:
    output = io.BytesIO()
    configure_logging("dev", "info", output=output)
    try:
        access = AccessLog()
        assert access.enabled()
        access.write(scope_for("GET", "/dev", None, []), 200, 0.001)
    finally:
        unconfigure_logging()
    text = output.getvalue().decode()
    assert "request" in text
    assert "path=/dev" in text
    assert not text.lstrip().startswith("{")
