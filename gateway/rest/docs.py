"""The API reference page (`/docs`): Swagger UI served by the gateway, no CDN, nonce CSP.

The assets in `static/apidocs/` come from npm (`scripts/fetch_apidocs.sh`) and are listed
with their SRI hashes in `MANIFEST.json`; `init.js` and `init.css` are ours. The page has
no inline script or style.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from functools import cache
from html import escape
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent.parent / "static" / "apidocs"
MANIFEST_PATH = STATIC_DIR / "MANIFEST.json"
STATIC_PREFIX = "/static/apidocs"
_SCRIPTS = ("swagger-ui-bundle.js", "init.js")
_STYLESHEETS = ("swagger-ui.css", "init.css")
_OWN_FILES = frozenset({"init.js", "init.css"})
_IMMUTABLE = "public, max-age=31536000, immutable"


def sri_sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


@cache
def manifest() -> dict[str, str]:
    """Vendored file name → its SRI hash, read once from `MANIFEST.json`."""
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    return {entry["name"]: entry["integrity"] for entry in raw["files"]}


@cache
def integrity(name: str) -> str:
    if name in _OWN_FILES:
        return sri_sha384((STATIC_DIR / name).read_bytes())
    return manifest()[name]


def _url(name: str) -> str:
    version = integrity(name).removeprefix("sha384-")[:12].replace("+", "-").replace("/", "_")
    return f"{STATIC_PREFIX}/{name}?v={version}"


def render_page(*, openapi_url: str, nonce: str) -> str:
    attr = escape(nonce, quote=True)
    links = "\n".join(
        f'    <link rel="stylesheet" href="{_url(n)}" integrity="{integrity(n)}" nonce="{attr}">'
        for n in _STYLESHEETS
    )
    scripts = "\n".join(
        f'    <script src="{_url(n)}" integrity="{integrity(n)}" nonce="{attr}" defer></script>'
        for n in _SCRIPTS
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <link rel="icon" href="data:,">
    <title>API reference</title>
{links}
{scripts}
  </head>
  <body>
    <div id="swagger-ui" data-openapi="{escape(openapi_url, quote=True)}"></div>
  </body>
</html>
"""


def docs_csp(nonce: str) -> str:
    """Swagger UI sets element styles from script (allowed) and needs `data:` images (icons)."""
    source = f"'nonce-{nonce}'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {source}",
            f"style-src 'self' {source}",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class _VersionedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = "v" in QueryParams(scope["query_string"])
        response.headers["cache-control"] = _IMMUTABLE if versioned else "no-cache"
        return response


def docs_routes(path: str, openapi_url: str) -> list[BaseRoute]:
    """The reference page at `path` and its static assets."""

    async def page(_: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        return HTMLResponse(
            render_page(openapi_url=openapi_url, nonce=nonce),
            headers={"Content-Security-Policy": docs_csp(nonce)},
        )

    return [
        Route(path, page, methods=["GET"]),
        Mount(STATIC_PREFIX, app=_VersionedStaticFiles(directory=STATIC_DIR), name="apidocs"),
    ]
