"""Keyset pagination: sort orders, opaque cursors and pages."""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.errors import ValidationError

type CursorValue = int | str | None


class Direction(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class Sort:
    """Sort by one field; the id always breaks ties so the order is total."""

    field: str = "id"
    direction: Direction = Direction.ASC


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after a row: its sort key and its id."""

    key: CursorValue
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.key, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor; anything malformed raises ValidationError on `after`."""
        try:
            padded = text + "=" * (-len(text) % 4)
            key, ident = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        # RecursionError: json gives up on deeply nested arrays, which a client can send.
        except (ValueError, TypeError, binascii.Error, UnicodeEncodeError, RecursionError):
            raise ValidationError.single("after", "is not a valid cursor") from None
        if not isinstance(ident, int) or isinstance(ident, bool):
            raise ValidationError.single("after", "is not a valid cursor")
        if (key is not None and not isinstance(key, int | str)) or isinstance(key, bool):
            raise ValidationError.single("after", "is not a valid cursor")
        if isinstance(key, str) and not _is_text(key):
            # JSON's \ud800 escapes decode to a lone surrogate, which no stored value
            # holds and no driver can send (SQLite's refused it as an internal error).
            raise ValidationError.single("after", "is not a valid cursor")
        return cls(key, ident)


def _is_text(key: str) -> bool:
    try:
        key.encode()
    except UnicodeEncodeError:
        return False
    return True


def sort_key(value: object) -> CursorValue:
    """The JSON-safe form of a sort value, as stored in a cursor."""
    if value is None or isinstance(value, int | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    cents = getattr(value, "cents", None)
    if isinstance(cents, int):
        return cents
    return str(value)


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: Cursor | None = None
    sort: Sort = Sort()


@dataclass(frozen=True, slots=True)
class Page[T]:
    items: Sequence[T]
    cursors: Sequence[Cursor]
    has_next_page: bool
    has_previous_page: bool
