"""The catalog/tenant router: which server and database hold a workspace, and its keys.

`TenantDirectory.get(slug)` is cached for a couple of seconds, so closing a workspace stops its
logins and keys across processes within that time (and at once in the process that closed it). The cache
is bounded (least recently used first out), and unknown slugs, which anyone can make up, are kept in a
smaller bound of their own so they never push real workspaces out.

Past the TTL the catalog is always read again (one query: the workspace row and its wrapped keys); when that
row and those keys are exactly what the cached `Tenant` was built from, the cached one is kept (its unwrapped
keys and derived index keys included) instead of unwrapping every key again. The same query also reads up to
`refresh_ahead` other cached workspaces whose entries are past half their TTL (least recently used first): an
unchanged one is fresh again, a changed, closed or missing one is dropped (read afresh on its next use). A
process serving many workspaces so reads the catalog once per `refresh_ahead` of them, and no entry is ever
used older than the TTL.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import crypto
from db.models import Workspace
from db.sessions import EngineRouter, server_admin

# What a Tenant is built from: the workspace's catalog row and its wrapped data keys (versions ascending).
CatalogRow = Row[Any]
CATALOG_ROW = text(
    "select w.id, w.slug, w.name, w.region, w.database_name, w.status, w.purge_after, w.current_key_version, "
    "w.wrapped_index_key, "
    "array(select k.version from data_keys k where k.workspace_id = w.id order by k.version) as key_versions, "
    "array(select k.wrapped from data_keys k where k.workspace_id = w.id order by k.version) as wrapped_keys "
    "from workspaces w where w.slug = any(:slugs)"
)


class UnknownRegion(ValueError):
    pass


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    slug: str
    name: str
    region: str
    database_name: str
    status: str
    purge_after: datetime | None
    server_url: str
    router: EngineRouter
    cipher: crypto.WorkspaceCipher

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def engine(self) -> AsyncEngine:
        """The workspace's engine, asked of the router on every use: the LRU is touched, and an engine the
        router has evicted is never handed out again (a cached Tenant outlives evictions)."""
        return self.router.engine(self.server_url, self.database_name)

    @property
    def owner_engine(self) -> AsyncEngine:
        """The workspace database as its owner (the server URL's user): migrations and grants only; the API
        and workers use `engine` (the app role, which may not change audit rows)."""
        return self.router.owner_engine(self.server_url, self.database_name)


class TenantDirectory:
    def __init__(
        self,
        *,
        catalog: AsyncEngine,
        router: EngineRouter,
        regions: dict[str, str],
        master_key: str,
        db_prefix: str,
        ttl_seconds: float = 2.0,
        max_cached: int = 1024,
        max_unknown: int = 128,
        refresh_ahead: int = 63,
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.regions = regions
        self.master_key = master_key
        self.db_prefix = db_prefix
        self._ttl = ttl_seconds
        self._cache: OrderedDict[str, tuple[float, Tenant, CatalogRow]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._max_cached = max_cached
        self._max_unknown = max_unknown
        self._refresh_ahead = refresh_ahead

    def server_for(self, region: str) -> str:
        try:
            return self.regions[region]
        except KeyError:
            known = ", ".join(sorted(self.regions)) or "none"
            raise UnknownRegion(f"unknown region {region!r} (configured: {known})") from None

    def database_name(self, slug: str) -> str:
        return f"{self.db_prefix}_ws_{slug.replace('-', '_')}"

    @property
    def ttl_seconds(self) -> float:
        """How long another process may keep using a workspace's old state (status, keys) after a change."""
        return self._ttl

    def invalidate(self, slug: str) -> None:
        self._cache.pop(slug, None)
        self._unknown.pop(slug, None)

    @property
    def cached(self) -> int:
        """How many slugs the cache holds (known and unknown)."""
        return len(self._cache) + len(self._unknown)

    @property
    def cached_unknown(self) -> int:
        return len(self._unknown)

    def is_cached(self, slug: str) -> bool:
        return slug in self._cache

    async def get(self, slug: str) -> Tenant | None:
        now = time.monotonic()
        cached = self._cache.get(slug)
        if cached is not None and now - cached[0] < self._ttl:
            self._cache.move_to_end(slug)
            return cached[1]
        missing_since = self._unknown.get(slug)
        if missing_since is not None and now - missing_since < self._ttl:
            return None
        others = self._half_stale(slug, now)
        rows = await self._read([slug, *others])
        for other in others:
            self._refresh(other, now, rows.get(other))
        row = rows.get(slug)
        if row is None or row.status == "PURGED":
            self._remember(slug, now, None)
            return None
        # Unchanged since the cached Tenant was built: keep it, and its unwrapped keys.
        tenant = cached[1] if cached is not None and cached[2] == row else self._tenant(row)
        self._remember(slug, now, (tenant, row))
        return tenant

    def _half_stale(self, slug: str, now: float) -> list[str]:
        """Cached workspaces (not `slug`) past half their TTL, least recently used first, at most `refresh_ahead`."""
        found: list[str] = []
        for other, (since, _, _) in self._cache.items():
            if len(found) >= self._refresh_ahead:
                break
            if other != slug and now - since >= self._ttl / 2:
                found.append(other)
        return found

    def _refresh(self, slug: str, now: float, row: CatalogRow | None) -> None:
        """Fresh again if the catalog still says what the entry was built from (its place in the LRU kept)."""
        cached = self._cache.get(slug)
        if cached is None:
            return
        if row is not None and cached[2] == row:
            self._cache[slug] = (now, cached[1], row)
        else:
            del self._cache[slug]

    def _remember(self, slug: str, now: float, loaded: tuple[Tenant, CatalogRow] | None) -> None:
        self.invalidate(slug)
        if loaded is None:
            self._unknown[slug] = now
            while len(self._unknown) > self._max_unknown:
                self._unknown.popitem(last=False)
        else:
            self._cache[slug] = (now, *loaded)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)

    async def all_slugs(self, *, include_purged: bool = False) -> list[str]:
        async with self.catalog.connect() as conn:
            stmt = select(Workspace.slug).order_by(Workspace.created_at)
            if not include_purged:
                stmt = stmt.where(Workspace.status != "PURGED")
            return list((await conn.execute(stmt)).scalars())

    async def _read(self, slugs: list[str]) -> dict[str, CatalogRow]:
        async with self.catalog.connect() as conn:
            return {row.slug: row for row in await conn.execute(CATALOG_ROW, {"slugs": slugs})}

    def _tenant(self, row: CatalogRow) -> Tenant:
        slug = row.slug
        data_keys = {
            version: crypto.unwrap_data_key(self.master_key, slug, wrapped, version)
            for version, wrapped in zip(row.key_versions, row.wrapped_keys, strict=True)
        }
        index_key = crypto.unwrap_index_key(self.master_key, slug, row.wrapped_index_key)
        return Tenant(
            id=row.id,
            slug=slug,
            name=row.name,
            region=row.region,
            database_name=row.database_name,
            status=row.status,
            purge_after=row.purge_after,
            server_url=self.server_for(row.region),
            router=self.router,
            cipher=crypto.WorkspaceCipher(slug, data_keys, row.current_key_version, index_key),
        )


async def create_database(server_url: str, database: str, *, template: str | None = None) -> None:
    """Create `database` unless it exists; with `template`, as a copy of that database (which nobody may be
    connected to meanwhile)."""
    copy = f' TEMPLATE "{template}"' if template else ""
    async with server_admin(server_url) as conn:
        exists = await conn.scalar(text("select 1 from pg_database where datname = :d"), {"d": database})
        if not exists:
            await conn.execute(text(f'CREATE DATABASE "{database}"{copy}'))


async def drop_database(server_url: str, database: str) -> None:
    async with server_admin(server_url) as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


async def drop_databases_with_prefix(server_url: str, prefix: str) -> list[str]:
    """Drop every database named `<prefix>_...` on a server (test and benchmark runs clean up with this)."""
    async with server_admin(server_url) as conn:
        names = list(
            (
                await conn.execute(
                    text("select datname from pg_database where datname like :p"), {"p": f"{prefix}\\_%"}
                )
            ).scalars()
        )
        for name in names:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return names
