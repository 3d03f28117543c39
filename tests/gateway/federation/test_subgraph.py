"""The schema as an Apollo Federation v2 subgraph: off by default (the committed SDL does
not change), composed with another subgraph by Apollo's own composition library, and
`_entities` answered with one SQL statement per entity type, on SQLite and Postgres."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container, build_container
from gateway.settings import Settings
from persistence.statements import count_statements
from schema import SchemaOptions, build_schema, export_sdl
from tests import migrated
from tests.gateway.world import as_user, gid, populate
from tests.helpers import scratch_postgres_database
from tests.services import require_service

ROOT = Path(__file__).resolve().parents[3]
COMPOSITION = {"@apollo/composition": "2.14.4", "graphql": "16.11.0"}
REVIEWS = """
extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Item @key(fields: "id") {
  id: ID!
  reviews: [Review!]!
}

type Review {
  body: String!
  stars: Int!
}

type Query {
  topReviews: [Review!]!
}
"""
COMPOSE = """
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices } from "@apollo/composition";
const [gateway, reviews] = process.argv.slice(2).map((f) => readFileSync(f, "utf8"));
const result = composeServices([
  { name: "gateway", url: "http://127.0.0.1:8000/graphql", typeDefs: parse(gateway) },
  { name: "reviews", url: "http://127.0.0.1:8001/graphql", typeDefs: parse(reviews) },
]);
console.log(JSON.stringify({
  errors: (result.errors || []).map((e) => e.message),
  supergraph: result.supergraphSdl || null,
}));
"""
ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Item { id name }
    ... on User { id name }
    ... on Order { id status }
  }
}
"""


@pytest.fixture(scope="module")
def composition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Apollo's composition library, installed with npm into a temporary folder."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: Apollo's composition cannot run")
    folder = tmp_path_factory.mktemp("composition")
    (folder / "package.json").write_text(
        json.dumps({"private": True, "type": "module", "dependencies": COMPOSITION})
    )
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Node is here, so composition must run: a failed install fails the test.
    assert installed.returncode == 0, installed.stderr[-2000:]
    (folder / "compose.mjs").write_text(COMPOSE)
    return folder


def compose(folder: Path, gateway_sdl: str) -> dict[str, Any]:
    (folder / "gateway.graphql").write_text(gateway_sdl)
    (folder / "reviews.graphql").write_text(REVIEWS)
    ran = subprocess.run(
        ["node", "compose.mjs", "gateway.graphql", "reviews.graphql"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    result: dict[str, Any] = json.loads(ran.stdout)
    return result


def block(sdl: str, header: str) -> str:
    """The definition in `sdl` that starts with `header`, up to its closing brace."""
    start = sdl.index(header)
    return sdl[start : sdl.index("\n}", start) + 2]


def test_federation_is_off_by_default_and_leaves_the_committed_sdl_as_it_is() -> None:
    federated = build_schema(SchemaOptions(federation=True))
    default = build_schema()
    committed = (ROOT / "schema" / "schema.graphql").read_text()
    assert export_sdl(default) == committed
    assert "_service" not in committed
    assert "@key" not in committed
    assert "_entities(representations: [_Any!]!): [_Entity]!" in federated.as_str()


def test_the_subgraph_composes_with_another_subgraph(composition: Path) -> None:
    sdl = build_schema(SchemaOptions(federation=True)).subgraph_sdl  # type: ignore[attr-defined]  # the federated schema's
    assert sdl.startswith(
        'schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key"]) {'
    )
    result = compose(composition, sdl)
    assert result["errors"] == []
    supergraph = result["supergraph"]
    item = block(supergraph, "type Item implements Node")
    assert item.splitlines()[:4] == [
        "type Item implements Node",
        '  @join__implements(graph: GATEWAY, interface: "Node")',
        '  @join__type(graph: GATEWAY, key: "id", resolvable: true)',
        '  @join__type(graph: REVIEWS, key: "id")',
    ]
    assert "  reviews: [Review!]! @join__field(graph: REVIEWS)" in item
    assert "  sku: String! @join__field(graph: GATEWAY)" in item
    for entity in ("User", "Order"):
        assert '@join__type(graph: GATEWAY, key: "id", resolvable: true)' in block(
            supergraph, f"type {entity} implements Node"
        )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_available: bool
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_federation") as url:
        yield url


@pytest.fixture
async def federated(database_url: str) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    settings = Settings(
        database={"url": database_url},
        security={"allow_debug_identity": True, "secret_key": "f" * 40},
        rate_limit={"report_budget": False},
        graphql={"report_cost": False, "federation": True},
    )
    await migrated.upgrade(database_url)
    container = build_container(settings)
    transport = httpx.ASGITransport(app=create_app(settings, container))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield container, client
    await container.aclose()


async def test_the_served_sdl_is_the_composed_one(
    federated: tuple[Container, httpx.AsyncClient],
) -> None:
    container, client = federated
    answer = await client.post("/graphql", json={"query": "{ _service { sdl } }"})
    assert answer.json() == {"data": {"_service": {"sdl": container.schema.subgraph_sdl}}}  # type: ignore[attr-defined]  # federated


async def test_entities_resolve_with_one_statement_per_type(
    federated: tuple[Container, httpx.AsyncClient],
) -> None:
    container, client = federated
    world = await populate(container)
    await container.relay.drain()
    representations = [
        {"__typename": "Item", "id": gid("Item", world.widget)},
        {"__typename": "User", "id": gid("User", world.alice)},
        {"__typename": "Order", "id": gid("Order", world.alice_order)},
        {"__typename": "Item", "id": gid("Item", world.gadget)},
        {"__typename": "Order", "id": gid("Order", world.bob_order)},
        {"__typename": "User", "id": gid("User", world.bob)},
        {"__typename": "Item", "id": gid("Item", 10_000)},
        {"__typename": "Item", "id": gid("Item", world.last_unit)},
    ]
    payload = {"query": ENTITIES, "variables": {"representations": representations}}
    headers = as_user(world.staff)
    with count_statements(container.engine) as baseline:  # who is asking: the identity
        await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    with count_statements(container.engine) as log:
        answer = await client.post("/graphql", json=payload, headers=headers)
    assert answer.json() == {
        "data": {
            "_entities": [
                {"__typename": "Item", "id": gid("Item", world.widget), "name": "Widget"},
                {"__typename": "User", "id": gid("User", world.alice), "name": "Alice"},
                {"__typename": "Order", "id": gid("Order", world.alice_order), "status": "PLACED"},
                {"__typename": "Item", "id": gid("Item", world.gadget), "name": "Gadget"},
                {"__typename": "Order", "id": gid("Order", world.bob_order), "status": "PLACED"},
                {"__typename": "User", "id": gid("User", world.bob), "name": "Bob"},
                None,
                {"__typename": "Item", "id": gid("Item", world.last_unit), "name": "Last one"},
            ]
        }
    }
    entity_statements = log.statements[baseline.count :]
    # One statement per type, and the orders' lines (an aggregate's parts) with them.
    assert log.count - baseline.count == 4, log.statements
    tables = sorted(
        next(
            t
            for t in ("items", "order_lines", "orders", "users")
            if f"FROM {t} " in " ".join(s.split()) + " "
        )
        for s in entity_statements
    )
    assert tables == ["items", "order_lines", "orders", "users"]


async def test_entities_are_seen_as_the_caller_may_see_them(
    federated: tuple[Container, httpx.AsyncClient],
) -> None:
    container, client = federated
    world = await populate(container)
    representations = [
        {"__typename": "Order", "id": gid("Order", world.alice_order)},
        {"__typename": "Order", "id": gid("Order", world.bob_order)},
        {"__typename": "Review", "id": gid("Item", world.widget)},
    ]
    answer = await client.post(
        "/graphql",
        json={"query": ENTITIES, "variables": {"representations": representations}},
        headers=as_user(world.bob),
    )
    body = answer.json()
    assert body["data"] == {
        "_entities": [
            None,
            {"__typename": "Order", "id": gid("Order", world.bob_order), "status": "PLACED"},
            None,
        ]
    }
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["_entities", 2], "BAD_USER_INPUT")
    ]
