"""The catalog outbox: catalog changes decided in a workspace database (a close, a support grant).

The change is written here (`record`) in the same transaction as its audit event; once that commits, `apply`
hands each pending row to its capability's applier, which changes the catalog idempotently (a conditional
UPDATE, an INSERT that ignores a duplicate), then the row is marked applied. The catalog commits first, so a
crash in between leaves the row pending and the next run re-applies it as a no-op. Each capability passes
the appliers of the changes it knows; `workspaces.apply_catalog` passes them all (`life.apply_catalog_changes`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CatalogChange
from resolvers.runtime import Runtime

# (the workspace session, the runtime, the workspace's slug, the row's details)
Applier = Callable[[AsyncSession, Runtime, str, dict[str, Any]], Awaitable[None]]


def record(session: AsyncSession, change: str, details: dict[str, Any]) -> None:
    """A pending catalog change, committed (or rolled back) with the caller's unit of work."""
    session.add(CatalogChange(change=change, details=details))


async def supersede(session: AsyncSession, change: str, now: datetime) -> list[dict[str, Any]]:
    """Mark the pending rows of `change` applied without applying them; returns their details. The rows stay
    locked until the caller commits, so an `apply` running meanwhile finishes first or skips them."""
    result = await session.execute(
        update(CatalogChange)
        .where(CatalogChange.change == change, CatalogChange.applied_at.is_(None))
        .values(applied_at=now)
        .returning(CatalogChange.details)
    )
    return [dict(details) for details in result.scalars()]


async def apply(runtime: Runtime, slug: str, appliers: Mapping[str, Applier]) -> int:
    """Apply the workspace's pending rows of the kinds in `appliers`, oldest first; returns how many."""
    async with runtime.units.workspace_of(slug) as unit:
        if unit is None:
            return 0
        session = unit.session
        pending = (
            await session.execute(
                select(CatalogChange)
                .where(CatalogChange.applied_at.is_(None), CatalogChange.change.in_(list(appliers)))
                .order_by(CatalogChange.created_at)
                .with_for_update(skip_locked=True)
            )
        ).scalars().all()
        for row in pending:
            await appliers[row.change](session, runtime, slug, row.details)
            row.applied_at = runtime.now()
        return len(pending)
