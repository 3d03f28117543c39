"""The cost limit and the cost budget share one pricing of each operation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from schema import cost


async def test_an_operation_is_priced_once_for_the_limit_and_the_budget(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str | None] = []
    real = cost.operation_cost

    def counting(*args: Any, **kwargs: Any) -> int:
        calls.append(args[3] if len(args) > 3 else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(cost, "operation_cost", counting)
    response = await client.post(
        "/graphql", json={"query": "query Catalog { items(first: 3) { totalCount } }"}
    )
    assert response.status_code == 200
    assert calls == ["Catalog"]
