"""GraphQL calls for account tests: register, log in, read error codes."""

from __future__ import annotations

from typing import Any

import httpx

PASSWORD = "Correct-Horse-7-Battery"
AUTH_FIELDS = "accessToken refreshToken expiresIn user { name email roles }"
REGISTER = f"""mutation($input: RegisterInput!) {{ register(input: $input) {{ {AUTH_FIELDS} }} }}"""
LOGIN = f"""mutation($e: String!, $p: String!) {{
  login(email: $e, password: $p) {{ {AUTH_FIELDS} }} }}"""
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }"
ME = "{ me { name email } }"


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


async def register(client: httpx.AsyncClient, email: str = "carol@example.com") -> dict[str, Any]:
    response = await gql(
        client, REGISTER, {"input": {"email": email, "password": PASSWORD, "name": "Carol"}}
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["register"]
    return payload
