"""Accounts and sessions over GraphQL: register, login, refresh, logout, attacks."""

from __future__ import annotations

import base64
import json

import httpx

from tests.gateway.accounts import (
    LOGIN,
    ME,
    PASSWORD,
    REFRESH,
    REGISTER,
    codes,
    gql,
    register,
)
from tests.gateway.world import World, gid


async def test_register_then_use_the_access_token(client: httpx.AsyncClient, world: World) -> None:
    payload = await register(client)
    assert payload["user"] == {"name": "Carol", "email": "carol@example.com", "roles": ["CUSTOMER"]}
    assert payload["expiresIn"] == 1800
    me = await gql(client, ME, token=payload["accessToken"])
    assert me.json() == {"data": {"me": {"name": "Carol", "email": "carol@example.com"}}}


async def test_login_is_refused_with_one_message_for_any_wrong_credential(
    client: httpx.AsyncClient, world: World
) -> None:
    await register(client)
    wrong_password = await gql(client, LOGIN, {"e": "carol@example.com", "p": "Nope-Nope-123"})
    unknown_user = await gql(client, LOGIN, {"e": "nobody@example.com", "p": PASSWORD})
    for response in (wrong_password, unknown_user):
        assert response.json()["errors"][0]["message"] == "invalid email or password"
        assert codes(response) == ["UNAUTHENTICATED"]
    ok = await gql(client, LOGIN, {"e": "CAROL@example.com", "p": PASSWORD})
    assert ok.json()["data"]["login"]["user"]["email"] == "carol@example.com"


async def test_a_duplicate_email_is_refused_whatever_its_case(
    client: httpx.AsyncClient, world: World
) -> None:
    await register(client)
    response = await gql(
        client,
        REGISTER,
        {"input": {"email": "Carol@Example.COM", "password": PASSWORD, "name": "Carol 2"}},
    )
    assert codes(response) == ["ALREADY_EXISTS"]


async def test_a_weak_password_lists_every_unmet_rule(client: httpx.AsyncClient) -> None:
    response = await gql(
        client, REGISTER, {"input": {"email": "dan@example.com", "password": "aaaa", "name": "Dan"}}
    )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    fields = {p["field"] for p in error["extensions"]["problems"]}
    assert fields == {"password"}
    assert len(error["extensions"]["problems"]) >= 3


async def test_refresh_rotates_and_reuse_revokes_the_session(
    client: httpx.AsyncClient, world: World
) -> None:
    first = await register(client)
    rotated = await gql(client, REFRESH, {"t": first["refreshToken"]})
    second = rotated.json()["data"]["refreshToken"]
    assert second["refreshToken"] != first["refreshToken"]
    reused = await gql(client, REFRESH, {"t": first["refreshToken"]})
    assert codes(reused) == ["UNAUTHENTICATED"]
    # Reuse ended the whole family: the newest refresh token is dead too.
    newest = await gql(client, REFRESH, {"t": second["refreshToken"]})
    assert codes(newest) == ["UNAUTHENTICATED"]


async def test_a_token_is_refused_after_logout(client: httpx.AsyncClient, world: World) -> None:
    session = await register(client)
    out = await gql(client, "mutation { logout }", token=session["accessToken"])
    assert out.json() == {"data": {"logout": True}}
    after = await gql(client, ME, token=session["accessToken"])
    assert after.status_code == 401
    assert codes(after) == ["UNAUTHENTICATED"]
    assert codes(await gql(client, REFRESH, {"t": session["refreshToken"]})) == ["UNAUTHENTICATED"]


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, world: World
) -> None:
    session = await register(client)
    response = await gql(client, ME, token=session["refreshToken"])
    assert (response.status_code, codes(response)) == (401, ["UNAUTHENTICATED"])


def _unsigned(token: str) -> str:
    _header, payload, _ = token.split(".")
    none_header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    return f"{none_header.decode()}.{payload}."


async def test_forged_and_malformed_tokens_are_unauthenticated(
    client: httpx.AsyncClient, world: World
) -> None:
    session = await register(client)
    good = session["accessToken"]
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for bad in (_unsigned(good), tampered, good[: len(good) // 2], "x" * 10_000, "a.b.c"):
        response = await gql(client, ME, token=bad)
        assert (response.status_code, codes(response)) == (401, ["UNAUTHENTICATED"]), bad[:40]
    # The server still answers a normal request right after.
    assert (await gql(client, ME, token=good)).json()["data"]["me"]["name"] == "Carol"


async def test_a_malformed_authorization_header_is_unauthenticated(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_only_admins_assign_roles(client: httpx.AsyncClient, world: World) -> None:
    mutation = "mutation($u: ID!) { assignRoles(userId: $u, roles: [STAFF]) { roles } }"
    variables = {"u": gid("User", world.bob)}
    as_alice = await client.post(
        "/graphql",
        json={"query": mutation, "variables": variables},
        headers={"X-Debug-User": str(world.alice)},
    )
    assert codes(as_alice) == ["FORBIDDEN"]
    as_admin = await client.post(
        "/graphql",
        json={"query": mutation, "variables": variables},
        headers={"X-Debug-User": str(world.admin)},
    )
    assert as_admin.json() == {"data": {"assignRoles": {"roles": ["STAFF"]}}}


async def test_jwks_is_published(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    # HS256 (the default) has no public key to publish.
    assert (response.status_code, response.json()) == (200, {"keys": []})
