"""The catalog/tenant router: which server and database hold a workspace, and its keys.

`TenantDirectory.get(slug)` is cached for a couple of seconds, so closing a workspace stops its
logins and keys across processes within that time (and at once in the process that closed it). The cache
is bounded (least recently used first out), and unknown slugs, which anyone can make up, are kept in a
smaller bound of their own so they never push real workspaces out.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import crypto
from db.models import DataKey, Workspace
from db.sessions import EngineRouter, server_admin


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
    ) -> None:
        self.catalog = catalog
        self.router = router
        self.regions = regions
        self.master_key = master_key
        self.db_prefix = db_prefix
        self._ttl = ttl_seconds
        self._cache: OrderedDict[str, tuple[float, Tenant]] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        self._max_cached = max_cached
        self._max_unknown = max_unknown

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
        tenant = await self._load(slug)
        self._remember(slug, now, tenant)
        return tenant

    def _remember(self, slug: str, now: float, tenant: Tenant | None) -> None:
        self.invalidate(slug)
        if tenant is None:
            self._unknown[slug] = now
            while len(self._unknown) > self._max_unknown:
                self._unknown.popitem(last=False)
        else:
            self._cache[slug] = (now, tenant)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)

    async def all_slugs(self, *, include_purged: bool = False) -> list[str]:
        async with self.catalog.connect() as conn:
            stmt = select(Workspace.slug).order_by(Workspace.created_at)
            if not include_purged:
                stmt = stmt.where(Workspace.status != "PURGED")
            return list((await conn.execute(stmt)).scalars())

    async def _load(self, slug: str) -> Tenant | None:
        async with self.catalog.connect() as conn:
            ws = (await conn.execute(select(Workspace).where(Workspace.slug == slug))).one_or_none()
            if ws is None or ws.status == "PURGED":
                return None
            keys = (await conn.execute(select(DataKey).where(DataKey.workspace_id == ws.id))).all()
        data_keys = {k.version: crypto.unwrap_data_key(self.master_key, slug, k.wrapped, k.version) for k in keys}
        index_key = crypto.unwrap_index_key(self.master_key, slug, ws.wrapped_index_key)
        server = self.server_for(ws.region)
        return Tenant(
            id=ws.id,
            slug=ws.slug,
            name=ws.name,
            region=ws.region,
            database_name=ws.database_name,
            status=ws.status,
            purge_after=ws.purge_after,
            server_url=server,
            router=self.router,
            cipher=crypto.WorkspaceCipher(slug, data_keys, ws.current_key_version, index_key),
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
