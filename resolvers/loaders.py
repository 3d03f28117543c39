"""Per-request dataloaders: every relationship is fetched in one batched statement.

Loaders are built inside the running event loop for each request (aiodataloader
binds the loop at construction), and they hold one principal's view of the data,
so a cache is never shared between callers.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, Protocol

from aiodataloader import DataLoader

from domain.errors import UpstreamUnavailableError
from domain.model import Through
from domain.paging import Page, PageRequest
from domain.principals import Principal
from domain.services.entities import EntityService
from domain.specifications import Specification
from domain.upstreams import UpstreamFetcher, UpstreamSource

# Wraps every batch, given the loader's name and the number of keys: the composition
# root passes one in (metrics, spans), so resolvers know nothing of either.
type BatchObserver = Callable[[str, int], AbstractContextManager[object]]


def _unobserved(_loader: str, _size: int) -> AbstractContextManager[object]:
    return nullcontext()


def _observed[L: DataLoader[Any, Any]](loader: L, name: str, observe: BatchObserver) -> L:
    batch_load = loader.batch_load_fn

    async def observed_batch(keys: list[Any]) -> list[Any]:
        with observe(name, len(keys)):
            return list(await batch_load(keys))

    loader.batch_load_fn = observed_batch
    return loader


class _GetMany[T](Protocol):
    """A service's batched read for one principal (`get_many`)."""

    async def get_many(self, principal: Principal, ids: Sequence[int]) -> Mapping[int, T]: ...


class _ByIdLoader[T](DataLoader[int, T | None]):
    """Loads entities by id through a service's `get_many`; unknown ids give None."""

    def __init__(self, fetch: Callable[[Sequence[int]], Awaitable[Mapping[int, T]]]) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._fetch = fetch

    async def batch_load_fn(self, keys: list[int]) -> list[T | None]:
        found = await self._fetch(keys)
        return [found.get(key) for key in keys]


type ChildrenKey = tuple[int, Specification, PageRequest]
type ChildCountKey = tuple[int, Specification]


# A service's batched read of one relationship, bound to its principal and relation:
# pages (or counts) per owner id, for owners sharing one filter (and page request).
type PagesFetch = Callable[
    [list[int], Specification, PageRequest], Awaitable[Mapping[int, Page[Any]]]
]
type CountsFetch = Callable[[list[int], Specification], Awaitable[Mapping[int, int]]]


class _PagesLoader(DataLoader[ChildrenKey, Page[Any]]):
    """A page of related entities per owner (one-to-many, or many-to-many through an
    association); one statement per filter and page request."""

    def __init__(self, fetch: PagesFetch) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._fetch = fetch

    async def batch_load_fn(self, keys: list[ChildrenKey]) -> list[Page[Any]]:
        groups: dict[tuple[Specification, PageRequest], list[int]] = defaultdict(list)
        for owner, spec, request in keys:
            groups[spec, request].append(owner)
        pages: dict[ChildrenKey, Page[Any]] = {}
        empty: Page[Any] = Page((), (), has_next_page=False, has_previous_page=False)
        for (spec, request), owners in groups.items():
            found = await self._fetch(owners, spec, request)
            for owner in owners:
                pages[owner, spec, request] = found.get(owner, empty)
        return [pages[key] for key in keys]


class _CountsLoader(DataLoader[ChildCountKey, int]):
    """The number of related entities per owner; one statement per filter."""

    def __init__(self, fetch: CountsFetch) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._fetch = fetch

    async def batch_load_fn(self, keys: list[ChildCountKey]) -> list[int]:
        groups: dict[Specification, list[int]] = defaultdict(list)
        for owner, spec in keys:
            groups[spec].append(owner)
        counts: dict[ChildCountKey, int] = {}
        for spec, owners in groups.items():
            found = await self._fetch(owners, spec)
            for owner in owners:
                counts[owner, spec] = found.get(owner, 0)
        return [counts[key] for key in keys]


class _RowsLoader(DataLoader[int, list[Any]]):
    """Every related entity per owner, by id (what a computed sum reads)."""

    def __init__(self, service: EntityService, key: str, principal: Principal) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self._service, self._key, self._principal = service, key, principal

    async def batch_load_fn(self, keys: list[int]) -> list[list[Any]]:
        found = await self._service.rows_per(self._principal, self._key, keys)
        return [list(found.get(owner, ())) for owner in keys]


class _UpstreamLoader[K, V](DataLoader[K, V | None]):
    """A declared upstream source by key: every key a request needs, in one call per
    `max_batch` keys; a key the upstream does not know is None."""

    def __init__(self, source: UpstreamSource[K, V], fetcher: UpstreamFetcher | None) -> None:
        super().__init__(loop=asyncio.get_running_loop(), max_batch_size=source.max_batch)
        self._source, self._fetcher = source, fetcher

    async def batch_load_fn(self, keys: list[K]) -> list[V | None]:
        if self._fetcher is None:
            raise UpstreamUnavailableError(self._source.upstream, "not configured")
        found = await self._fetcher.fetch(self._source, keys)
        return [found.get(key) for key in keys]


class Loaders:
    """One request's dataloaders, each made on first use.

    Most requests need one loader or none (a planned or prepared answer needs none):
    making them all up front was a measurable share of a small request's time.
    """

    def __init__(
        self,
        principal: Principal,
        *,
        entities: Mapping[str, EntityService] | None = None,
        upstreams: UpstreamFetcher | None = None,
        observe: BatchObserver = _unobserved,
    ) -> None:
        self._principal, self._observe = principal, observe
        self._entities = entities or {}
        self._upstreams = upstreams
        self._declared: dict[tuple[str, str], DataLoader[Any, Any]] = {}
        self._sources: dict[str, DataLoader[Any, Any]] = {}

    def entity(self, name: str) -> DataLoader[int, Any]:
        """A declared entity by id (None when missing or hidden from the caller); the
        loader is named by the entity's plural (`items`) in metrics and spans."""
        found = self._declared.get((name, ""))
        if found is None:
            service = self._entities[name]
            found = self._declared[name, ""] = self._by_id(service, service.model.plural)
        return found

    def children(self, name: str, key: str) -> DataLoader[ChildrenKey, Page[Any]]:
        """Pages of the declared entity `name` by the owner id in its attribute `key`."""
        found = self._declared.get((name, key))
        if found is None:
            loader = _PagesLoader(partial(self._entities[name].page_per, self._principal, key))
            found = self._declared[name, key] = _observed(loader, f"{name}.{key}", self._observe)
        return found

    def child_counts(self, name: str, key: str) -> DataLoader[ChildCountKey, int]:
        found = self._declared.get((name, f"#{key}"))
        if found is None:
            loader = _CountsLoader(partial(self._entities[name].count_per, self._principal, key))
            found = self._declared[name, f"#{key}"] = _observed(
                loader, f"{name}.{key}.count", self._observe
            )
        return found

    def rows(self, name: str, key: str) -> DataLoader[int, list[Any]]:
        """Every row of the declared entity `name` by the owner id in its attribute `key`."""
        found = self._declared.get((name, f"*{key}"))
        if found is None:
            loader = _RowsLoader(self._entities[name], key, self._principal)
            found = self._declared[name, f"*{key}"] = _observed(
                loader, f"{name}.{key}.rows", self._observe
            )
        return found

    def linked(self, name: str, through: Through) -> DataLoader[ChildrenKey, Page[Any]]:
        """Pages of the declared entity `name` linked to an owner by the association
        rows `through` (a many-to-many)."""
        slot = (name, f"~{through.entity}.{through.key}")
        found = self._declared.get(slot)
        if found is None:
            service = self._entities[name]
            loader = _PagesLoader(partial(service.page_through, self._principal, through))
            found = self._declared[slot] = _observed(
                loader, f"{name}.{through.entity}.{through.key}", self._observe
            )
        return found

    def linked_counts(self, name: str, through: Through) -> DataLoader[ChildCountKey, int]:
        slot = (name, f"#~{through.entity}.{through.key}")
        found = self._declared.get(slot)
        if found is None:
            service = self._entities[name]
            loader = _CountsLoader(partial(service.count_through, self._principal, through))
            found = self._declared[slot] = _observed(
                loader, f"{name}.{through.entity}.{through.key}.count", self._observe
            )
        return found

    def _by_id[T](self, service: _GetMany[T], name: str) -> DataLoader[int, T | None]:
        principal = self._principal
        loader = _ByIdLoader(lambda ids: service.get_many(principal, ids))
        return _observed(loader, name, self._observe)

    def upstream[K, V](self, source: UpstreamSource[K, V]) -> DataLoader[K, V | None]:
        """A declared upstream source's value by key (None when the upstream does not
        know the key); the loader is named by the source in metrics and spans."""
        found = self._sources.get(source.name)
        if found is None:
            loader = _UpstreamLoader(source, self._upstreams)
            found = self._sources[source.name] = _observed(loader, source.name, self._observe)
        return found


def build_loaders(
    principal: Principal,
    *,
    entities: Mapping[str, EntityService] | None = None,
    upstreams: UpstreamFetcher | None = None,
    observe: BatchObserver | None = None,
) -> Loaders:
    """A fresh set of loaders for one request (use them inside the running event loop);
    without `observe`, batches are not observed."""
    return Loaders(
        principal,
        entities=entities,
        upstreams=upstreams,
        observe=_unobserved if observe is None else observe,
    )
