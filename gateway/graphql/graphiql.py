"""The GraphiQL IDE served by the gateway itself: vendored assets, no CDN, strict CSP with a nonce.

The assets in `static/graphiql/` come from npm (`scripts/fetch_graphiql.sh`) and are listed with
their SRI hashes in `MANIFEST.json`; `init.js` and `init.css` are ours. The page has no inline
script or style, so the CSP needs neither `'unsafe-inline'` nor `'unsafe-eval'`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.staticfiles import StaticFiles

from gateway.http.vendored_assets import Asset, VendoredAssets, sri_sha384

STATIC_DIR = Path(__file__).parent.parent / "static" / "graphiql"
INIT_SCRIPT = "init.js"
INIT_STYLESHEET = "init.css"
# Ours, not npm's, so not in the manifest: hashed as shipped.
_OWN_FILES = (INIT_SCRIPT, INIT_STYLESHEET)

# Load order matters: the UMD bundles read the `React`, `ReactDOM` and `GraphiQL` globals.
_SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.umd.js",
    "plugin-explorer.umd.js",
)
_STYLESHEETS = ("graphiql.css", "plugin-explorer.css")

ASSETS = VendoredAssets(STATIC_DIR, own_files=_OWN_FILES)
MANIFEST_PATH = ASSETS.manifest_path
__all__ = ["MANIFEST_PATH", "STATIC_DIR", "Asset", "graphiql_csp", "manifest", "sri_sha384"]


def manifest() -> dict[str, Asset]:
    """The vendored npm assets by served name."""
    return ASSETS.manifest


def render_graphiql_page(*, endpoint: str, static_prefix: str, nonce: str) -> str:
    """The GraphiQL HTML page; pair it with `graphiql_csp(nonce)` as its CSP header."""
    head = ASSETS.head_tags(
        static_prefix,
        stylesheets=(*_STYLESHEETS, INIT_STYLESHEET),
        scripts=(*_SCRIPTS, INIT_SCRIPT),
        nonce=nonce,
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <link rel="icon" href="data:,">
    <title>GraphiQL</title>
{head}
  </head>
  <body>
    <div id="graphiql" data-endpoint="{escape(endpoint, quote=True)}">Loading GraphiQL…</div>
  </body>
</html>
"""


def graphiql_csp(nonce: str) -> str:
    """The Content-Security-Policy for the page rendered with the same `nonce`.

    Styles need the nonce too, not only `'self'`: react-remove-scroll (used by GraphiQL's
    dialogs and menus) injects a `<style>` element carrying `__webpack_nonce__`, which
    `init.js` sets from its own script nonce. `connect-src` allows ws:/wss: for subscriptions.
    """
    source = f"'nonce-{nonce}'"
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src 'self' {source}",
            f"style-src 'self' {source}",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self' ws: wss:",
            "worker-src 'self' blob:",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def graphiql_static_app() -> StaticFiles:
    """A Starlette app serving `static/graphiql/`; `?v=` URLs get year-long immutable caching."""
    return ASSETS.static_app()
