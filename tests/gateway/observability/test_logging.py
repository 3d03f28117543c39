"""Redaction, the stdlib bridge, and trace ids in log lines without a tracing SDK."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import structlog
from hypothesis import given
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.container import build_container
from gateway.observability.logging import REDACTED, redact_text, redact_value
from gateway.settings import Settings
from tests.gateway.observability.conftest import LogCapture

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
