"""Persisted queries: Apollo's automatic persisted queries (APQ) and trusted documents.

APQ: a client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without the
query; an unknown hash answers `PERSISTED_QUERY_NOT_FOUND` and the client retries with
the query, which is checked against the hash and stored (Redis with a TTL when
REDIS__URL is set, else an in-process LRU). Trusted documents
(GRAPHQL__TRUSTED_DOCUMENTS): only the documents of a `{sha256: document}` manifest
run; anything else answers `PERSISTED_QUERY_NOT_ALLOWED`.

A hash resolves to the very text first registered, so the parser and validation
caches (keyed on that text) answer a known operation without parsing or validating.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.settings import SettingsError

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
INVALID = "PERSISTED_QUERY_INVALID"
RETRY_AFTER_SECONDS = 5.0


class PersistedQueryError(Exception):
    """The persisted-query part of a request cannot be honoured.

    `document_error` errors are answered like a GraphQL document error (200 for
    application/json, 400 for application/graphql-response+json) because clients
    recover from them (APQ retries with the query); the others are plain 400s.
    """

    def __init__(self, code: str, message: str, *, document_error: bool) -> None:
        super().__init__(message)
        self.code, self.document_error = code, document_error


def document_hash(document: str) -> str:
    """The APQ key of a document: lowercase hex SHA-256 of its UTF-8 text."""
    return hashlib.sha256(document.encode()).hexdigest()


class DocumentStore(Protocol):
    """Where registered APQ documents live, by hash."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, document: str) -> None: ...


class MemoryDocumentStore:
    """A bounded LRU in this process; a hash maps to one text forever, so it never goes stale."""

    def __init__(self, maxsize: int = 1_000) -> None:
        self._maxsize = maxsize
        self._documents: OrderedDict[str, str] = OrderedDict()

    async def get(self, key: str) -> str | None:
        return self.peek(key)

    def peek(self, key: str) -> str | None:
        document = self._documents.get(key)
        if document is not None:
            self._documents.move_to_end(key)
        return document

    async def put(self, key: str, document: str) -> None:
        self.remember(key, document)

    def remember(self, key: str, document: str) -> None:
        self._documents[key] = document
        self._documents.move_to_end(key)
        while len(self._documents) > self._maxsize:
            self._documents.popitem(last=False)


class RedisDocumentStore:
    """Shared across replicas with a TTL, behind a local LRU that spares a round trip.

    The local copy cannot go stale (content-addressed). A Redis failure reads as a miss
    (the client resends the query) and a failed write is dropped: APQ is an optimisation.
    After a failure Redis is left alone for `retry_after_seconds`: a Redis that hangs
    costs each call its socket timeouts and retries (2.4 s), not each request.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: int,
        prefix: str = "apq:",
        local_size: int = 1_000,
        retry_after_seconds: float = RETRY_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis, self._ttl, self._prefix = redis, ttl_seconds, prefix
        self._local = MemoryDocumentStore(local_size)
        self._retry_after, self._clock = retry_after_seconds, clock
        self._down_until = 0.0

    async def get(self, key: str) -> str | None:
        document = self._local.peek(key)
        if document is not None or self._clock() < self._down_until:
            return document
        try:
            raw = await self._redis.get(self._prefix + key)
        except RedisError:
            self._down_until = self._clock() + self._retry_after
            return None
        if raw is None:
            return None
        document = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._local.remember(key, document)
        return document

    async def put(self, key: str, document: str) -> None:
        self._local.remember(key, document)
        if self._clock() < self._down_until:
            return
        try:
            await self._redis.set(self._prefix + key, document, ex=self._ttl)
        except RedisError:
            self._down_until = self._clock() + self._retry_after


APOLLO_MANIFEST_FORMAT = "apollo-persisted-query-manifest"
SHA256_PREFIX = "sha256:"


def _manifest_entries(raw: object, path: Path) -> list[tuple[str, object]]:
    """(hash, document) pairs of the three manifest formats the usual generators write.

    - a flat `{sha256: document}` map;
    - Apollo's `generate-persisted-query-manifest` (`{format, version, operations:
      [{id, name, type, body}]}`);
    - GraphQL Codegen client-preset's `persisted-documents.json` (`{"sha256:<hash>":
      document}`, the GraphQL-over-HTTP persisted documents' id form).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must be a JSON object (a hash-to-document map or a manifest)")
    if raw.get("format") == APOLLO_MANIFEST_FORMAT:
        if raw.get("version") != 1:
            raise ValueError(f"{path}: only version 1 of Apollo's manifest format is known")
        operations = raw.get("operations")
        if not isinstance(operations, list):
            raise ValueError(f"{path}: `operations` must be a list")
        entries: list[tuple[str, object]] = []
        for operation in operations:
            if not isinstance(operation, dict) or not isinstance(operation.get("id"), str):
                raise ValueError(f"{path}: every operation needs an `id` and a `body`")
            entries.append((operation["id"], operation.get("body")))
        return entries
    return [(key, document) for key, document in raw.items()]


def load_manifest(path: Path) -> dict[str, str]:
    """Read a trusted-documents manifest (see `_manifest_entries` for the formats) into
    `{sha256: document}`; raises ValueError naming the first bad entry."""
    try:
        raw = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except orjson.JSONDecodeError:
        raise ValueError(f"{path} is not valid JSON") from None
    manifest: dict[str, str] = {}
    for key, document in _manifest_entries(raw, path):
        digest = key.lower().removeprefix(SHA256_PREFIX)
        if not isinstance(document, str) or document_hash(document) != digest:
            raise ValueError(f"{path}: the entry {key!r} is not the sha256 of its document")
        manifest[digest] = document
    return manifest


def _document_id(value: object) -> str:
    """`sha256:<hex>` (or the bare hex) of a GraphQL-over-HTTP `documentId`."""
    digest = value.lower().removeprefix(SHA256_PREFIX) if isinstance(value, str) else ""
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise PersistedQueryError(
            INVALID, "documentId must be sha256:<64 hex digits>", document_error=False
        )
    return digest


def _persisted_hash(params: Mapping[str, Any]) -> str | None:
    if params.get("documentId") is not None:
        return _document_id(params["documentId"])
    extensions = params.get("extensions")
    if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise PersistedQueryError(
            INVALID, "persistedQuery must be {version: 1, sha256Hash}", document_error=False
        )
    key = persisted.get("sha256Hash")
    if not isinstance(key, str) or len(key) != 64:
        raise PersistedQueryError(
            INVALID, "persistedQuery.sha256Hash must be 64 hex digits", document_error=False
        )
    return key.lower()


class PersistedQueries:
    """Turns a request's hash into its document, per the APQ or trusted-documents rules."""

    def __init__(self, store: DocumentStore, trusted: Mapping[str, str] | None = None) -> None:
        self._store = store
        self._trusted = dict(trusted) if trusted is not None else None
        self._trusted_texts = frozenset(self._trusted.values()) if self._trusted else frozenset()

    @property
    def trusted_only(self) -> bool:
        return self._trusted is not None

    async def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """The request with its `query` filled in; raises PersistedQueryError."""
        key = _persisted_hash(params)
        query = params.get("query")
        if self._trusted is not None:
            return self._resolve_trusted(params, key, query)
        if key is None:
            return params
        if isinstance(query, str) and query:
            if document_hash(query) != key:
                raise PersistedQueryError(
                    HASH_MISMATCH,
                    "the query's sha256 does not match persistedQuery.sha256Hash",
                    document_error=False,
                )
            await self._store.put(key, query)
            return params
        document = await self._store.get(key)
        if document is None:
            raise PersistedQueryError(NOT_FOUND, "PersistedQueryNotFound", document_error=True)
        return {**params, "query": document}

    def _resolve_trusted(
        self, params: dict[str, Any], key: str | None, query: object
    ) -> dict[str, Any]:
        assert self._trusted is not None
        if key is None:
            # The full text of a trusted document is as good as its hash.
            if isinstance(query, str) and query in self._trusted_texts:
                return params
            raise PersistedQueryError(
                NOT_ALLOWED, "only trusted documents may run on this server", document_error=True
            )
        document = self._trusted.get(key)
        if document is None:
            raise PersistedQueryError(
                NOT_ALLOWED, "the document is not in the trusted list", document_error=True
            )
        if isinstance(query, str) and query and query != document:
            raise PersistedQueryError(
                HASH_MISMATCH,
                "the query's sha256 does not match persistedQuery.sha256Hash",
                document_error=False,
            )
        # The manifest's own string object: the parser cache hits on it.
        return {**params, "query": document}


def build_persisted_queries(
    *,
    enabled: bool,
    trusted_documents: Path | None,
    redis: Redis | None,
    ttl_seconds: int,
    cache_size: int,
) -> PersistedQueries | None:
    """APQ (Redis when available), trusted documents when a manifest is set, or None.

    Raises SettingsError when the manifest cannot be read or an entry's hash is wrong.
    """
    if trusted_documents is not None:
        try:
            manifest = load_manifest(trusted_documents)
        except ValueError as exc:
            raise SettingsError(f"invalid setting GRAPHQL__TRUSTED_DOCUMENTS: {exc}") from None
        return PersistedQueries(MemoryDocumentStore(1), manifest)
    if not enabled:
        return None
    store: DocumentStore = (
        RedisDocumentStore(redis, ttl_seconds=ttl_seconds, local_size=cache_size)
        if redis is not None
        else MemoryDocumentStore(cache_size)
    )
    return PersistedQueries(store)
