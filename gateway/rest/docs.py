"""The API reference page (`/docs`): Swagger UI served by the gateway, no CDN, nonce CSP.

The assets in `static/apidocs/` come from npm (`scripts/fetch_apidocs.sh`) and are listed
with their SRI hashes in `MANIFEST.json`; `init.js` and `init.css` are ours. The page has
no inline script or style.
"""

from __future__ import annotations

import secrets
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.http.vendored_assets import VendoredAssets, sri_sha384

STATIC_DIR = Path(__file__).parent.parent / "static" / "apidocs"
MANIFEST_PATH = STATIC_DIR / "MANIFEST.json"
STATIC_PREFIX = "/static/apidocs"
_SCRIPTS = ("swagger-ui-bundle.js", "init.js")
_STYLESHEETS = ("swagger-ui.css", "init.css")
ASSETS = VendoredAssets(STATIC_DIR, own_files=("init.js", "init.css"))
__all__ = ["ASSETS", "docs_routes", "integrity", "manifest", "sri_sha384"]


def manifest() -> dict[str, str]:
    """Vendored file name → its SRI hash."""
    return {name: asset.integrity for name, asset in ASSETS.manifest.items()}


def integrity(name: str) -> str:
    return ASSETS.integrity(name)


def render_page(*, openapi_url: str, nonce: str) -> str:
    head = ASSETS.head_tags(STATIC_PREFIX, stylesheets=_STYLESHEETS, scripts=_SCRIPTS, nonce=nonce)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <link rel="icon" href="data:,">
    <title>API reference</title>
{head}
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
        Mount(STATIC_PREFIX, app=ASSETS.static_app(), name="apidocs"),
    ]
