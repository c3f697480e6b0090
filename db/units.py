"""Units of work: the one place that opens a session on a workspace (or the catalog), runs, flushes the audit
buffer, commits, and only then runs the after-commit steps and sends the jobs.

Every entry point owns its units and uses this module: the GraphQL `UnitOfWork` extension and the HTTP routes
(`schema.context.Context.finish` calls `finish` and `after_commit`), the Dramatiq actors
(`workers.broker.unit_of_work`), and the command line. Business code (`resolvers/`) takes a session and never
commits; a resolver that needs several transactions (an export's batches, a key rotation's batches, a change
of the catalog and of a workspace database) is given a `Units` by its edge, through `Runtime.units`.

After a commit nothing can turn the committed change into an error: a failing after-commit step or job send
is logged, and whatever it should have done is completed by an idempotent job or reconciler.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from db import audit as audit_log
from db.audit import CHANGE_ACTIONS, AuditActor, AuditBuffer
from db.sessions import ShieldedSession, session_factory
from db.tenancy import Tenant, TenantDirectory

log = logging.getLogger("crm.units")

JobSender = Callable[[str, dict[str, str]], Awaitable[None]]  # enqueues off the event loop
AfterCommit = Callable[[], Awaitable[None]]


def open_session(engine: AsyncEngine) -> AsyncSession:
    """A session on a workspace database for a unit that the caller ends with `finish` (GraphQL's request)."""
    return session_factory(engine)()


def system_audit() -> AuditBuffer:
    """The audit buffer of work no person asked for (actors, the command line)."""
    return AuditBuffer(AuditActor(actor_id=None, actor_kind="system"))


@dataclass
class Unit:
    """One open unit of work on a workspace database: its session, its audit buffer, what to do after commit."""

    session: AsyncSession
    audit: AuditBuffer
    jobs: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    after_commit: list[AfterCommit] = field(default_factory=list)
    audit_written: int = 0  # audit events committed when the unit ended

    def enqueue(self, actor_name: str, **kwargs: str) -> None:
        """Send a Dramatiq message by actor name once the unit commits (dropped on rollback)."""
        self.jobs.append((actor_name, kwargs))


async def finish(session: AsyncSession, audit: AuditBuffer, *, ok: bool) -> int:
    """End a unit: on success flush the audit buffer and commit; otherwise roll back, then still write (and
    commit) what the buffer kept (refused attempts). Returns the audit events committed (a batch for the sealer
    when > 0). Any failure rolls back and propagates; the session is closed either way."""
    written = 0
    try:
        if isinstance(session, ShieldedSession):
            await session.settle()  # statements of cancelled resolvers run to their end first
        if not ok:
            await session.rollback()
            audit.discard(CHANGE_ACTIONS)  # the changes they describe are gone; reads and denials stay
        if len(audit):
            written = await audit_log.flush(session, audit)
        await session.commit()
        return written
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


async def after_commit(
    steps: Iterable[AfterCommit], jobs: Iterable[tuple[str, dict[str, str]]], send: JobSender | None
) -> None:
    """Run the after-commit steps, then send the jobs. The change is committed: a failure is logged, never
    raised; the step's own reconciler (or the job's retry) completes it."""
    for step in steps:
        try:
            await step()
        except Exception:
            log.exception("an after-commit step failed (the change is committed; its reconciler completes it)")
    for actor_name, kwargs in jobs:
        try:
            if send is None:
                raise RuntimeError(f"no job broker configured to send {actor_name}")
            await send(actor_name, kwargs)
        except Exception:
            log.exception("could not send %s after commit (its reconciler re-sends it)", actor_name)


@dataclass
class ReadLane:
    """A connection held by `Units.reads`."""

    connection: AsyncConnection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only session on the lane's connection, its transaction rolled back when the block ends (so it
        holds no snapshot or transaction id between blocks)."""
        async with AsyncSession(bind=self.connection, expire_on_commit=False, autoflush=False) as session:
            try:
                yield session
            finally:
                await session.rollback()


class Units:
    """Opens units of work for one process: on the catalog, and on any workspace of the directory."""

    def __init__(
        self, directory: TenantDirectory, send: JobSender | None = None, on_audit: Callable[[str], None] | None = None
    ) -> None:
        """`on_audit(slug)`: after a unit of `workspace_of` committed audit rows (asks for a sealer run)."""
        self.directory = directory
        self.send = send
        self.on_audit = on_audit

    @asynccontextmanager
    async def catalog(self) -> AsyncIterator[AsyncConnection]:
        """A catalog transaction: committed when the block ends, rolled back when it raises."""
        async with self.directory.catalog.begin() as conn:
            yield conn

    @asynccontextmanager
    async def workspace(self, engine: AsyncEngine, audit: AuditBuffer | None = None) -> AsyncIterator[Unit]:
        """A workspace transaction (`engine`: the tenant's): the block's audit events flushed and committed with
        it, then its after-commit steps and jobs."""
        unit = Unit(open_session(engine), audit if audit is not None else system_audit())
        try:
            yield unit
        except BaseException:
            try:  # roll back, but still write what outlives it (a refused attempt's DENIED event)
                await finish(unit.session, unit.audit, ok=False)
            except Exception:
                log.exception("could not record the audit events of a failed unit of work")
            raise
        unit.audit_written = await finish(unit.session, unit.audit, ok=True)
        await after_commit(unit.after_commit, unit.jobs, self.send)

    @asynccontextmanager
    async def workspace_of(self, slug: str, audit: AuditBuffer | None = None) -> AsyncIterator[Unit | None]:
        """`workspace` by slug; None when the workspace does not exist (any more)."""
        tenant = await self.directory.get(slug)
        if tenant is None:
            yield None
            return
        async with self.workspace(tenant.engine, audit) as unit:
            yield unit
        if unit.audit_written and self.on_audit is not None:
            self.on_audit(slug)

    @asynccontextmanager
    async def read(self, tenant: Tenant) -> AsyncIterator[AsyncSession]:
        """A read-only session (nothing to commit: its transaction is rolled back when the block ends)."""
        async with session_factory(tenant.engine)() as session:
            yield session

    @asynccontextmanager
    async def session(self, engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
        """`workspace`'s session alone, for work that audits nothing itself."""
        async with self.workspace(engine) as unit:
            yield unit.session

    @asynccontextmanager
    async def reads(self, tenant: Tenant) -> AsyncIterator[ReadLane]:
        """One connection held for the block, for many short read-only transactions (`ReadLane.read`) while other
        units run: a bulk import reads batch N+1 while batch N is written. Held, it is the lane's for the whole job:
        each read checked out of the pool anew would go back between batches and compete with the writes and the
        workspace's other requests for the pool's connections."""
        async with tenant.engine.connect() as conn:
            yield ReadLane(conn)

    @asynccontextmanager
    async def snapshot(self, tenant: Tenant) -> AsyncIterator[AsyncSession]:
        """A read-only REPEATABLE READ transaction: one consistent view for a long read (an export)."""
        async with session_factory(tenant.engine)() as session, session.begin():
            await session.connection(
                execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
            )
            yield session
