"""The audit trail through the API, on SQLite and Postgres: what a request changed and every
security event, with who and where and no secret; admins read it over GraphQL and REST;
nobody edits it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.background.jobs import PeriodicJob, application_jobs
from gateway.container import Container, build_container
from gateway.settings import AuditSettings, Settings
from tests import migrated
from tests.gateway.accounts import PASSWORD, REGISTER
from tests.gateway.rest.helpers import operations, problem
from tests.gateway.world import World, as_user, gid, populate
from tests.helpers import scratch_postgres_database
from tests.persistence.databases import EMPTY_POSTGRES
from tests.services import require_service

CLIENT_IP = "127.0.0.1"  # what httpx's ASGI transport reports as the peer
ENTRY = (
    "occurredAt action entityType entityId actorId requestId clientIp"
    " changes { field before after }"
)
AUDIT = f"""query($filter: AuditLogFilter, $first: Int, $after: String) {{
  auditLog(filter: $filter, first: $first, after: $after) {{
    totalCount edges {{ cursor node {{ {ENTRY} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


@pytest.fixture(scope="module")
def audit_postgres(postgres_available: bool) -> Iterator[str]:
    require_service("PostgreSQL", postgres_available)
    with scratch_postgres_database("gw_test_audit") as url:
        asyncio.run(migrated.upgrade(url))
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        if request.param == "sqlite"
        else str(request.getfixturevalue("audit_postgres"))
    )
    return Settings(
        database={"url": url},
        security={
            "allow_debug_identity": True,
            "secret_key": "a" * 40,
            "argon2_time_cost": 1,
            "argon2_memory_kib": 1024,
            "argon2_parallelism": 1,
        },
        rate_limit={"enabled": False},
        graphql={"report_cost": False},
    )


@pytest.fixture
async def container(settings: Settings) -> AsyncIterator[Container]:
    await migrated.upgrade(settings.database.url)
    built = build_container(settings)
    if built.engine.dialect.name == "postgresql":
        async with built.engine.begin() as conn:
            await conn.execute(EMPTY_POSTGRES)
    yield built
    await built.aclose()


@pytest.fixture
async def world(container: Container) -> World:
    return await populate(container)


@pytest.fixture
def app(settings: Settings, container: Container) -> Starlette:
    return create_app(settings, container)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http


async def ask(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    user: int | None = None,
    token: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    headers = as_user(user) if user is not None else {}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if request_id is not None:
        headers["x-request-id"] = request_id
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


async def audit_log(
    client: httpx.AsyncClient, world: World, **filter_: Any
) -> list[dict[str, Any]]:
    body = await ask(client, AUDIT, {"filter": filter_, "first": 100}, user=world.admin)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["auditLog"]["edges"]]


def without_time(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "occurredAt"} for entry in entries]


async def test_a_placed_order_shows_its_actor_request_and_client_and_no_secret(
    client: httpx.AsyncClient, world: World
) -> None:
    placed = await ask(
        client,
        "mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id createdAt } }",
        {"input": {"lines": [{"itemId": gid("Item", world.gadget), "quantity": 2}]}},
        user=world.alice,
        request_id="audit-place-order-0001",
    )
    order = placed["data"]["placeOrder"]

    entries = await audit_log(client, world, entityId=order["id"])
    after = {change["field"]: change["after"] for change in entries[0]["changes"]}
    placed_at = datetime.fromisoformat(order["createdAt"])
    assert datetime.fromisoformat(after["created_at"]) == placed_at
    assert datetime.fromisoformat(after["updated_at"]) - placed_at < timedelta(seconds=1)
    assert without_time(entries) == [
        {
            "action": "CREATE",
            "entityType": "Order",
            "entityId": order["id"],
            "actorId": gid("User", world.alice),
            "requestId": "audit-place-order-0001",
            "clientIp": CLIENT_IP,
            "changes": [
                {"field": "created_at", "before": None, "after": after["created_at"]},
                {"field": "customer_id", "before": None, "after": world.alice},
                {
                    "field": "lines",
                    "before": None,
                    "after": [
                        {
                            "currency": "USD",
                            "item_id": world.gadget,
                            "quantity": 2,
                            "unit_price_cents": 2500,
                        }
                    ],
                },
                {"field": "status", "before": None, "after": "placed"},
                {"field": "updated_at", "before": None, "after": after["updated_at"]},
            ],
        }
    ]
    stock = await audit_log(client, world, entityId=gid("Item", world.gadget), action="UPDATE")
    assert without_time(stock)[0] == {
        "action": "UPDATE",
        "entityType": "Item",
        "entityId": gid("Item", world.gadget),
        "actorId": gid("User", world.alice),
        "requestId": "audit-place-order-0001",
        "clientIp": CLIENT_IP,
        "changes": [{"field": "stock", "before": 9, "after": 7}],
    }


async def test_sessions_and_passwords_are_recorded_without_their_secrets(
    client: httpx.AsyncClient, world: World
) -> None:
    registered = await ask(
        client,
        REGISTER,
        {"input": {"email": "dora@example.com", "password": PASSWORD, "name": "Dora"}},
    )
    assert "errors" not in registered, registered
    login = """mutation($e: String!, $p: String!) {
      login(email: $e, password: $p) { accessToken refreshToken user { id } } }"""
    failed = await ask(
        client,
        login,
        {"e": "dora@example.com", "p": "Wrong-Horse-1-Battery"},
        request_id="audit-failed-0001",
    )
    assert failed["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    session = (await ask(client, login, {"e": "dora@example.com", "p": PASSWORD}))["data"]["login"]
    dora = session["user"]["id"]
    new_password = "Another-Horse-8-Staple"
    changed = await ask(
        client,
        """mutation($o: String!, $n: String!) {
          changePassword(oldPassword: $o, newPassword: $n) { accessToken } }""",
        {"o": PASSWORD, "n": new_password},
        token=session["accessToken"],
    )
    token = changed["data"]["changePassword"]["accessToken"]
    assert (await ask(client, "mutation { logout }", token=token)) == {"data": {"logout": True}}

    entries = await audit_log(client, world, entityType="User", entityId=dora)
    assert [
        (e["action"], e["actorId"], e["changes"]) for e in entries if e["action"] != "UPDATE"
    ] == [
        ("LOGOUT", dora, []),
        ("PASSWORD_CHANGED", dora, []),
        ("LOGIN", dora, []),
        (
            "LOGIN_FAILED",
            None,
            [
                {"field": "email", "before": None, "after": "d***@example.com"},
                {"field": "reason", "before": None, "after": "invalid email or password"},
            ],
        ),
        (
            "CREATE",
            None,
            [
                {"field": "active", "before": None, "after": True},
                {
                    "field": "created_at",
                    "before": None,
                    "after": entries[-1]["changes"][1]["after"],
                },
                {"field": "email", "before": None, "after": "d***@example.com"},
                {"field": "name", "before": None, "after": "Dora"},
                {"field": "password_hash", "before": None, "after": "[redacted]"},
                {"field": "roles", "before": None, "after": "customer"},
            ],
        ),
    ]
    assert [e["changes"] for e in entries if e["action"] == "UPDATE"] == [
        [{"field": "password_hash", "before": "[redacted]", "after": "[redacted]"}]
    ]
    failed_entry = next(e for e in entries if e["action"] == "LOGIN_FAILED")
    assert (failed_entry["requestId"], failed_entry["clientIp"]) == ("audit-failed-0001", CLIENT_IP)
    everything = str(await audit_log(client, world))
    for secret in (
        PASSWORD,
        new_password,
        "Wrong-Horse",
        session["accessToken"],
        session["refreshToken"],
        token,
        "argon2",
        "dora@",
    ):
        assert secret not in everything


async def test_a_role_change_is_recorded_with_the_roles_before_and_after(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await ask(
        client,
        "mutation($u: ID!) { assignRoles(userId: $u, roles: [STAFF]) { roles } }",
        {"u": gid("User", world.bob)},
        user=world.admin,
    )
    assert body == {"data": {"assignRoles": {"roles": ["STAFF"]}}}
    entries = await audit_log(client, world, action="ROLES_CHANGED")
    assert [(e["entityId"], e["actorId"], e["changes"]) for e in entries] == [
        (
            gid("User", world.bob),
            gid("User", world.admin),
            [{"field": "roles", "before": ["customer"], "after": ["staff"]}],
        )
    ]


async def test_pages_walk_every_entry_once_newest_first(
    client: httpx.AsyncClient, world: World
) -> None:
    every = await audit_log(client, world)
    seen: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(len(every)):
        body = await ask(client, AUDIT, {"first": 3, "after": after}, user=world.admin)
        connection = body["data"]["auditLog"]
        seen += [edge["node"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert len(every) > 3
    assert seen == every


async def test_only_admins_read_the_audit_log_and_nobody_can_edit_it(
    client: httpx.AsyncClient, world: World
) -> None:
    query = "{ auditLog { totalCount } }"
    for user, code in (
        (world.staff, "FORBIDDEN"),
        (world.alice, "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ):
        body = await ask(client, query, user=user)
        assert (body["data"], [e["extensions"]["code"] for e in body["errors"]]) == (
            None,
            [code],
        )
    mutations = await ask(client, "{ __schema { mutationType { fields { name } } } }")
    names = [f["name"] for f in mutations["data"]["__schema"]["mutationType"]["fields"]]
    assert [name for name in names if "audit" in name.lower()] == []


async def test_rest_answers_the_audit_log_as_graphql_does(
    client: httpx.AsyncClient, app: Starlette, world: World
) -> None:
    op = operations(app)["listAuditLog"]
    rest = await client.get(
        "/api/v1/audit-log?first=2&filter[entityType]=Item", headers=as_user(world.admin)
    )
    gql = await ask(
        client, op.document, {"first": 2, "filter": {"entityType": "Item"}}, user=world.admin
    )
    connection = gql["data"]["auditLog"]
    assert rest.status_code == 200
    assert rest.json() == {
        "data": [edge["node"] for edge in connection["edges"]],
        "pageInfo": connection["pageInfo"],
        "totalCount": connection["totalCount"],
    }
    assert len(rest.json()["data"]) == 2

    refused = await client.get("/api/v1/audit-log", headers=as_user(world.staff))
    assert refused.status_code == 403
    assert refused.json() == problem(
        refused, "forbidden", "Forbidden", "missing permission audit:read", "FORBIDDEN"
    )
    anonymous = await client.get("/api/v1/audit-log")
    assert (anonymous.status_code, anonymous.headers["content-type"]) == (
        401,
        "application/problem+json",
    )
    assert anonymous.json()["code"] == "UNAUTHENTICATED"
    assert (await client.post("/api/v1/audit-log", json={})).status_code == 405


async def test_the_scheduled_purge_keeps_entries_younger_than_the_retention(
    client: httpx.AsyncClient, container: Container, world: World
) -> None:
    kept = len(await audit_log(client, world))
    now = datetime.now(UTC)
    retention = AuditSettings(retention_days=30)

    def purge_at(moment: datetime) -> PeriodicJob:
        jobs = application_jobs(
            container.settings.jobs, container.services, lambda: moment, audit=retention
        )
        return next(job for job in jobs if job.name == "purge-audit-log")

    assert await purge_at(now + timedelta(days=29)).run() == 0
    assert len(await audit_log(client, world)) == kept
    assert await purge_at(now + timedelta(days=31)).run() == kept
    assert await audit_log(client, world) == []


async def test_a_reused_refresh_token_is_recorded_against_its_owner(
    client: httpx.AsyncClient, world: World
) -> None:
    registered = await ask(
        client,
        REGISTER,
        {"input": {"email": "erin@example.com", "password": PASSWORD, "name": "Erin"}},
    )
    refresh = registered["data"]["register"]["refreshToken"]
    rotate = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }"
    assert "errors" not in await ask(client, rotate, {"t": refresh})
    reused = await ask(client, rotate, {"t": refresh}, request_id="audit-reuse-0001")
    assert [e["extensions"]["code"] for e in reused["errors"]] == ["UNAUTHENTICATED"]

    entries = await audit_log(client, world, action="REFRESH_TOKEN_REUSED")
    erin = next(
        e["entityId"]
        for e in await audit_log(client, world, entityType="User", action="CREATE")
        if {"field": "name", "before": None, "after": "Erin"} in e["changes"]
    )
    assert without_time(entries) == [
        {
            "action": "REFRESH_TOKEN_REUSED",
            "entityType": "User",
            "entityId": erin,
            "actorId": erin,
            "requestId": "audit-reuse-0001",
            "clientIp": CLIENT_IP,
            "changes": [],
        }
    ]
    assert refresh not in str(await audit_log(client, world))


async def test_a_catalog_change_through_the_declared_item_names_its_actor(
    client: httpx.AsyncClient, world: World
) -> None:
    item = gid("Item", world.gadget)
    updated = await ask(
        client,
        "mutation($id: ID!) { updateItem(id: $id, input: {stock: 40}) { id stock } }",
        {"id": item},
        user=world.staff,
        request_id="audit-update-item-0001",
    )
    assert updated == {"data": {"updateItem": {"id": item, "stock": 40}}}
    entries = await audit_log(client, world, entityId=item, action="UPDATE")
    assert without_time(entries)[0] == {
        "action": "UPDATE",
        "entityType": "Item",
        "entityId": item,
        "actorId": gid("User", world.staff),
        "requestId": "audit-update-item-0001",
        "clientIp": CLIENT_IP,
        "changes": [{"field": "stock", "before": 9, "after": 40}],
    }
