"""Changes that span the catalog and a workspace database, and what a crash between the two leaves.

A close commits in the workspace's own database (audit event + `catalog_outbox` row), then the catalog is
changed. A catalog step that fails leaves the client its success, the catalog untouched and one pending row;
the next run (the `workspaces.apply_catalog` job) completes the close, exactly once; a support grant the
same way, unless it was revoked meanwhile. A creation that died
after registering its catalog row (CREATING) is finished by running `workspace create` again."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from db.models import CatalogChange
from db.units import Units
from resolvers.errors import Conflict
from resolvers.identity import support
from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspaces
from resolvers.workspaces import life as workspace_life
from schema.ids import from_global
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory
from tests.workspaces.helpers import audit_rows, codes, tenant_of
from tests.workspaces.test_support import GRANT, GRANTS, REVOKE
from tests.workspaces.test_workspace_life import CLOSE, LOGIN, catalog_row


async def outbox(runtime: Runtime, slug: str) -> list[tuple[str, datetime | None]]:
    tenant = await tenant_of(runtime, slug)
    async with tenant.engine.connect() as conn:
        rows = await conn.execute(select(CatalogChange.change, CatalogChange.applied_at))
        return [(r.change, r.applied_at) for r in rows]


async def test_a_close_whose_catalog_step_fails_is_completed_by_the_next_run(
    gql: GraphQLClient,
    workspaces: WorkspaceFactory,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws = await workspaces.create()
    attempts: list[str] = []

    async def catalog_down(session: Any, rt: Runtime, slug: str, details: dict[str, str]) -> None:
        attempts.append(slug)
        raise ConnectionError("the catalog server went away")

    monkeypatch.setattr(workspace_life, "_mark_closing", catalog_down)
    with caplog.at_level(logging.ERROR, logger="crm.units"):
        body = await gql.raw(CLOSE, {"s": ws.slug}, ws.admin_token)
    # The close is committed: the client gets its success, not an INTERNAL error.
    assert "errors" not in body, body
    assert body["data"]["closeWorkspace"]["status"] == "CLOSING"
    assert attempts == [ws.slug]
    assert any("after-commit step failed" in r.getMessage() for r in caplog.records)
    assert (await catalog_row(runtime, ws.slug)).status == "ACTIVE"
    assert [(change, applied is None) for change, applied in await outbox(runtime, ws.slug)] == [("close", True)]
    closes = await audit_rows(runtime, ws.slug, entity_type="workspace", action="UPDATE")
    assert [r.details["change"] for r in closes] == ["close"]

    monkeypatch.undo()  # the catalog is back: the reconciler's next run completes the close
    with caplog.at_level(logging.INFO, logger="crm.mail"):
        assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 1
    row = await catalog_row(runtime, ws.slug)
    assert row.status == "CLOSING"
    assert row.purge_after == datetime.fromisoformat(body["data"]["closeWorkspace"]["purgeAfter"])
    notices = [r for r in caplog.records if r.name == "crm.mail" and ws.admin_email in r.getMessage()]
    assert len(notices) == 1 and "closing" in notices[0].getMessage()
    assert [(change, applied is not None) for change, applied in await outbox(runtime, ws.slug)] == [("close", True)]
    assert codes(await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})) == ["UNAUTHENTICATED"]

    # Run again (a redelivered message): nothing pending, nothing changes, no second notice.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="crm.mail"):
        assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 0
    assert not [r for r in caplog.records if r.name == "crm.mail"]
    assert [r.details["change"] for r in await audit_rows(runtime, ws.slug, entity_type="workspace",
                                                          action="UPDATE")] == ["close"]


async def test_a_catalog_change_applied_but_not_marked_is_not_applied_twice(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """The catalog commits before the outbox row is marked: a crash in between leaves the row pending, and
    the next run marks it without changing the catalog or mailing again."""
    ws = await workspaces.create()
    await gql.ok(CLOSE, {"s": ws.slug}, ws.admin_token)
    tenant = await tenant_of(runtime, ws.slug)
    async with tenant.engine.begin() as conn:  # as if the process died right after the catalog commit
        await conn.execute(CatalogChange.__table__.update().values(applied_at=None))
    before = await catalog_row(runtime, ws.slug)
    with caplog.at_level(logging.INFO, logger="crm.mail"):
        assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 1
    assert not [r for r in caplog.records if r.name == "crm.mail"]
    after = await catalog_row(runtime, ws.slug)
    assert (after.status, after.close_requested_at, after.purge_after) == (
        before.status, before.close_requested_at, before.purge_after
    )
    assert [applied is not None for _, applied in await outbox(runtime, ws.slug)] == [True]


async def test_a_creation_that_died_after_registering_is_finished_by_the_next_run(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    slug, email = f"ws-{secrets.token_hex(4)}", f"admin-{secrets.token_hex(3)}@example.com"
    data = workspaces.NewWorkspace(slug, f"Workspace {slug}", "hk", email, PASSWORD)
    directory = runtime.directory
    # The first step only, as if the process died right after it: a catalog row, no database yet.
    await workspaces._register(Units(directory), data, data.name, directory.database_name(slug))
    assert (await catalog_row(runtime, slug)).status == "CREATING"
    assert codes(await gql.raw(LOGIN, {"w": slug, "e": email, "p": PASSWORD})) == ["UNAUTHENTICATED"]

    tenant = await workspaces.create_workspace(directory, data)  # the operator runs the same command again
    assert tenant.active
    assert (await catalog_row(runtime, slug)).status == "ACTIVE"
    body = await gql.raw(LOGIN, {"w": slug, "e": email, "p": PASSWORD})
    assert "errors" not in body and body["data"]["login"]["token"]
    # Finished: the same slug is now taken.
    with pytest.raises(Conflict):
        await workspaces.create_workspace(directory, data)


async def test_a_grant_whose_catalog_step_fails_is_recorded_by_the_next_run_unless_revoked(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()

    async def catalog_down(session: Any, rt: Runtime, slug: str, details: dict[str, str]) -> None:
        raise ConnectionError("the catalog server went away")

    monkeypatch.setitem(support.CATALOG_APPLIERS, support.GRANT, catalog_down)
    granted = (await gql.ok(GRANT, {"h": 2, "r": "ticket 1"}, ws.admin_token))["grantSupportAccess"]
    assert (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"] == []  # not in the catalog yet
    monkeypatch.undo()
    assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 1
    listed = (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"]
    assert [(g["id"], g["active"]) for g in listed] == [(granted["id"], True)]
    assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 0  # once

    # A grant still pending when access is revoked never reaches the catalog afterwards.
    monkeypatch.setitem(support.CATALOG_APPLIERS, support.GRANT, catalog_down)
    pending = (await gql.ok(GRANT, {"h": 1, "r": "ticket 2"}, ws.admin_token))["grantSupportAccess"]
    monkeypatch.undo()
    assert (await gql.ok(REVOKE, token=ws.admin_token))["revokeSupportAccess"] is True
    assert await workspace_life.apply_catalog_changes(runtime, ws.slug) == 0
    listed = (await gql.ok(GRANTS, token=ws.admin_token))["supportGrants"]
    assert [(g["id"], g["active"]) for g in listed] == [(granted["id"], False)]
    revoked = await audit_rows(runtime, ws.slug, entity_type="support_grant", action="DELETE")
    assert sorted(r.entity_id for r in revoked) == sorted(
        str(from_global(g["id"])[1]) for g in (granted, pending)
    )
