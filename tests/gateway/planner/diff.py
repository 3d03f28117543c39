"""Where two JSON answers first differ: a readable message for a failed comparison."""

from __future__ import annotations

from typing import Any


def first_difference(got: Any, expected: Any, path: str = "$") -> str | None:
    """The path and values of the first difference, or None when equal (order matters)."""
    if type(got) is not type(expected):
        return f"{path}: {got!r:.300} != {expected!r:.300}"
    if isinstance(got, dict):
        if list(got) != list(expected):
            return f"{path}: keys {list(got)} != {list(expected)}"
        for key in got:
            found = first_difference(got[key], expected[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(got, list | tuple):
        if len(got) != len(expected):
            return f"{path}: length {len(got)} != {len(expected)}"
        for index, (left, right) in enumerate(zip(got, expected, strict=True)):
            found = first_difference(left, right, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if got == expected else f"{path}: {got!r:.300} != {expected!r:.300}"
