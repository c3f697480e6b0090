"""Engines and sessions: the catalog engine and a bounded LRU of per-workspace engines.

One API process never holds more than `max_engines * (pool_size + max_overflow)` workspace
connections, however many workspaces exist: the least recently used engine is disposed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import NewType

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# A session on one workspace database, opened by the request or the actor that owns the unit of work.
TenantSession = NewType("TenantSession", AsyncSession)


def database_url(server_url: str, database: str) -> URL:
    """The asyncpg URL of `database` on the server `server_url` (any postgresql:// form)."""
    url = make_url(server_url)
    return url.set(drivername="postgresql+asyncpg", database=database)


def create_engine(
    server_url: str, database: str, *, pool_size: int = 2, max_overflow: int = 3, statement_timeout_ms: int = 0
) -> AsyncEngine:
    """`statement_timeout_ms` > 0: PostgreSQL cancels any one statement running longer (workspace sessions)."""
    server_settings = {"application_name": "crm", "timezone": "UTC"}
    if statement_timeout_ms > 0:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    return create_async_engine(
        database_url(server_url, database),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": server_settings},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class EngineRouter:
    """Keeps at most `max_engines` workspace engines alive; disposes the least recently used one."""

    def __init__(
        self, *, max_engines: int = 32, pool_size: int = 2, max_overflow: int = 3, statement_timeout_ms: int = 0
    ) -> None:
        self._engines: OrderedDict[tuple[str, str], AsyncEngine] = OrderedDict()
        self._max = max_engines
        self._statement_timeout_ms = statement_timeout_ms
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._disposals: set[asyncio.Task[None]] = set()

    def engine(self, server_url: str, database: str) -> AsyncEngine:
        key = (server_url, database)
        engine = self._engines.get(key)
        if engine is not None:
            self._engines.move_to_end(key)
            return engine
        engine = create_engine(
            server_url, database, pool_size=self._pool_size, max_overflow=self._max_overflow,
            statement_timeout_ms=self._statement_timeout_ms,
        )
        self._engines[key] = engine
        while len(self._engines) > self._max:
            _, old = self._engines.popitem(last=False)
            # Idle connections are closed now (close=False would leave them open until garbage
            # collection); checked-out ones stay valid and go back to the old pool.
            task = asyncio.get_running_loop().create_task(old.dispose())
            self._disposals.add(task)
            task.add_done_callback(self._disposals.discard)
        return engine

    async def forget(self, server_url: str, database: str) -> None:
        engine = self._engines.pop((server_url, database), None)
        if engine is not None:
            await engine.dispose()

    async def dispose(self) -> None:
        engines = list(self._engines.values())
        self._engines.clear()
        for engine in engines:
            await engine.dispose()
        if self._disposals:
            await asyncio.gather(*self._disposals, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._engines)
