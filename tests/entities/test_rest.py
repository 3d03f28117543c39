"""REST parity: each declared entity's generated routes answer what GraphQL answers."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.container import Container
from gateway.rest.generate import kebab
from schema.entities import Declaration
from schema.entities.declare import snake
from tests.entities.apps import DECLARED, Api
from tests.entities.samples import camel, seed_rows
from tests.gateway.world import World, as_user


def _selection(body: dict[str, Any]) -> str:
    parts = []
    for key, value in body.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = value[0]  # a list of objects (an order's lines) selects as one
        parts.append(f"{key} {{ {_selection(value)} }}" if isinstance(value, dict) else key)
    return " ".join(parts)


async def test_rest_reads_equal_the_graphql_reads(
    client: httpx.AsyncClient,
    api: Api,
    container: Container,
    world: World,
    declaration: Declaration,
) -> None:
    await seed_rows(container, DECLARED, 3)
    path = f"/api/v1/{kebab(declaration.model.plural.replace('_', '-'))}"
    listed = await client.get(f"{path}?first=2", headers=as_user(world.admin))
    assert listed.status_code == 200, listed.text
    first = listed.json()["data"][0]
    single = await client.get(f"{path}/{first['id']}", headers=as_user(world.admin))
    assert (single.status_code, single.json()) == (200, first)
    field = camel(snake(declaration.name))
    graphql = await api.ask(
        f'{{ {field}(id: "{first["id"]}") {{ {_selection(first)} }} }}', user=world.admin
    )
    assert graphql == {"data": {field: first}}
    page = await api.ask(
        f"{{ {camel(declaration.model.plural)}(first: 2) {{ totalCount }} }}", user=world.admin
    )
    assert (
        listed.json()["totalCount"] == page["data"][camel(declaration.model.plural)]["totalCount"]
    )
