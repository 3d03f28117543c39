"""The self-hosted GraphiQL page: vendored assets match the manifest, the page is CSP-clean."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from gateway.graphql import graphiql

NONCE = "dGVzdC1ub25jZQ"
STATIC_PREFIX = "/static/graphiql"


class _Tag:
    def __init__(self, name: str, attrs: list[tuple[str, str | None]]) -> None:
        self.name = name
        self.attrs = dict(attrs)
        self.text = ""


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[_Tag] = []
        self._open: list[_Tag] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Tag(tag, attrs)
        self.tags.append(element)
        self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().name != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].text += data


def _parse(page: str) -> list[_Tag]:
    parser = _PageParser()
    parser.feed(page)
    parser.close()
    return parser.tags


def _render(endpoint: str = "/graphql") -> str:
    return graphiql.render_graphiql_page(
        endpoint=endpoint, static_prefix=STATIC_PREFIX, nonce=NONCE
    )


def _asset_urls(tags: list[_Tag]) -> dict[str, str]:
    """Each referenced asset URL with the integrity the page declares for it."""
    urls: dict[str, str] = {}
    for tag in tags:
        url = tag.attrs.get("src") if tag.name == "script" else None
        if tag.name == "link" and tag.attrs.get("rel") == "stylesheet":
            url = tag.attrs.get("href")
        if url is not None:
            urls[url] = tag.attrs.get("integrity") or ""
    return urls


def test_the_manifest_lists_the_pinned_npm_files() -> None:
    sources = {name: asset.source for name, asset in graphiql.manifest().items()}

    assert sources == {
        "react.production.min.js": "react@18.3.1",
        "react-dom.production.min.js": "react-dom@18.3.1",
        "graphiql.umd.js": "graphiql@4.1.2",
        "graphiql.css": "graphiql@4.1.2",
        "plugin-explorer.umd.js": "@graphiql/plugin-explorer@4.0.6",
        "plugin-explorer.css": "@graphiql/plugin-explorer@4.0.6",
    }


def test_every_manifest_file_exists_and_matches_its_sha384() -> None:
    assets = graphiql.manifest().values()

    actual = {
        asset.name: graphiql.sri_sha384((graphiql.STATIC_DIR / asset.name).read_bytes())
        for asset in assets
    }

    assert actual == {asset.name: asset.integrity for asset in assets}


def test_the_manifest_file_is_the_one_the_module_reads() -> None:
    raw = json.loads(graphiql.MANIFEST_PATH.read_text(encoding="utf-8"))

    assert [entry["name"] for entry in raw["files"]] == list(graphiql.manifest())


def test_each_vendored_package_ships_its_mit_licence() -> None:
    licences = sorted(path.name for path in graphiql.STATIC_DIR.glob("LICENSE.*"))

    assert licences == [
        "LICENSE.graphiql",
        "LICENSE.graphiql-explorer",
        "LICENSE.plugin-explorer",
        "LICENSE.react",
        "LICENSE.react-dom",
    ]
    for name in licences:
        assert "MIT License" in (graphiql.STATIC_DIR / name).read_text(encoding="utf-8"), name


def test_the_page_references_no_remote_url() -> None:
    assert re.findall(r"https?://", _render()) == []


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    tags = _parse(_render())

    assert [tag.name for tag in tags if tag.name == "style"] == []
    assert [tag.text for tag in tags if tag.name == "script" and tag.text.strip()] == []
    inline_attrs = [
        (tag.name, attr)
        for tag in tags
        for attr in tag.attrs
        if attr == "style" or attr.startswith("on")
    ]
    assert inline_attrs == []


def test_every_script_and_stylesheet_carries_the_nonce_and_integrity() -> None:
    tags = [
        tag
        for tag in _parse(_render())
        if tag.name == "script" or (tag.name == "link" and tag.attrs.get("rel") == "stylesheet")
    ]

    expected_names = [
        "graphiql.css",
        "plugin-explorer.css",
        "init.css",
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.umd.js",
        "plugin-explorer.umd.js",
        "init.js",
    ]
    attrs = [
        (
            (tag.attrs.get("src") or tag.attrs.get("href") or "").split("?")[0],
            tag.attrs.get("nonce"),
            tag.attrs.get("integrity"),
        )
        for tag in tags
    ]
    assert attrs == [
        (
            f"{STATIC_PREFIX}/{name}",
            NONCE,
            graphiql.sri_sha384((graphiql.STATIC_DIR / name).read_bytes()),
        )
        for name in expected_names
    ]


def test_the_endpoint_is_passed_as_an_escaped_data_attribute() -> None:
    endpoint = '/graphql?x="><script>alert(1)</script>'

    page = _render(endpoint)

    roots = [tag.attrs for tag in _parse(page) if tag.attrs.get("id") == "graphiql"]
    assert roots == [{"id": "graphiql", "data-endpoint": endpoint}]
    assert "<script>alert" not in page


def test_the_csp_allows_only_self_and_the_nonce() -> None:
    assert graphiql.graphiql_csp("abc") == (
        "default-src 'none'; script-src 'self' 'nonce-abc'; style-src 'self' 'nonce-abc'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self' ws: wss:; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _app() -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            _render(), headers={"content-security-policy": graphiql.graphiql_csp(NONCE)}
        )

    return Starlette(
        routes=[
            Route("/graphiql", page),
            Mount(STATIC_PREFIX, app=graphiql.graphiql_static_app()),
        ]
    )


async def test_the_served_page_carries_its_csp_and_every_asset_is_served() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/graphiql")
        integrity = _asset_urls(_parse(response.text))
        assets = {url: await client.get(url) for url in integrity}

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == graphiql.graphiql_csp(NONCE)
    served = {
        url.split("?")[0].rsplit("/", 1)[1]: (
            asset.status_code,
            asset.headers["content-type"],
            asset.headers["cache-control"],
            graphiql.sri_sha384(asset.content) == integrity[url],
        )
        for url, asset in assets.items()
    }
    js = "text/javascript; charset=utf-8"
    css = "text/css; charset=utf-8"
    immutable = "public, max-age=31536000, immutable"
    assert served == {
        "graphiql.css": (200, css, immutable, True),
        "plugin-explorer.css": (200, css, immutable, True),
        "init.css": (200, css, immutable, True),
        "react.production.min.js": (200, js, immutable, True),
        "react-dom.production.min.js": (200, js, immutable, True),
        "graphiql.umd.js": (200, js, immutable, True),
        "plugin-explorer.umd.js": (200, js, immutable, True),
        "init.js": (200, js, immutable, True),
    }


async def test_an_unversioned_asset_url_must_revalidate() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(f"{STATIC_PREFIX}/init.js")

    assert (response.status_code, response.headers["cache-control"]) == (200, "no-cache")
