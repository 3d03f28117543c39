"""The GraphiQL IDE served by the gateway itself: vendored assets, no CDN, strict CSP with a nonce.

The assets in `static/graphiql/` come from npm (`scripts/fetch_graphiql.sh`) and are listed with
their SRI hashes in `MANIFEST.json`; `init.js` and `init.css` are ours. The page has no inline
script or style, so the CSP needs neither `'unsafe-inline'` nor `'unsafe-eval'`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static" / "graphiql"
MANIFEST_PATH = STATIC_DIR / "MANIFEST.json"
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

# A year, immutable: every URL carries `?v=<hash prefix>`, so changed content gets a new URL.
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class Asset:
    """One vendored file: its served name, npm origin (`package@version`) and SRI hash."""

    name: str
    source: str
    integrity: str


def sri_sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


@cache
def manifest() -> dict[str, Asset]:
    """The vendored assets by served name, read once from `MANIFEST.json`."""
    raw = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    return {
        entry["name"]: Asset(entry["name"], entry["source"], entry["integrity"])
        for entry in raw["files"]
    }


@cache
def _integrity(name: str) -> str:
    if name in _OWN_FILES:
        return sri_sha384((STATIC_DIR / name).read_bytes())
    return manifest()[name].integrity


def _url(static_prefix: str, name: str) -> str:
    version = _integrity(name).removeprefix("sha384-")[:12]
    # base64 may contain '+' and '/', which would need escaping in a query string.
    version = version.replace("+", "-").replace("/", "_")
    return f"{static_prefix.rstrip('/')}/{name}?v={version}"


def render_graphiql_page(*, endpoint: str, static_prefix: str, nonce: str) -> str:
    """The GraphiQL HTML page; pair it with `graphiql_csp(nonce)` as its CSP header."""
    attr_nonce = escape(nonce, quote=True)
    links = "\n".join(
        f'    <link rel="stylesheet" href="{escape(_url(static_prefix, name), quote=True)}"'
        f' integrity="{_integrity(name)}" nonce="{attr_nonce}">'
        for name in (*_STYLESHEETS, INIT_STYLESHEET)
    )
    scripts = "\n".join(
        f'    <script src="{escape(_url(static_prefix, name), quote=True)}"'
        f' integrity="{_integrity(name)}" nonce="{attr_nonce}" defer></script>'
        for name in (*_SCRIPTS, INIT_SCRIPT)
    )
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <link rel="icon" href="data:,">
    <title>GraphiQL</title>
{links}
{scripts}
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


class _VersionedStaticFiles(StaticFiles):
    def file_response(
        self,
        full_path: PathLike,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        # Only a versioned URL may be cached forever; a bare one must revalidate (ETag).
        versioned = "v" in QueryParams(scope["query_string"])
        response.headers["cache-control"] = _IMMUTABLE if versioned else "no-cache"
        return response


def graphiql_static_app() -> StaticFiles:
    """A Starlette app serving `static/graphiql/`; `?v=` URLs get year-long immutable caching."""
    return _VersionedStaticFiles(directory=STATIC_DIR)
