"""Global object identification: opaque ids that name a type and a key."""

from __future__ import annotations

import base64
import binascii

import strawberry

from domain.errors import ValidationError

# The types whose global ids parse: each declared entity adds itself when its type is
# built (`register_node_type`); nothing is listed by hand.
NODE_TYPES: set[str] = set()


def register_node_type(type_name: str) -> None:
    """Let ids of `type_name` parse (done once per declared entity when its type is built)."""
    NODE_TYPES.add(type_name)


def to_global_id(type_name: str, key: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{key}".encode()).decode())


def parse_global_id(value: str, field: str = "id") -> tuple[str, int]:
    """Split a global id; raises ValidationError on anything malformed."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeError):
        raise ValidationError.single(field, "is not a valid id") from None
    type_name, sep, key = raw.partition(":")
    if not sep or type_name not in NODE_TYPES or not key.isascii() or not key.isdigit():
        raise ValidationError.single(field, "is not a valid id")
    # More than 19 significant digits is past 2**63 anyway, and `int()` of a long enough
    # text raises a ValueError of its own (Python's limit on digits converted).
    if len(key.lstrip("0")) > 19:
        raise ValidationError.single(field, "is not a valid id")
    number = int(key)
    if number <= 0 or number >= 2**63:
        raise ValidationError.single(field, "is not a valid id")
    return type_name, number


def decode_id(value: str, expected: str, field: str = "id") -> int:
    """The key of a global id of type `expected`; ids of another type are refused."""
    type_name, key = parse_global_id(value, field)
    if type_name != expected:
        raise ValidationError.single(field, f"is not the id of a {expected}")
    return key


@strawberry.interface(description="An object with a globally unique id.")
class Node:
    id: strawberry.ID
