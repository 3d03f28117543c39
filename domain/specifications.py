"""Specifications: composable business predicates.

A specification is a small tree (leaf comparisons joined by and/or/not). The domain
evaluates it in Python with `is_satisfied_by`; persistence walks the same tree and
compiles it to SQL, so a list filter never loads a table to filter it in Python.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from domain.money import Money


class Op(enum.StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    CONTAINS = "contains"  # case-insensitive substring, ASCII case folding


_COMPARE: dict[Op, Callable[[Any, Any], bool]] = {
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.GT: operator.gt,
    Op.GE: operator.ge,
}


def _ascii_lower(text: str) -> str:
    # SQLite's lower() folds ASCII only; folding the same way keeps Python and SQL equal.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Specification:
    """A predicate over domain objects; compose with `&`, `|` and `~`."""

    def is_satisfied_by(self, candidate: object) -> bool:
        raise NotImplementedError

    def __and__(self, other: Specification) -> Specification:
        return And((self, other))

    def __or__(self, other: Specification) -> Specification:
        return Or((self, other))

    def __invert__(self) -> Specification:
        return Not(self)


@dataclass(frozen=True, slots=True)
class Compare(Specification):
    """`field op value`, where field names an attribute of the candidate."""

    field: str
    op: Op
    value: Any

    def is_satisfied_by(self, candidate: object) -> bool:
        actual = getattr(candidate, self.field)
        if self.op is Op.IN:
            return bool(actual in self.value)
        if self.op is Op.CONTAINS:
            return _ascii_lower(str(self.value)) in _ascii_lower(str(actual))
        if isinstance(self.value, Money):
            if not isinstance(actual, Money) or actual.currency != self.value.currency:
                return False
            return _COMPARE[self.op](actual.cents, self.value.cents)
        if actual is None:
            # SQL three-valued logic: a comparison with NULL is never true.
            return False
        return _COMPARE[self.op](actual, self.value)


@dataclass(frozen=True, slots=True)
class And(Specification):
    parts: tuple[Specification, ...]

    def is_satisfied_by(self, candidate: object) -> bool:
        return all(p.is_satisfied_by(candidate) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Or(Specification):
    parts: tuple[Specification, ...]

    def is_satisfied_by(self, candidate: object) -> bool:
        return any(p.is_satisfied_by(candidate) for p in self.parts)


@dataclass(frozen=True, slots=True)
class Not(Specification):
    part: Specification

    def is_satisfied_by(self, candidate: object) -> bool:
        return not self.part.is_satisfied_by(candidate)


@dataclass(frozen=True, slots=True)
class Always(Specification):
    """The neutral element: selects everything."""

    def is_satisfied_by(self, candidate: object) -> bool:
        return True


def all_of(specs: Iterable[Specification]) -> Specification:
    parts = tuple(specs)
    if not parts:
        return Always()
    return parts[0] if len(parts) == 1 else And(parts)


def any_of(specs: Iterable[Specification]) -> Specification:
    """One flat Or (not a chain of pairs, whose depth would grow with the list)."""
    parts = tuple(specs)
    if not parts:
        return Not(Always())
    return parts[0] if len(parts) == 1 else Or(parts)


def field(name: str) -> _Field:
    """`field("stock") > 0` reads better than `Compare("stock", Op.GT, 0)`."""
    return _Field(name)


@dataclass(frozen=True, slots=True)
class _Field:
    name: str

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]  # builds a spec
        return Compare(self.name, Op.EQ, value)

    def __ne__(self, value: object) -> Compare:  # type: ignore[override]  # builds a spec
        return Compare(self.name, Op.NE, value)

    def __lt__(self, value: object) -> Compare:
        return Compare(self.name, Op.LT, value)

    def __le__(self, value: object) -> Compare:
        return Compare(self.name, Op.LE, value)

    def __gt__(self, value: object) -> Compare:
        return Compare(self.name, Op.GT, value)

    def __ge__(self, value: object) -> Compare:
        return Compare(self.name, Op.GE, value)

    def is_in(self, values: Iterable[object]) -> Compare:
        return Compare(self.name, Op.IN, tuple(values))

    def contains(self, text: str) -> Compare:
        return Compare(self.name, Op.CONTAINS, text)

    __hash__ = None  # type: ignore[assignment]  # == builds a spec, so no hashing
