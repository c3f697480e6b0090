"""Run Alembic on a catalog or workspace database, one database at a time, under an advisory lock.

Alembic's context is process-global, so upgrades run one after another, never concurrently in one loop.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import roles

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x43524D  # "CRM": one advisory lock key per database


def alembic_config(tree: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option(
        "version_locations",
        f"{MIGRATIONS_DIR / 'catalog' / 'versions'}:{MIGRATIONS_DIR / 'workspace' / 'versions'}",
    )
    cfg.set_main_option("file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s")
    cfg.attributes["tree"] = tree
    return cfg


def _upgrade(connection: Connection, tree: str) -> None:
    cfg = alembic_config(tree)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, f"{tree}@head")


def _current(connection: Connection, tree: str) -> str | None:
    row = connection.execute(text("select to_regclass(:t)"), {"t": f"alembic_version_{tree}"}).scalar()
    if row is None:
        return None
    return connection.execute(text(f"select version_num from alembic_version_{tree}")).scalar()


async def upgrade(
    engine: AsyncEngine, tree: str, *, grant_to: str | None = None
) -> tuple[str | None, str | None]:
    """Upgrade one database to the head of `tree`; returns (revision before, revision after).

    `grant_to`: a workspace database's app role, granted its privileges (`db.roles`) after the upgrade, in
    the same lock; `engine` must then connect as the owner.
    """
    async with engine.connect() as conn:
        await conn.execute(text("select pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            before = await conn.run_sync(_current, tree)
            await conn.commit()
            await conn.run_sync(_upgrade, tree)
            await conn.commit()
            after = await conn.run_sync(_current, tree)
            await conn.commit()
            if grant_to is not None:
                await roles.grant_workspace(conn, grant_to)
                await conn.commit()
        finally:
            await conn.execute(text("select pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            await conn.commit()
    return before, after
