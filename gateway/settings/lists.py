"""Lists read from one environment variable: a JSON list, or comma-separated values."""

from __future__ import annotations

import json


def parse_list(value: object) -> object:
    """`["a", "b"]` or `a, b` -> ["a", "b"]; anything not a string is left to pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(
                'expected a JSON list like ["https://app.example.com"] or comma-separated values'
            ) from None
    return [part.strip() for part in text.split(",") if part.strip()]
