"""Least privilege: the API's and workers' workspace sessions connect as the app role, which may read and
append to the audit tables (and their partitions, later ones included) but not change, delete, truncate
them, nor run DDL; migrations and grants run as the owner. Over the real database (embedded or
DATABASE_URL), through the same engine and unit of work the API uses.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

import main
from db import roles
from db.audit import maintain_partitions
from db.sessions import create_engine
from db.units import Units
from resolvers.runtime import Runtime
from settings import Settings
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

DENIED = "42501"  # insufficient_privilege


def sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


async def refused(runtime: Runtime, slug: str, statement: str) -> str:
    """Run `statement` in an API-style unit of work on the workspace; the error it was refused with."""
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    with pytest.raises(DBAPIError) as caught:
        async with Units(runtime.directory).workspace(tenant.engine) as unit:
            await unit.session.execute(text(statement))
    assert sqlstate(caught.value) == DENIED, caught.value
    return str(caught.value.orig)


async def test_api_sessions_are_the_app_role_not_the_owner(
    runtime: Runtime, workspaces: WorkspaceFactory, settings: Settings
) -> None:
    ws = await workspaces.create()
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with Units(runtime.directory).workspace(tenant.engine) as unit:
        who = (await unit.session.execute(text(
            "select current_user, rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user"
        ))).one()
        owners = await unit.session.scalar(text(
            "select count(*) from pg_class where relowner = (select oid from pg_roles where rolname = current_user)"
        ))
    assert who[0] == settings.app_role()[0] == runtime.directory.router.login_role
    assert (who[1], who[2], who[3]) == (False, False, False)
    assert owners == 0  # owns nothing
    async with tenant.owner_engine.connect() as conn:
        assert await conn.scalar(text("select current_user")) != who[0]


async def test_the_app_role_appends_to_and_reads_the_audit_log_but_cannot_change_it(
    runtime: Runtime, workspaces: WorkspaceFactory, gql: GraphQLClient
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Chan", email="chan@example.com")
    # the normal flow over HTTP: a read is audited (INSERT through audit_append) and the log is readable
    await gql.ok("query($id:ID!){contact(id:$id){email}}", {"id": contact}, ws.admin_token)
    events = await gql.ok("{auditEvents(first:50){edges{node{action entityId}}}}", token=ws.admin_token)
    assert {"CREATE", "READ"} <= {e["node"]["action"] for e in events["auditEvents"]["edges"]}

    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with Units(runtime.directory).workspace(tenant.engine) as unit:
        session = unit.session
        count = await session.scalar(text("select count(*) from audit_log"))
        assert count and count > 0
        partition = await session.scalar(text(
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'audit_log'::regclass order by c.relname limit 1"
        ))
        # INSERT is allowed (rolled back: the chain of the test workspace stays intact)
        nested = await session.begin_nested()
        await session.execute(text(
            "insert into audit_log (id, occurred_at, actor_kind, action, fields, categories, batch_seq) "
            "select gen_random_uuid(), now(), 'system', 'READ', '{}', '{}', 0"
        ))
        await nested.rollback()
    assert partition

    for statement in (
        "update audit_log set fields = array['company']",
        "delete from audit_log",
        "truncate audit_log",
        "update audit_batches set row_count = 0",
        "delete from audit_batches",
        "truncate audit_batches",
        f"update {partition} set fields = '{{}}'",
        f"delete from {partition}",
        f"truncate {partition}",
    ):
        assert "permission denied" in await refused(runtime, ws.slug, statement), statement

    for statement in (
        "create table sneaky (id int)",
        "alter table audit_log add column x int",
        f"drop table {partition}",
        "drop view audit_events",
        "alter table contacts disable trigger all",
    ):
        message = await refused(runtime, ws.slug, statement)
        assert "permission denied" in message or "must be owner" in message, statement

    async with tenant.owner_engine.connect() as conn:  # nothing was changed or lost
        assert await conn.scalar(text("select count(*) from audit_log")) == count


async def test_partitions_created_later_are_append_only_too(runtime: Runtime, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    later = datetime.now(UTC) + timedelta(days=31 * 9)
    async with Units(runtime.directory).workspace(tenant.engine) as unit:  # the daily job, as the app role
        changes = await maintain_partitions(unit.session, now=later, retention_months=12)
    created = [name for action, name in changes if action == "created"]
    assert created
    async with Units(runtime.directory).workspace(tenant.engine) as unit:
        nested = await unit.session.begin_nested()
        await unit.session.execute(text(
            f"insert into {created[-1]} (id, occurred_at, actor_kind, action, fields, categories, batch_seq) "
            "select gen_random_uuid(), to_timestamp(:m, 'YYYY_MM') at time zone 'UTC', 'system', 'READ', '{}', '{}', 0"
        ), {"m": created[-1].removeprefix("audit_log_")})
        await nested.rollback()
        assert await unit.session.scalar(text(f"select count(*) from {created[-1]}")) == 0
    assert "permission denied" in await refused(runtime, ws.slug, f"delete from {created[-1]}")
    assert "permission denied" in await refused(runtime, ws.slug, f"truncate {created[-1]}")
    # the app may ask for upkeep, never for less than 12 months kept
    async with Units(runtime.directory).workspace(tenant.engine) as unit:
        rows = await unit.session.execute(text("select action, partition_name from audit_maintain(now(), 0, 0)"))
        assert [r for r in rows if r[0] == "dropped"] == []


async def test_ensure_role_and_grants_are_idempotent(runtime: Runtime, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    login = runtime.directory.router.login_role
    assert login is not None
    from db import migrate

    for _ in range(2):
        await migrate.upgrade(tenant.owner_engine, "workspace", grant_to=login)
    data = await ws.gql.ok("{ contacts { totalCount } }", token=ws.admin_token)
    assert data["contacts"]["totalCount"] == 0
    assert "permission denied" in await refused(runtime, ws.slug, "delete from audit_log")


def test_role_names_are_checked_and_the_default_password_is_derived(settings: Settings) -> None:
    name, password = settings.app_role()
    assert name == f"{settings.db_prefix}_app" and len(password) == 64
    assert settings.app_role() == (name, password)
    with pytest.raises(ValueError):
        roles.AppRole('bad"name', "x")
    statements = " ".join(roles.grant_statements("crm_app"))
    assert "REVOKE UPDATE, DELETE, TRUNCATE" in statements and "ALTER DEFAULT PRIVILEGES" in statements


async def test_the_catalog_is_used_as_the_app_role_which_cannot_change_its_schema(
    runtime: Runtime, settings: Settings
) -> None:
    async with runtime.directory.catalog.connect() as conn:
        who = (await conn.execute(text(
            "select current_user, rolsuper, rolcreatedb, rolcreaterole from pg_roles where rolname = current_user"
        ))).one()
        owned = await conn.scalar(text(
            "select count(*) from pg_class where relowner = (select oid from pg_roles where rolname = current_user)"
        ))
        assert await conn.scalar(text("select count(*) from workspaces")) is not None  # it reads the catalog
    assert who[0] == settings.app_role()[0] and (who[1], who[2], who[3]) == (False, False, False)
    assert owned == 0
    for statement in ("create table intruder (id int)", "update alembic_version_catalog set version_num = 'x'",
                      "drop table workspaces", "alter table workspaces add column intruder int"):
        with pytest.raises(DBAPIError) as caught:
            async with runtime.directory.catalog.begin() as conn:
                await conn.execute(text(statement))
        assert sqlstate(caught.value) == DENIED, (statement, caught.value)


async def test_processes_starting_together_grant_the_catalog_one_at_a_time(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime
) -> None:
    """`make run` starts the API and the workers at once and both grant the catalog (GRANT ... ON DATABASE twice
    at once fails with "tuple concurrently updated" without the lock)."""
    engines = [create_engine(endpoints.database_url, f"{settings.db_prefix}_catalog", pool_size=1, max_overflow=0)
               for _ in range(6)]

    async def grant(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await roles.grant_catalog(conn, settings.app_role()[0])

    try:
        await asyncio.gather(*(grant(e) for e in engines))
    finally:
        for e in engines:
            await e.dispose()
