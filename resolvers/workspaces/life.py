"""A workspace's life: close (admins, confirmed by typing the slug), reopen (the CLI), the reminder a week
before the purge, and the purge itself once the grace period is over.

The catalog and the workspace are two databases. Closing writes its audit event and a `catalog_outbox` row in
the request's unit of work; once that commits, an after-commit step applies the row to the catalog and drops
this process's directory cache entry (logins and API keys stop at once here, in other processes within the
cache's 2 s TTL). If that step fails or the process dies first, the client still got its success (the close
is committed) and `apply_catalog_changes` (the `workspaces.apply_catalog` job, every minute) completes it.
Reopening audits in the workspace database (and supersedes any pending close) before the catalog change
commits; run again after a crash, it completes the same reopen. The purge drops
the database, the workspace's export files and its wrapped keys (crypto-shredding any backup's ciphertexts),
and keeps the catalog row as the record of the purge (status PURGED, purged_at).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.permissions import Action, Resource
from authz.store import WorkspacePolicy
from db import tenancy
from db.models import DataKey, User, Workspace, WorkspaceStatus
from resolvers import policies
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.identity import support
from resolvers.runtime import Caller, Runtime
from resolvers.workspaces import outbox

log = logging.getLogger("crm.workspaces")
REMINDER_DAYS = 7
ENTITY = Resource.WORKSPACE
CLOSE = "close"


@dataclass(frozen=True)
class WorkspaceState:
    slug: str
    name: str
    region: str
    status: str
    purge_after: datetime | None


async def close(session: AsyncSession, caller: Caller, confirm_slug: str) -> WorkspaceState:
    caller.access.require(ENTITY, Action.WRITE)
    tenant = caller.tenant
    if confirm_slug.strip() != tenant.slug:
        raise BadInput("type the workspace's slug exactly to confirm closing it", field="confirmSlug")
    runtime = caller.runtime
    now = runtime.now()
    purge_after = now + timedelta(days=runtime.grace_days)
    caller.audit.event(
        "UPDATE",
        entity_type=ENTITY,
        entity_id=str(tenant.id),
        fields=["status"],
        details={"change": "close", "purgeAfter": purge_after.isoformat()},
    )
    outbox.record(session, CLOSE, {"requestedAt": now.isoformat(), "purgeAfter": purge_after.isoformat()})
    await session.flush()

    async def close_in_catalog() -> None:  # at once here; the job (and every minute) if this fails
        await outbox.apply(runtime, tenant.slug, {CLOSE: _mark_closing})

    caller.after_commit.append(close_in_catalog)
    caller.enqueue("workspaces.apply_catalog", slug=tenant.slug)
    return WorkspaceState(tenant.slug, tenant.name, tenant.region, WorkspaceStatus.CLOSING, purge_after)


async def apply_catalog_changes(runtime: Runtime, slug: str) -> int:
    """Apply every pending catalog change of the workspace (a close, a support grant): what the
    `workspaces.apply_catalog` job runs after each change and every minute. Idempotent (`outbox`)."""
    return await outbox.apply(runtime, slug, {CLOSE: _mark_closing, **support.CATALOG_APPLIERS})


async def _mark_closing(session: AsyncSession, runtime: Runtime, slug: str, details: dict[str, str]) -> None:
    """The catalog side of a close: ACTIVE -> CLOSING (a no-op when already done), then the admins' notice."""
    now = datetime.fromisoformat(details["requestedAt"])
    purge_after = datetime.fromisoformat(details["purgeAfter"])
    directory = runtime.directory
    async with runtime.units.catalog() as conn:
        ws = (
            await conn.execute(
                update(Workspace)
                .where(Workspace.slug == slug, Workspace.status == WorkspaceStatus.ACTIVE)
                .values(
                    status=WorkspaceStatus.CLOSING, close_requested_at=now, purge_after=purge_after,
                    purge_reminded_at=None,
                )
                .returning(Workspace.name)
            )
        ).one_or_none()
    directory.invalidate(slug)
    if ws is None:
        return
    recipients = await admin_emails(session, await policies.workspace_policy(session, runtime, slug))
    await _tell(
        runtime,
        recipients,
        f"Your CRM workspace {slug} is closing",
        f"The workspace {ws.name} ({slug}) was closed on {now:%Y-%m-%d %H:%M} UTC. Nobody can sign in "
        f"to it any more. Its data will be deleted for good after {purge_after:%Y-%m-%d %H:%M} UTC.\n"
        f"To change your mind before then, ask your operator to run: "
        f"python main.py workspace reopen --slug {slug}\n",
    )


async def reopen(runtime: Runtime, slug: str) -> WorkspaceState:
    directory, units = runtime.directory, runtime.units
    async with units.catalog() as conn:
        ws = (await conn.execute(select(Workspace).where(Workspace.slug == slug).with_for_update())).one_or_none()
        if ws is None or ws.status == WorkspaceStatus.PURGED:
            raise NotFound(f"no workspace {slug!r}")
        if ws.status != WorkspaceStatus.CLOSING:
            raise Conflict(f"the workspace {slug!r} is not closing (it is {ws.status.lower()})")
        await conn.execute(
            update(Workspace)
            .where(Workspace.id == ws.id)
            .values(status=WorkspaceStatus.ACTIVE, close_requested_at=None, purge_after=None, purge_reminded_at=None)
        )
        engine = directory.router.engine(directory.server_for(ws.region), ws.database_name)
        async with units.workspace(engine) as unit:
            unit.audit.event("UPDATE", entity_type=ENTITY, entity_id=str(ws.id), fields=["status"],
                             details={"change": "reopen"})
            await outbox.supersede(unit.session, CLOSE, runtime.now())  # never applied after this reopen
    directory.invalidate(slug)
    return WorkspaceState(ws.slug, ws.name, ws.region, WorkspaceStatus.ACTIVE, None)


async def due_for_purge(runtime: Runtime) -> list[str]:
    now = runtime.now()
    async with runtime.directory.catalog.connect() as conn:
        stmt = select(Workspace.slug).where(Workspace.status == WorkspaceStatus.CLOSING, Workspace.purge_after <= now)
        return list((await conn.execute(stmt.order_by(Workspace.purge_after))).scalars())


async def purge(runtime: Runtime, slug: str) -> bool:
    """Drop a closing workspace whose grace period is over; False (a no-op) for any other workspace.

    Idempotent: the catalog row stays locked while the database is dropped (a concurrent reopen waits,
    then finds it purged), and a run that dies half-way is redone by the next one (DROP IF EXISTS).
    """
    directory, now = runtime.directory, runtime.now()
    async with runtime.units.catalog() as conn:
        ws = (
            await conn.execute(
                select(Workspace)
                .where(Workspace.slug == slug, Workspace.status == WorkspaceStatus.CLOSING)
                .where(Workspace.purge_after <= now)
                .with_for_update(skip_locked=True)
            )
        ).one_or_none()
        if ws is None:
            return False
        server = directory.server_for(ws.region)
        directory.invalidate(slug)
        await directory.router.forget(server, ws.database_name)
        await tenancy.drop_database(server, ws.database_name)
        _remove_exports(runtime.export_dir, slug)
        await conn.execute(delete(DataKey).where(DataKey.workspace_id == ws.id))
        await conn.execute(
            update(Workspace)
            .where(Workspace.id == ws.id)
            .values(status=WorkspaceStatus.PURGED, purged_at=now, wrapped_index_key=b"")
        )
    directory.invalidate(slug)
    log.info("workspace %s purged (database %s dropped, keys destroyed)", slug, ws.database_name)
    return True


def _remove_exports(export_dir: Path, slug: str) -> None:
    root = export_dir.resolve()
    folder = (root / slug).resolve()
    if folder.parent == root and folder.is_dir():  # slugs are [a-z0-9-]; never follow anything else
        shutil.rmtree(folder)


async def due_for_reminder(runtime: Runtime) -> list[str]:
    now = runtime.now()
    async with runtime.directory.catalog.connect() as conn:
        stmt = select(Workspace.slug).where(*_reminder_due(now))
        return list((await conn.execute(stmt.order_by(Workspace.purge_after))).scalars())


async def remind(runtime: Runtime, slug: str) -> bool:
    """E-mail the admins that the purge is at most 7 days away; once per closing (at least once: the mark is
    committed only after the mail went out)."""
    directory, now = runtime.directory, runtime.now()
    async with runtime.units.catalog() as conn:
        ws = (
            await conn.execute(
                select(Workspace).where(Workspace.slug == slug, *_reminder_due(now)).with_for_update(skip_locked=True)
            )
        ).one_or_none()
        if ws is None:
            return False
        tenant = await directory.get(slug)
        if tenant is None:
            return False
        async with runtime.units.read(tenant) as session:
            recipients = await admin_emails(session, await policies.workspace_policy(session, runtime, slug))
        await runtime.mailer.send(
            recipients,
            f"Your CRM workspace {slug} will be deleted on {ws.purge_after:%Y-%m-%d}",
            f"The workspace {ws.name} ({slug}) was closed on {ws.close_requested_at:%Y-%m-%d}. Its data will be "
            f"deleted for good after {ws.purge_after:%Y-%m-%d %H:%M} UTC.\nTo keep it, ask your operator to run: "
            f"python main.py workspace reopen --slug {slug}\n",
        )
        await conn.execute(update(Workspace).where(Workspace.id == ws.id).values(purge_reminded_at=now))
    return True


def _reminder_due(now: datetime) -> list[ColumnElement[bool]]:
    return [
        Workspace.status == WorkspaceStatus.CLOSING,
        Workspace.purge_reminded_at.is_(None),
        Workspace.purge_after <= now + timedelta(days=REMINDER_DAYS),
    ]


async def _tell(runtime: Runtime, recipients: list[str], subject: str, body: str) -> None:
    """The close notice: the workspace is closed whether or not the mail goes out."""
    try:
        await runtime.mailer.send(recipients, subject, body)
    except Exception:
        log.warning("could not e-mail the admins of a closed workspace: %s", subject, exc_info=True)


async def admin_emails(session: AsyncSession, policy: WorkspacePolicy) -> list[str]:
    """The active users who may close the workspace (`workspace` `write`): they hear about its life."""
    users = (await session.execute(select(User.id, User.email).where(User.is_active.is_(True)))).all()
    return sorted(
        email
        for user_id, email in users
        if policy.table(policy.roles_of(policies.user_subject(uuid.UUID(str(user_id))))).allows(ENTITY, Action.WRITE)
    )
