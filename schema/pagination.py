"""Relay connections with keyset cursors, and the page-size rules."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from domain.errors import ValidationError
from domain.paging import Cursor, Direction, Page, PageRequest, Sort

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

N = TypeVar("N")


@strawberry.enum(description="Sort direction.")
class OrderDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.type(description="Where a page sits in its connection.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


# Strawberry resolves generic field types through TypeVars, not PEP 695 parameters.
@strawberry.type
class Edge(Generic[N]):  # noqa: UP046
    cursor: str
    node: N


@strawberry.type(description="A page of a list, Relay style.")
class Connection(Generic[N]):  # noqa: UP046  # see Edge
    edges: list[Edge[N]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many nodes match the filter, across all pages.")
    async def total_count(self) -> int:
        return await self._count()


def page_request(
    first: int | None, after: str | None, field: str, direction: OrderDirection | str
) -> PageRequest:
    """Validate paging arguments; a page is at most MAX_PAGE_SIZE nodes."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise ValidationError.single("first", f"must be between 0 and {MAX_PAGE_SIZE}")
    cursor = Cursor.decode(after) if after is not None else None
    value = direction.value if isinstance(direction, OrderDirection) else direction
    return PageRequest(first=size, after=cursor, sort=Sort(field, Direction(value)))


def connection[D, G](
    page: Page[D], convert: Callable[[D], G], count: Callable[[], Awaitable[int]]
) -> Connection[G]:
    """Wrap a domain page into a GraphQL connection; totalCount runs only if asked."""
    cursors: Sequence[str] = [c.encode() for c in page.cursors]
    edges = [Edge(cursor=c, node=convert(n)) for c, n in zip(cursors, page.items, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        _count=count,
    )
