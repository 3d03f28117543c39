"""How many operations Strawberry executed: the full path, as against the prepared replay."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry


class Executions:
    """Counts the operations Strawberry executed (the full path)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> Executions:
    seen = Executions()
    original = strawberry.Schema.execute

    async def spy(self: strawberry.Schema, *args: Any, **kwargs: Any) -> Any:
        seen.count += 1
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(strawberry.Schema, "execute", spy)
    return seen
