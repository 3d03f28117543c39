"""The OpenAPI document's shape and the self-hosted API reference page."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from gateway.rest import docs

STATIC = Path(docs.__file__).parent.parent / "static" / "apidocs"


async def test_openapi_describes_types_security_and_errors(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    get_item = document["paths"]["/api/v1/items/{id}"]["get"]
    assert get_item["parameters"] == [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "An opaque global id, as this API returns it (`id` of an object)."
            " An id that names no object the caller may see is answered 404.",
        }
    ]
    item = get_item["responses"]["200"]["content"]["application/json"]["schema"]
    assert item["required"] == [
        "id", "sku", "name", "description", "price", "stock", "active", "createdAt"
    ]  # fmt: skip
    assert item["properties"]["createdAt"] == {"type": "string", "format": "date-time"}
    assert item["properties"]["price"]["properties"]["amount"]["type"] == "string"
    assert get_item["responses"]["404"] == {
        "description": "Not found, or not visible to the caller",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    statuses = document["paths"]["/api/v1/orders/{id}/status"]["patch"]["requestBody"]
    assert statuses["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"status": {"$ref": "#/components/schemas/OrderStatus"}},
        "required": ["status"],
        "additionalProperties": False,
    }
    list_params = {p["name"] for p in document["paths"]["/api/v1/items"]["get"]["parameters"]}
    assert {"first", "after", "orderBy", "filter[nameContains]"} <= list_params
    assert sorted(document["paths"]["/api/v1/auth/login"]) == ["post"]
    assert document["paths"]["/api/v1/items/{id}"]["delete"]["responses"]["204"] == {
        "description": "Delete an item no order references (staff).",
        "headers": {
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored answer to an earlier request"
                " with the same Idempotency-Key.",
                "schema": {"type": "string"},
            }
        },
    }


async def test_the_reference_page_is_self_hosted_under_a_nonce_csp(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    csp = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce is not None
    sources = re.findall(r'(?:src|href)="(/static/apidocs/[^"]+)"', page.text)
    assert [s.split("?")[0] for s in sources] == [
        "/static/apidocs/swagger-ui.css",
        "/static/apidocs/init.css",
        "/static/apidocs/swagger-ui-bundle.js",
        "/static/apidocs/init.js",
    ]
    assert "http" not in "".join(sources)
    assert page.text.count(f'nonce="{nonce.group(1)}"') == 4
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_the_vendored_assets_match_their_manifest() -> None:
    for name, integrity in docs.manifest().items():
        assert docs.sri_sha384((STATIC / name).read_bytes()) == integrity, name
