from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import FieldProblem, ValidationError
from domain.money import Money
from domain.paging import Cursor, sort_key

_NOT_A_CURSOR = [FieldProblem("after", "is not a valid cursor")]

keys = st.none() | st.integers() | st.text()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _assert_refused(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Cursor.decode(text)
    assert caught.value.problems == _NOT_A_CURSOR


@given(keys, st.integers())
def test_a_cursor_round_trips_through_its_text(key: int | str | None, ident: int) -> None:
    assert Cursor.decode(Cursor(key, ident).encode()) == Cursor(key, ident)


@given(keys, st.integers())
def test_cursor_text_is_url_safe_without_padding(key: int | str | None, ident: int) -> None:
    text = Cursor(key, ident).encode()
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _decode(text: str) -> Cursor | list[FieldProblem]:
    try:
        return Cursor.decode(text)
    except ValidationError as error:
        return error.problems


def _is_well_formed(cursor: Cursor) -> bool:
    key_ok = cursor.key is None or type(cursor.key) in (int, str)
    return key_ok and type(cursor.id) is int and Cursor.decode(cursor.encode()) == cursor


@given(st.text())
def test_random_text_is_a_cursor_or_a_validation_error_on_after(text: str) -> None:
    outcome = _decode(text)
    assert _is_well_formed(outcome) if isinstance(outcome, Cursor) else outcome == _NOT_A_CURSOR


@given(st.binary())
def test_random_bytes_are_a_cursor_or_a_validation_error_on_after(raw: bytes) -> None:
    outcome = _decode(_b64(raw))
    assert _is_well_formed(outcome) if isinstance(outcome, Cursor) else outcome == _NOT_A_CURSOR


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values)
def test_any_json_document_is_a_cursor_or_a_validation_error_on_after(document: object) -> None:
    text = _b64(json.dumps(document).encode())
    valid = (
        isinstance(document, list)
        and len(document) == 2
        and (document[0] is None or type(document[0]) in (int, str))
        and type(document[1]) is int
    )
    if valid:
        assert isinstance(document, list)
        assert Cursor.decode(text) == Cursor(document[0], document[1])
    else:
        _assert_refused(text)


@pytest.mark.parametrize(
    "document",
    [
        "null",
        "1",
        '"ab"',
        "{}",
        '{"a": 1, "b": 2}',
        "[]",
        "[1]",
        "[1, 2, 3]",
        '[1, "2"]',
        "[1, 2.0]",
        "[1.5, 2]",
        "[[1], 2]",
        '[{"a": 1}, 2]',
        "[true, 2]",
        "[1, true]",
        "[false, false]",
        "[NaN, 1]",
        "[1, Infinity]",
        "[" * 100_000 + "]" * 100_000,
        "[1, " + "9" * 5000 + "]",
        '["\\ud800", 1]',  # a lone surrogate: no stored text holds one
        '["a\\udfffb", 1]',
    ],
)
def test_wrong_json_shapes_are_refused(document: str) -> None:
    _assert_refused(_b64(document.encode()))


@pytest.mark.parametrize(
    "text",
    ["", "!!!!", "é", "\x00", "a", "abc=def", _b64(b"\xff\xfe\x00"), _b64(b"[1, 2")],
)
def test_text_that_is_not_base64_json_is_refused(text: str) -> None:
    _assert_refused(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (7, 7),
        ("x", "x"),
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05+00:00"),
        (Decimal("1.50"), "1.50"),
        (Money(1234, "EUR"), 1234),
    ],
)
def test_sort_keys_are_json_safe(value: object, expected: int | str | None) -> None:
    assert sort_key(value) == expected
