"""Engines and sessions: the catalog engine and a bounded LRU of per-workspace engines.

Connections per process are bounded per database server, however many workspaces live on it: every
workspace engine's connections are opened through one `ServerBudget` per server, which counts the open
connections of all of that server's pools (checked out, idle and being opened, disposed pools included).
At the bound, a new connection first closes idle connections of the least recently used workspaces, then
waits (up to `pool_timeout`) for one to come back. Engines are kept in an LRU touched on every use and
never handed out once evicted (`Tenant.engine` asks the router each time); pools idle for
`idle_seconds` are closed.

    connections to one server <= max_connections_per_server (CRM_MAX_CONNECTIONS_PER_SERVER, default 40)

With `login` (user, password) set, workspace engines connect as that role (the app role, `db.roles`) instead
of the server URL's user; `owner_engine` gives the URL's own user (the owner) for migrations and upkeep.

Connections to a server on this machine (a loopback address, `localhost` or a unix socket) whose URL names no
`ssl` / `sslmode` skip TLS: asyncpg's default (`prefer`) first asks the server for TLS and, when offered, makes a
handshake on every new connection, which protects nothing on loopback. Any other host keeps asyncpg's default;
a URL that asks for TLS (`?ssl=require`, `?sslmode=verify-full`, ...) gets it, loopback or not.

With `poolers` ({server URL: PgBouncer URL}), the app role's connections to a server go through its PgBouncer
in transaction mode (`PGBOUNCER_URLS`): no statement cache, prepared statements under unique names, and no
`statement_timeout` startup parameter (PgBouncer refuses it; the owner sets it on the app role instead,
`db.roles.ensure_role`). The owner's connections (migrations under a session advisory lock, CREATE DATABASE,
grants) always go to the server itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, NewType, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import URL, Result, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

T = TypeVar("T")

# A session on one workspace database, opened by the request or the actor that owns the unit of work.
TenantSession = NewType("TenantSession", AsyncSession)

SERVER_SETTINGS = {"application_name": "crm", "timezone": "UTC"}


def database_url(server_url: str, database: str, login: tuple[str, str] | None = None) -> URL:
    """The asyncpg URL of `database` on the server `server_url` (any postgresql:// form); `login` replaces
    the URL's user and password."""
    url = make_url(server_url)
    url = url.set(drivername="postgresql+asyncpg", database=database)
    if login is not None:
        url = url.set(username=login[0], password=login[1])
    return url


def _is_local(host: str) -> bool:
    if host.startswith("/") or host == "localhost":
        return True
    if host.count(":") == 1:  # name:port (an IPv6 address has more colons)
        host = host.split(":")[0]
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def tls_args(url: URL) -> dict[str, Any]:
    """`ssl=False` for a server on this machine when the URL does not ask for TLS (see the module docstring)."""
    if "ssl" in url.query or "sslmode" in url.query:
        return {}
    hosts = url.query.get("host", url.host)  # asyncpg also takes hosts (and unix socket paths) from ?host=
    if hosts is None:
        return {"ssl": False}  # no host at all: the local unix socket
    names = [name for entry in ([hosts] if isinstance(hosts, str) else hosts) for name in entry.split(",")]
    return {"ssl": False} if all(_is_local(name) for name in names) else {}


@asynccontextmanager
async def server_admin(server_url: str) -> AsyncIterator[AsyncConnection]:
    """An AUTOCOMMIT connection to the server's `postgres` database as the URL's user (the owner): CREATE and DROP
    of databases and roles. The engine is disposed when the block ends."""
    admin = create_async_engine(database_url(server_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            yield conn
    finally:
        await admin.dispose()


def server_settings(statement_timeout_ms: int = 0) -> dict[str, str]:
    """`statement_timeout_ms` > 0: PostgreSQL cancels any one statement running longer (workspace sessions)."""
    settings = dict(SERVER_SETTINGS)
    if statement_timeout_ms > 0:
        settings["statement_timeout"] = str(statement_timeout_ms)
    return settings


def statement_name() -> str:
    """A prepared statement's name no other client of a PgBouncer server connection can have taken."""
    return f"__crm_{uuid.uuid4().hex}__"


# What asyncpg and SQLAlchemy's asyncpg adapter need behind PgBouncer in transaction mode: a client's next
# statement may run on another server connection, so nothing may be kept there between transactions.
PGBOUNCER_DRIVER_ARGS: dict[str, Any] = {"statement_cache_size": 0}  # asyncpg.connect
PGBOUNCER_ADAPTER_ARGS: dict[str, Any] = {  # SQLAlchemy's adapter
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": statement_name,
}


def create_engine(
    server_url: str, database: str, *, pool_size: int = 2, max_overflow: int = 3, statement_timeout_ms: int = 0,
    login: tuple[str, str] | None = None, pooler_url: str | None = None,
) -> AsyncEngine:
    """An engine on `database`; with `pooler_url` (a PgBouncer in front of `server_url`), through it."""
    url = database_url(pooler_url or server_url, database, login)
    connect_args: dict[str, Any] = {"server_settings": server_settings(statement_timeout_ms), **tls_args(url)}
    if pooler_url is not None:
        connect_args = {
            "server_settings": server_settings(0), **tls_args(url), **PGBOUNCER_DRIVER_ARGS, **PGBOUNCER_ADAPTER_ARGS,
        }
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
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

    async def execute_core(self, statement: Executable, params: dict[str, Any]) -> Result[Any]:
        """A Core statement on the session's connection (its transaction), past the ORM layer: for a hot
        statement of plain columns, where building ORM state would cost more than the query. Shielded too."""

        async def run() -> Result[Any]:
            connection = await self.connection()
            return await connection.execute(statement, params)

        return await self._shielded(run())


def request_session_factory(engine: AsyncEngine) -> async_sessionmaker[ShieldedSession]:
    """Sessions for GraphQL requests, whose resolvers may be cancelled (see `ShieldedSession`)."""
    return async_sessionmaker(engine, class_=ShieldedSession, expire_on_commit=False, autoflush=False)


class ServerBudget:
    """The open connections of every workspace pool on one server, and the bound on them.

    Counted by the connections themselves, because a pool cannot say it (a connection checked out when its
    engine was disposed goes back to the old pool later): in when room is reserved for one, out when asyncpg has
    finished closing it. A graceful close ends when the server has hung up, and a backend leaves
    `pg_stat_activity` before it hangs up, so room freed here is free on the server too (counting out at the
    pool's close event, which comes before the close, let a new connection in while the old backend was still
    there: one over the bound for a moment).
    """

    def __init__(self, limit: int, timeout: float) -> None:
        self.limit = limit
        self.timeout = timeout
        self.established = 0  # counted from the moment room is reserved for it
        self.pools: weakref.WeakSet[QueuePool] = weakref.WeakSet()  # live and disposed pools alike

    def open_connections(self) -> int:
        return self.established

    def closed(self, connection: object) -> None:
        """asyncpg's termination listener: the connection is closed (or aborted)."""
        self.established -= 1


def _close_on_return(dbapi_connection: Any, record: Any) -> None:
    """A disposed pool's checkin: the connection is closed (and so counted out of the budget)."""
    if dbapi_connection is not None:
        record.invalidate()


class EngineRouter:
    """Workspace engines in an LRU touched on every use; connections bounded per server (`ServerBudget`)."""

    def __init__(
        self,
        *,
        max_engines: int = 1024,
        pool_size: int = 5,
        max_overflow: int = 0,
        max_connections_per_server: int = 40,
        idle_seconds: float = 60.0,
        pool_timeout: float = 30.0,
        statement_timeout_ms: int = 0,
        login: tuple[str, str] | None = None,
        poolers: dict[str, str] | None = None,
    ) -> None:
        self._login = login
        self._poolers = dict(poolers or {})
        self._owners: dict[tuple[str, str], AsyncEngine] = {}
        self._engines: OrderedDict[tuple[str, str], AsyncEngine] = OrderedDict()
        # Last use of each engine whose pool may hold connections, oldest first (an engine whose pool the sweep
        # closed leaves it until it is used again, so a sweep never walks the engines it already closed).
        self._used: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._budgets: dict[str, ServerBudget] = {}
        self._max = max_engines
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._per_server = max_connections_per_server
        self._idle = idle_seconds
        self._timeout = pool_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._disposals: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def connection_bound(self) -> int:
        """The most connections this process opens to one server (workspace pools; the catalog has its own)."""
        return self._per_server

    def budget(self, server_url: str) -> ServerBudget:
        budget = self._budgets.get(server_url)
        if budget is None:
            budget = self._budgets[server_url] = ServerBudget(self._per_server, self._timeout)
        return budget

    def engine(self, server_url: str, database: str) -> AsyncEngine:
        key = (server_url, database)
        now = time.monotonic()
        engine = self._engines.get(key)
        if engine is None:
            engine = self._create(server_url, database)
            self._engines[key] = engine
        self._engines.move_to_end(key)
        self._used[key] = now
        self._used.move_to_end(key)
        self._close_idle(now)
        self._sweep_while_used()
        while len(self._engines) > self._max:
            old_key, old = self._engines.popitem(last=False)
            self._used.pop(old_key, None)
            self._dispose_later(old)
        return engine

    @property
    def login_role(self) -> str | None:
        """The role workspace engines connect as (None: the server URL's own user)."""
        return None if self._login is None else self._login[0]

    def owner_engine(self, server_url: str, database: str) -> AsyncEngine:
        """An engine connecting as the server URL's user (the owner): migrations, grants, tests' tampering.
        No pool (connections are opened for the work at hand), so it stays out of the server budget."""
        key = (server_url, database)
        engine = self._owners.get(key)
        if engine is None:
            engine = self._owners[key] = create_async_engine(
                database_url(server_url, database),
                poolclass=NullPool,
                connect_args={"server_settings": server_settings(0)},
            )
        return engine

    def pooler(self, server_url: str) -> str | None:
        """The PgBouncer the app role's connections to `server_url` go through (None: the server itself)."""
        return self._poolers.get(server_url)

    def _create(self, server_url: str, database: str) -> AsyncEngine:
        pooler = self.pooler(server_url)
        url = database_url(pooler or server_url, database, self._login)
        _, params = PGDialect_asyncpg().create_connect_args(url)
        budget = self.budget(server_url)
        router = self
        if pooler is None:
            driver: dict[str, Any] = {"server_settings": server_settings(self._statement_timeout_ms), **tls_args(url)}
            adapter: dict[str, Any] = {}
        else:
            driver = {"server_settings": server_settings(0), **tls_args(url), **PGBOUNCER_DRIVER_ARGS}
            adapter = PGBOUNCER_ADAPTER_ARGS

        async def connect() -> Any:
            await router._reserve(budget, server_url)
            budget.established += 1  # at once: the dialect's first-connect queries let other tasks run
            try:
                connection = await asyncpg.connect(**params, **driver)
            except BaseException:
                budget.established -= 1
                raise
            connection.add_termination_listener(budget.closed)
            return connection

        engines: list[AsyncEngine] = []

        def creator() -> Any:  # `async_creator` cannot pass the adapter's arguments: SQLAlchemy's own form of it
            return engines[0].sync_engine.dialect.loaded_dbapi.connect(async_creator_fn=connect, **adapter)

        engine = create_async_engine(
            url,
            creator=creator,
            pool_size=self._pool_size,
            max_overflow=self._max_overflow,
            pool_timeout=self._timeout,
            pool_pre_ping=False,
            pool_recycle=1800,
        )
        engines.append(engine)
        pool = engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        budget.pools.add(pool)
        return engine

    async def _reserve(self, budget: ServerBudget, server_url: str) -> None:
        """Wait for room under the server's bound, closing idle pools of the least recently used workspaces."""
        deadline = time.monotonic() + budget.timeout
        while budget.open_connections() >= budget.limit:
            if await self._close_an_idle_pool(server_url, budget):
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"more than {budget.limit} connections to one database server are in use")
            await asyncio.sleep(0.005)

    async def _close_an_idle_pool(self, server_url: str, budget: ServerBudget) -> bool:
        for (server, _), engine in list(self._engines.items()):  # least recently used first
            pool = engine.sync_engine.pool
            if server == server_url and isinstance(pool, QueuePool) and pool.checkedin() > 0:
                await self._dispose(engine, budget)
                return True
        for pool in list(budget.pools):
            if pool.checkedin() > 0:  # an evicted engine's old pool with idle connections left
                await greenlet_spawn(pool.dispose)
                return True
        return False

    def _close_idle(self, now: float) -> None:
        idle: list[tuple[str, str]] = []
        for key, used in self._used.items():  # least recently used first: stop at the first one used since
            if now - used < self._idle:
                break
            idle.append(key)
        for key in idle:
            engine = self._engines.get(key)
            pool = engine.sync_engine.pool if engine is not None else None
            if engine is None or not isinstance(pool, QueuePool):
                self._used.pop(key, None)
                continue
            if pool.checkedin() > 0:
                self._dispose_later(engine)
            if pool.checkedout() == 0:  # nothing left to close later: out of the sweep until used again
                self._used.pop(key, None)

    def _sweep_while_used(self) -> None:
        """Idle pools are also closed when no request comes: a task, started by the first use, looks every
        `idle_seconds / 4` (at most 5 s) until `dispose()`."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(max(self._idle / 4, 0.05), 5.0))
            self._close_idle(time.monotonic())

    def _dispose_later(self, engine: AsyncEngine) -> None:
        # Idle connections are closed now; checked-out ones stay valid and are closed when they come back.
        budget = next((b for b in self._budgets.values() if engine.sync_engine.pool in b.pools), None)
        self._track(asyncio.get_running_loop().create_task(self._dispose(engine, budget)))

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._disposals.add(task)
        task.add_done_callback(self._disposals.discard)

    @staticmethod
    async def _dispose(engine: AsyncEngine, budget: ServerBudget | None) -> None:
        """Close the engine's idle connections now and each checked-out one when it comes back: the old pool
        is never used again, so a connection returned to it would only sit there, open and out of reach."""
        old = engine.sync_engine.pool
        await engine.dispose()
        # Only now: the fresh pool copies the old one's listeners when dispose() makes it.
        event.listen(old, "checkin", _close_on_return)
        if isinstance(old, QueuePool) and old.checkedin() > 0:  # came back while the pool was being closed
            await greenlet_spawn(old.dispose)
        if budget is not None:  # dispose() gives the engine a fresh pool: count it too
            pool = engine.sync_engine.pool
            if isinstance(pool, QueuePool):
                budget.pools.add(pool)

    async def forget(self, server_url: str, database: str) -> None:
        self._used.pop((server_url, database), None)
        owner = self._owners.pop((server_url, database), None)
        if owner is not None:
            await owner.dispose()
        engine = self._engines.pop((server_url, database), None)
        if engine is not None:
            await engine.dispose()

    async def dispose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            if self._sweeper.get_loop() is asyncio.get_running_loop():
                await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        engines = [*self._engines.values(), *self._owners.values()]
        self._engines.clear()
        self._owners.clear()
        self._used.clear()
        for engine in engines:
            await engine.dispose()
        if self._disposals:
            await asyncio.gather(*self._disposals, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._engines)
