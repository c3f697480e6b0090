"""Workspace settings from the console over HTTP: saved through the same resolvers as updateWorkspaceSettings and
updateSecuritySettings; a refused value is shown inline and nothing of the form is saved."""

from __future__ import annotations

import html

import httpx
import pytest

from tests.admin.helpers import signed_in, submit
from tests.factories.workspaces import Workspace, WorkspaceFactory

SETTINGS = ("{ workspaceSettings { businessName dpoName dpoEmail dpoPhone dpoAddress timeZone }"
            " securitySettings { requireMfa } }")
FORM = {"businessName": "Harbour Trading Ltd", "dpoName": "Mandy Wong", "dpoEmail": "dpo@harbour.example.hk",
        "dpoPhone": "2123 4567", "dpoAddress": "12/F, 1 Queen's Road Central, Hong Kong", "timeZone": "Asia/Hong_Kong"}


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def test_settings_are_saved_and_shown_again(http: httpx.AsyncClient, ws: Workspace) -> None:
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/workspace")
        assert page.status_code == 200 and 'id="h-settings"' in page.text
        saved = await submit(client, page, "/admin/workspace/settings", **FORM)
        assert saved.status_code == 303 and "done=settings_saved" in saved.headers["location"]
        again = html.unescape((await client.get("/admin/workspace")).text)
        assert 'value="Mandy Wong"' in again and "<option selected>Asia/Hong_Kong</option>" in again
    data = await ws.gql.ok(SETTINGS, token=ws.admin_token)
    assert data["workspaceSettings"] == {**FORM, "dpoPhone": "+85221234567"}
    assert data["securitySettings"] == {"requireMfa": False}


async def test_a_bad_value_or_a_refused_mfa_requirement_saves_nothing(http: httpx.AsyncClient, ws: Workspace) -> None:
    before = await ws.gql.ok(SETTINGS, token=ws.admin_token)
    async with signed_in(http, ws) as client:
        page = await client.get("/admin/workspace")
        bad = await submit(client, page, "/admin/workspace/settings", **{**FORM, "dpoEmail": "not an address"})
        assert bad.status_code == 400 and 'id="settings-error"' in bad.text and "dpoEmail" in bad.text
        assert 'value="not an address"' in bad.text  # what was typed stays in the form
        zone = await submit(client, page, "/admin/workspace/settings", **{**FORM, "timeZone": "Mars/Olympus"})
        assert zone.status_code == 400 and "timeZone" in zone.text
        mfa = await submit(client, page, "/admin/workspace/settings", **FORM, requireMfa="on")
        assert mfa.status_code == 409 and "set up MFA for yourself first" in mfa.text
    assert await ws.gql.ok(SETTINGS, token=ws.admin_token) == before
