"""Engines and sessions: the catalog engine and a bounded LRU of per-workspace engines.

One API process never holds more than `max_engines * (pool_size + max_overflow)` workspace
connections, however many workspaces exist: the least recently used engine is disposed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, NewType, TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

# A session on one workspace database, opened by the request or the actor that owns the unit of work.
TenantSession = NewType("TenantSession", AsyncSession)


def database_url(server_url: str, database: str) -> URL:
    """The asyncpg URL of `database` on the server `server_url` (any postgresql:// form)."""
    url = make_url(server_url)
    return url.set(drivername="postgresql+asyncpg", database=database)


def create_engine(server_url: str, database: str, *, pool_size: int = 2, max_overflow: int = 3) -> AsyncEngine:
    return create_async_engine(
        database_url(server_url, database),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "crm", "timezone": "UTC"}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class ShieldedSession(AsyncSession):
    """An AsyncSession whose statements, once sent, run to the end even when the awaiting task is cancelled.

    graphql-core cancels the sibling resolvers of a failed non-null field. A query cancelled half-way leaves
    asyncpg's protocol mid-message, so the connection is invalidated and the rest of the request (its audit
    flush included) fails with PendingRollbackError. Here a cancelled caller stops waiting, the statement
    finishes in a shielded task, and `settle()` waits for such statements before the session is used again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inflight: set[asyncio.Future[Any]] = set()

    async def _shielded(self, work: Coroutine[Any, Any, T]) -> T:
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def settle(self) -> None:
        """Wait for the statements whose callers were cancelled (their errors are theirs, not ours)."""
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        return await self._shielded(super().execute(*args, **kwargs))

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        return await self._shielded(super().scalar(*args, **kwargs))

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        return await self._shielded(super().scalars(*args, **kwargs))

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        return await self._shielded(super().get(*args, **kwargs))

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        await self._shielded(super().flush(*args, **kwargs))

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        await self._shielded(super().refresh(*args, **kwargs))


def request_session_factory(engine: AsyncEngine) -> async_sessionmaker[ShieldedSession]:
    """Sessions for GraphQL requests, whose resolvers may be cancelled (see `ShieldedSession`)."""
    return async_sessionmaker(engine, class_=ShieldedSession, expire_on_commit=False, autoflush=False)


class EngineRouter:
    """Keeps at most `max_engines` workspace engines alive; disposes the least recently used one."""

    def __init__(self, *, max_engines: int = 32, pool_size: int = 2, max_overflow: int = 3) -> None:
        self._engines: OrderedDict[tuple[str, str], AsyncEngine] = OrderedDict()
        self._max = max_engines
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._disposals: set[asyncio.Task[None]] = set()

    def engine(self, server_url: str, database: str) -> AsyncEngine:
        key = (server_url, database)
        engine = self._engines.get(key)
        if engine is not None:
            self._engines.move_to_end(key)
            return engine
        engine = create_engine(server_url, database, pool_size=self._pool_size, max_overflow=self._max_overflow)
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
