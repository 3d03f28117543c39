"""Global ids: whatever a client sends is a valid id or a ValidationError, never another error."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from schema.node import decode_id, parse_global_id, register_node_type

# As the demo schema registers it when it builds the type (idempotent).
register_node_type("Item")


def _gid(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize("digits", [20, 4_301, 5_000, 9_000])
def test_a_key_of_many_digits_is_not_a_valid_id(digits: int) -> None:
    # Past 4,300 digits `int()` raises a ValueError of its own (Python's conversion limit).
    with pytest.raises(ValidationError):
        parse_global_id(_gid("Item:" + "7" * digits))


def test_leading_zeros_and_the_largest_key_still_decode() -> None:
    assert decode_id(_gid("Item:" + "0" * 30 + "5"), "Item") == 5
    assert decode_id(_gid(f"Item:{2**63 - 1}"), "Item") == 2**63 - 1
    with pytest.raises(ValidationError):
        decode_id(_gid(f"Item:{2**63}"), "Item")


@given(st.text(alphabet="0123456789", min_size=1, max_size=6_000))
def test_any_run_of_digits_decodes_or_is_refused_as_input(key: str) -> None:
    try:
        number = decode_id(_gid("Item:" + key), "Item")
    except ValidationError:
        significant = key.lstrip("0")
        assert not significant or len(significant) >= 19
    else:
        assert number == int(key)
