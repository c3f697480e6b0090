"""Closing a workspace (logins and API keys stop at once, data kept), reopening it from the CLI, the reminder
a week before the purge, and the purge after the grace period (database and export files gone)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from db.models import DataKey, Workspace
from resolvers.runtime import Runtime
from resolvers.workspaces import life as workspace_life
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory
from tests.workspaces.helpers import audit_rows, codes, run_cli

CLOSE = "mutation($s:String!){ closeWorkspace(confirmSlug:$s){ slug status purgeAfter } }"
WORKSPACE = "{ workspace { slug name region status purgeAfter } }"
LOGIN = "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w,email:$e,password:$p){ token } }"


def later(runtime: Runtime, delta: timedelta) -> Runtime:
    """The same runtime with its business clock moved by `delta`."""
    moved = datetime.now(UTC) + delta
    return dataclasses.replace(runtime, clock=lambda: moved)


async def catalog_row(runtime: Runtime, slug: str) -> Workspace:
    async with runtime.directory.catalog.connect() as conn:
        return (await conn.execute(select(Workspace).where(Workspace.slug == slug))).one()  # type: ignore[return-value]


async def database_exists(runtime: Runtime, name: str) -> bool:
    """On the default region's server, where the catalog lives too."""
    async with runtime.directory.catalog.connect() as conn:
        return bool(await conn.scalar(text("select 1 from pg_database where datname = :d"), {"d": name}))


async def test_close_needs_the_exact_slug_and_an_admin(gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    body = await gql.raw(CLOSE, {"s": ws.slug.upper()}, ws.admin_token)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "confirmSlug"
    seller = await ws.user("seller", ["sales"])
    manager = await ws.user("manager", ["manager"])
    for token in (seller["token"], manager["token"]):
        assert codes(await gql.raw(CLOSE, {"s": ws.slug}, token)) == ["FORBIDDEN"]
    assert (await gql.ok(WORKSPACE, token=ws.admin_token))["workspace"]["status"] == "ACTIVE"


async def test_close_stops_logins_and_keys_at_once_and_reopen_restores_them(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await workspaces.create(region="hk")
    contact = await ws.contact(firstName="Kept", lastName="Data")
    key = (await gql.ok('mutation{ createApiKey(name:"Partner", role:"manager"){ key } }', token=ws.admin_token))[
        "createApiKey"
    ]["key"]
    before = await gql.ok(WORKSPACE, token=ws.admin_token)
    assert before["workspace"] == {
        "slug": ws.slug, "name": f"Workspace {ws.slug}", "region": "hk", "status": "ACTIVE", "purgeAfter": None
    }

    with caplog.at_level(logging.INFO, logger="crm.mail"):
        closed = (await gql.ok(CLOSE, {"s": ws.slug}, ws.admin_token))["closeWorkspace"]
    assert closed["status"] == "CLOSING"
    purge_after = datetime.fromisoformat(closed["purgeAfter"])
    assert abs(purge_after - (datetime.now(UTC) + timedelta(days=runtime.grace_days))) < timedelta(minutes=1)
    assert any(ws.admin_email in r.getMessage() and "closing" in r.getMessage() for r in caplog.records)

    # In this process at once: the old token, a new login and the API key all stop.
    for token in (ws.admin_token, key):
        assert codes(await gql.raw(WORKSPACE, token=token)) == ["UNAUTHENTICATED"]
    assert codes(await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})) == ["UNAUTHENTICATED"]
    row = await catalog_row(runtime, ws.slug)
    assert row.status == "CLOSING" and row.close_requested_at is not None and row.purge_after == purge_after
    closes = await audit_rows(runtime, ws.slug, entity_type="workspace", action="UPDATE")
    assert [r.details["change"] for r in closes] == ["close"]
    assert closes[0].actor_kind == "user"

    # Not before the grace period is over: the data is still there.
    assert await workspace_life.purge(runtime, ws.slug) is False

    run = await run_cli("workspace", "reopen", "--slug", ws.slug)
    assert run.code == 0, run.err
    assert run.out.strip() == f"workspace {ws.slug}: reopened"
    # Another process (the CLI) changed the catalog: this one sees it within the directory's TTL.
    deadline = time.monotonic() + runtime.directory.ttl_seconds + 0.5
    while codes(body := await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})):
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)
    token = body["data"]["login"]["token"]
    after = await gql.ok(WORKSPACE, token=token)
    assert after["workspace"]["status"] == "ACTIVE" and after["workspace"]["purgeAfter"] is None
    assert (await gql.ok("{ workspace { status } }", token=key))["workspace"]["status"] == "ACTIVE"
    got = await gql.ok("query($id:ID!){ contact(id:$id){ firstName } }", {"id": contact}, token)
    assert got["contact"]["firstName"] == "Kept"
    changes = await audit_rows(runtime, ws.slug, entity_type="workspace", action="UPDATE")
    assert [(r.details["change"], r.actor_kind) for r in changes] == [("close", "user"), ("reopen", "system")]


async def test_reopen_refuses_an_unknown_or_active_workspace(workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    active = await run_cli("workspace", "reopen", "--slug", ws.slug)
    assert active.code != 0 and active.out.strip() == ""
    assert active.err_lines == [f"error: the workspace {ws.slug!r} is not closing (it is active)"]
    unknown = await run_cli("workspace", "reopen", "--slug", "no-such-workspace")
    assert unknown.code != 0
    assert unknown.err_lines == ["error: no workspace 'no-such-workspace'"]


async def test_reminder_goes_out_once_a_week_before_the_purge(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await workspaces.create()
    await gql.ok(CLOSE, {"s": ws.slug}, ws.admin_token)
    grace = timedelta(days=runtime.grace_days)
    assert ws.slug not in await workspace_life.due_for_reminder(later(runtime, grace - timedelta(days=8)))
    week_before = later(runtime, grace - timedelta(days=6, hours=23))
    assert ws.slug in await workspace_life.due_for_reminder(week_before)
    with caplog.at_level(logging.INFO, logger="crm.mail"):
        assert await workspace_life.remind(week_before, ws.slug) is True
        assert await workspace_life.remind(week_before, ws.slug) is False  # once per closing
    mails = [r.getMessage() for r in caplog.records if "will be deleted" in r.getMessage()]
    assert len(mails) == 1 and ws.admin_email in mails[0] and f"reopen --slug {ws.slug}" in mails[0]
    assert ws.slug not in await workspace_life.due_for_reminder(week_before)


async def test_purge_after_the_grace_period_drops_the_database_and_the_exports(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    exports = runtime.export_dir / ws.slug
    exports.mkdir(parents=True, exist_ok=True)
    (exports / "export.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    await gql.ok(CLOSE, {"s": ws.slug}, ws.admin_token)

    grace = timedelta(days=runtime.grace_days)
    early = later(runtime, grace - timedelta(minutes=5))
    assert ws.slug not in await workspace_life.due_for_purge(early)
    assert await workspace_life.purge(early, ws.slug) is False
    assert await database_exists(runtime, tenant.database_name)

    due = later(runtime, grace + timedelta(minutes=5))
    assert ws.slug in await workspace_life.due_for_purge(due)
    assert await workspace_life.purge(due, ws.slug) is True
    assert await workspace_life.purge(due, ws.slug) is False  # a redelivered message is a no-op

    assert not await database_exists(runtime, tenant.database_name)
    assert not exports.exists()
    row = await catalog_row(runtime, ws.slug)
    assert row.status == "PURGED" and row.purged_at is not None
    async with runtime.directory.catalog.connect() as conn:
        assert (await conn.scalar(select(DataKey.version).where(DataKey.workspace_id == row.id))) is None
    assert await runtime.directory.get(ws.slug) is None
    assert ws.slug not in await runtime.directory.all_slugs()
    assert codes(await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})) == ["UNAUTHENTICATED"]
    gone = await run_cli("workspace", "reopen", "--slug", ws.slug)
    assert gone.code != 0 and gone.err_lines == [f"error: no workspace {ws.slug!r}"]
