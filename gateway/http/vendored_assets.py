"""Front-end assets vendored from npm and served by the gateway itself (no CDN).

Each asset folder has a `MANIFEST.json` listing the npm files with their SRI hashes;
files we wrote ourselves are hashed as shipped. URLs carry `?v=<hash prefix>`, so a
changed file gets a new URL and versioned URLs can be cached for a year.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from html import escape
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

_IMMUTABLE = "public, max-age=31536000, immutable"


def sri_sha384(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Asset:
    """One vendored file: its served name, npm origin (`package@version`) and SRI hash."""

    name: str
    source: str
    integrity: str


class VendoredAssets:
    """One folder of vendored assets: integrity hashes, versioned URLs, a static app."""

    def __init__(self, directory: Path, own_files: Iterable[str] = ()) -> None:
        self.directory = directory
        self.manifest_path = directory / "MANIFEST.json"
        self._own_files = frozenset(own_files)
        self._integrity: dict[str, str] = {}

    @cached_property
    def manifest(self) -> dict[str, Asset]:
        """The npm assets by served name, read once from `MANIFEST.json`."""
        raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return {
            entry["name"]: Asset(entry["name"], entry["source"], entry["integrity"])
            for entry in raw["files"]
        }

    def integrity(self, name: str) -> str:
        if name not in self._integrity:
            self._integrity[name] = (
                sri_sha384((self.directory / name).read_bytes())
                if name in self._own_files
                else self.manifest[name].integrity
            )
        return self._integrity[name]

    def url(self, static_prefix: str, name: str) -> str:
        # base64 may contain '+' and '/', which would need escaping in a query string.
        version = self.integrity(name).removeprefix("sha384-")[:12]
        version = version.replace("+", "-").replace("/", "_")
        return f"{static_prefix.rstrip('/')}/{name}?v={version}"

    def head_tags(
        self,
        static_prefix: str,
        *,
        stylesheets: Iterable[str],
        scripts: Iterable[str],
        nonce: str,
    ) -> str:
        """`<link>` and deferred `<script>` tags with integrity and the CSP nonce."""
        attr = escape(nonce, quote=True)
        links = [
            f'    <link rel="stylesheet" href="{escape(self.url(static_prefix, name), quote=True)}"'
            f' integrity="{self.integrity(name)}" nonce="{attr}">'
            for name in stylesheets
        ]
        tags = [
            f'    <script src="{escape(self.url(static_prefix, name), quote=True)}"'
            f' integrity="{self.integrity(name)}" nonce="{attr}" defer></script>'
            for name in scripts
        ]
        return "\n".join([*links, *tags])

    def static_app(self) -> StaticFiles:
        """Serves the folder; `?v=` URLs get year-long immutable caching."""
        return VersionedStaticFiles(directory=self.directory)


class VersionedStaticFiles(StaticFiles):
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
