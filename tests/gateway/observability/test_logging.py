"""Redaction, the stdlib bridge, trace ids in log lines without a tracing SDK, access lines."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import structlog
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from domain import redaction as redaction_rules
from gateway.app import create_app
from gateway.container import build_container
from gateway.http.edge import EdgeMiddleware
from gateway.observability.logging import (
    REDACTED,
    configure_logging,
    redact_text,
    redact_value,
)
from gateway.observability.metrics import Metrics
from gateway.settings import Settings
from tests.gateway.observability.capture import LogCapture

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.AbCdEf-_123"
SENSITIVE_KEYS = ["password", "newPassword", "access_token", "Authorization", "Cookie", "secret"]

words = st.text(alphabet="abcdefghij klmnop", max_size=20)
secrets = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12, max_size=30)


def test_sensitive_keys_are_removed_at_any_depth() -> None:
    event = {
        "event": "login",
        "password": "hunter2",
        "user": {"name": "Ann", "refreshToken": "abc", "roles": ["staff"]},
        "headers": [{"authorization": "Bearer x"}, {"accept": "*/*"}],
        "count": 3,
    }
    assert redact_value(event) == {
        "event": "login",
        "user": {"name": "Ann", "roles": ["staff"]},
        "headers": [{}, {"accept": "*/*"}],
        "count": 3,
    }


def test_text_loses_jwts_bearer_credentials_and_spelled_out_passwords() -> None:
    text = (
        f"got {JWT}, then Bearer abc.def and password: 'p4ss word' "
        "token=xyz for bob@mail.example.com"
    )
    assert redact_text(text) == (
        f"got {REDACTED}, then Bearer {REDACTED} and password: {REDACTED} "
        f"token={REDACTED} for b***@mail.example.com"
    )


@given(st.sampled_from(SENSITIVE_KEYS), secrets, st.lists(st.sampled_from(["a", "b"]), max_size=3))
def test_a_sensitive_key_never_survives_whatever_its_nesting(
    key: str, secret: str, path: list[str]
) -> None:
    event: Any = {key: secret}
    for step in path:
        event = {step: [event]}
    assert secret not in repr(redact_value({"event": "x", "nested": event}))


@given(words, words)
def test_a_jwt_anywhere_in_a_value_is_cut_out(before: str, after: str) -> None:
    assert JWT not in repr(redact_value({"event": before + JWT + after, "n": [before + JWT]}))


@given(
    st.from_regex(r"[a-z][a-z0-9.]{0,10}", fullmatch=True),
    st.sampled_from(["example.com", "x.org"]),
)
def test_emails_keep_their_first_letter_and_domain(local: str, domain: str) -> None:
    assert redact_text(f"mail {local}@{domain}.") == f"mail {local[0]}***@{domain}."


# Pieces that make the patterns match, or nearly, in any case; re.I also folds the
# dotless i (U+0131), the long s (U+017F) and the Kelvin sign (U+212A) onto ASCII.
pieces = st.sampled_from(
    [
        *(JWT, "eyJ", "EYJ", "Bearer ", "BASIC\t", "PassWord", "passwd", "pwd", "tOKEN"),
        *("secret", "api_key", "API-KEY", "ApiKey", "/api/v1/", "api", "key", "-", "_"),
        *("@", "ann@example.com", "=", ": ", "'", '"', ","),
        *("bas\u0131c ", "Ba\u017fic ", "\u017fecret", "ap\u0131-\u212aey", "x", "7"),
    ]
)


@given(st.lists(st.one_of(pieces, st.text(max_size=4)), max_size=12).map("".join))
def test_the_quick_screen_changes_no_redaction(text: str) -> None:
    assert redact_text(text) == redaction_rules._substitute(text)


def test_other_objects_are_rendered_then_redacted() -> None:
    class Account:
        def __str__(self) -> str:
            return "Account(ann@example.com)"

    assert redact_value({"account": Account()}) == {"account": "Account(a***@example.com)"}


def test_stdlib_records_go_through_the_same_redaction(logs: LogCapture) -> None:
    logging.getLogger("uvicorn.error").warning("client sent Authorization: Bearer %s", JWT)
    structlog.get_logger("gateway.test").info("signed in", email="ann@example.com", token=JWT)
    lines = logs.lines()
    for line in lines:
        line.pop("timestamp")
    assert lines == [
        {
            "event": f"client sent Authorization: Bearer {REDACTED}",
            "level": "warning",
            "logger": "uvicorn.error",
        },
        {
            "event": "signed in",
            "email": "a***@example.com",
            "level": "info",
            "logger": "gateway.test",
        },
    ]
    assert JWT.encode() not in logs.raw


async def test_an_incoming_traceparent_reaches_the_access_line_without_an_sdk(
    settings: Settings, logs: LogCapture
) -> None:
    # The default container: no OTLP endpoint, so a no-op tracer provider.
    container = build_container(settings)
    app = create_app(settings, container)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
        ) as client:
            response = await client.post(
                "/graphql",
                json={"query": "query Ping { __typename }"},
                headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
            )
    finally:
        await container.aclose()
    access = [line for line in logs.lines() if line["logger"] == "gateway.access"]
    assert [(a["path"], a["status"], a["trace_id"], a["request_id"]) for a in access] == [
        ("/graphql", 200, trace_id, response.headers["x-request-id"])
    ]


def _edge(app: ASGIApp) -> httpx.AsyncClient:
    """`app` behind the gateway's edge (request id, trace context, access log, ...)."""
    edge = EdgeMiddleware(app, metrics=Metrics())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url="http://t")


async def _warns(_: Request) -> Response:
    structlog.get_logger("gateway.test").warning("inside")
    return PlainTextResponse("ok")


async def test_below_info_the_access_line_is_skipped_and_lines_inside_keep_both_ids(
    logs: LogCapture,
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "x-request-id": "req-0001"}
    async with _edge(Starlette(routes=[Route("/", _warns)])) as client:
        configure_logging("prod", "warning", output=logs.buffer)
        await client.get("/", headers=headers)
        # The same app follows a change of level.
        configure_logging("prod", "info", output=logs.buffer)
        await client.get("/", headers=headers)
    # httpx logs each request too, at info.
    lines = [line for line in logs.lines() if line["logger"].startswith("gateway.")]
    for line in lines:
        line.pop("timestamp")
    ids = {"request_id": "req-0001", "trace_id": trace_id}
    inside = {"event": "inside", "level": "warning", "logger": "gateway.test", **ids}
    access = {
        "event": "request",
        "level": "info",
        "logger": "gateway.access",
        "method": "GET",
        "path": "/",
        "status": 200,
        "duration_ms": lines[-1]["duration_ms"],
        "client_ip": "127.0.0.1",
        "principal_id": None,
        "operation_name": None,
        "operation_type": None,
        **ids,
    }
    assert lines == [inside, inside, access]


async def test_the_ids_are_bound_for_the_request_only(logs: LogCapture) -> None:
    tokens = structlog.contextvars.bind_contextvars(request_id="outer")
    try:
        async with _edge(Starlette(routes=[Route("/", _warns)])) as client:
            response = await client.get("/")
        after = structlog.contextvars.get_contextvars()
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    inside = next(line for line in logs.lines() if line["event"] == "inside")
    assert (inside["request_id"], inside["trace_id"], after) == (
        response.headers["x-request-id"],
        None,
        {"request_id": "outer"},
    )
