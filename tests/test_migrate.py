"""Migrations: upgrading is idempotent, and `migrate_all` walks and reports every workspace."""

from __future__ import annotations

import secrets

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db import migrate, tenancy
from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspace_ops
from tests.factories.workspaces import WorkspaceFactory


def head(tree: str) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config(tree))
    revision = script.get_revision(f"{tree}@head")
    assert revision is not None
    return str(revision.revision)


async def tables(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = 'public' order by table_name, column_name"
            )
        )
        return [(r[0], r[1]) for r in rows]


async def test_a_fresh_workspace_database_is_upgraded_once_then_left_alone(runtime: Runtime) -> None:
    directory = runtime.directory
    server = directory.server_for("hk")
    database = f"{directory.db_prefix}_migrate_{secrets.token_hex(4)}"
    await tenancy.create_database(server, database)
    engine = directory.router.owner_engine(server, database)
    try:
        assert await tables(engine) == []
        first = await migrate.upgrade(engine, "workspace")
        assert first == (None, head("workspace"))
        schema = await tables(engine)
        assert ("contacts", "hkid_bidx") in schema
        assert ("audit_events", "request_id") in schema

        second = await migrate.upgrade(engine, "workspace")
        assert second == (head("workspace"), head("workspace"))
        assert await tables(engine) == schema
    finally:
        await directory.router.forget(server, database)
        await tenancy.drop_database(server, database)


async def test_a_database_created_from_a_template_is_its_copy(runtime: Runtime) -> None:
    directory = runtime.directory
    server = directory.server_for("hk")
    template, copy = (f"{directory.db_prefix}_template_{secrets.token_hex(4)}" for _ in range(2))
    await tenancy.create_database(server, template)
    try:
        async with directory.router.owner_engine(server, template).begin() as conn:
            await conn.execute(text("create table marker (id int)"))
        await directory.router.forget(server, template)  # a template has no connections while it is copied
        await tenancy.create_database(server, copy, template=template)
        assert await tables(directory.router.owner_engine(server, copy)) == [("marker", "id")]
        await tenancy.create_database(server, copy, template=template)  # exists: left alone
    finally:
        for database in (copy, template):
            await directory.router.forget(server, database)
            await tenancy.drop_database(server, database)


async def test_upgrading_a_live_workspace_twice_keeps_its_data(runtime: Runtime, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    await ws.contact(firstName="Survivor")
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    revision = head("workspace")
    assert await migrate.upgrade(tenant.owner_engine, "workspace") == (revision, revision)
    assert await migrate.upgrade(tenant.owner_engine, "workspace") == (revision, revision)
    data = await ws.gql.ok("{ contacts { totalCount edges { node { firstName } } } }", token=ws.admin_token)
    assert data["contacts"]["totalCount"] == 1
    assert data["contacts"]["edges"][0]["node"]["firstName"] == "Survivor"


async def test_the_catalog_upgrade_is_idempotent(runtime: Runtime) -> None:
    revision = head("catalog")
    assert await migrate.upgrade(runtime.directory.catalog, "catalog") == (revision, revision)


async def test_migrate_all_reports_every_workspace(runtime: Runtime, workspaces: WorkspaceFactory) -> None:
    created = [(await workspaces.create()).slug for _ in range(2)]
    lines: list[str] = []
    summary = await workspace_ops.migrate_all(runtime.directory, lines.append)
    slugs = await runtime.directory.all_slugs()
    assert set(created) <= set(slugs)
    # Other tests may leave workspaces on servers this runtime does not reach: reported, not fatal.
    assert summary.migrated + summary.failed == len(lines) <= len(slugs)
    assert summary.failed == sum("FAILED" in line for line in lines)
    revision = head("workspace")
    for slug in created:
        assert lines.count(f"workspace {slug}: up to date ({revision})") == 1, lines

    # An async reporter is awaited.
    seen: list[str] = []

    async def report(line: str) -> None:
        seen.append(line)

    assert await workspace_ops.migrate_all(runtime.directory, report) == summary
    assert seen == lines


async def test_an_unreachable_workspace_is_reported_and_the_others_migrate(
    runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ok = await workspaces.create()
    lost = await workspaces.create()
    async with runtime.directory.catalog.begin() as conn:
        await conn.execute(text("UPDATE workspaces SET region = 'mars' WHERE slug = :s"), {"s": lost.slug})
    runtime.directory.invalidate(lost.slug)
    lines: list[str] = []
    try:
        summary = await workspace_ops.migrate_all(runtime.directory, lines.append)
    finally:
        async with runtime.directory.catalog.begin() as conn:
            await conn.execute(text("UPDATE workspaces SET region = 'hk' WHERE slug = :s"), {"s": lost.slug})
        runtime.directory.invalidate(lost.slug)
    assert summary.failed >= 1
    assert any(line.startswith(f"workspace {lost.slug}: FAILED (UnknownRegion") for line in lines), lines
    assert f"workspace {ok.slug}: up to date ({head('workspace')})" in lines
