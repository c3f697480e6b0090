"""Export download links over HTTP: they stop with the kill switches (workspace closed, export permission
lost, account deactivated), are built from CRM_PUBLIC_URL and never from the Host header, name the downloader
in the audit log, and never reach the log in a mail body."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest

from resolvers.exports import runner as export_runner
from resolvers.runtime import Runtime
from schema.ids import from_global
from settings import InsecureSettings, Settings
from tests.audit.helpers import execute, rows
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

REQUEST = "mutation{ requestWorkspaceExport { id } }"
JOB = "query($id:ID!){ exportJob(id:$id){ status downloadUrl } }"
CLOSE = "mutation($s:String!){ closeWorkspace(confirmSlug:$s){ status } }"
REVOKE = "mutation($u:ID!,$r:String!){ revokeRole(userId:$u, role:$r){ id } }"


async def finished_export(gql: GraphQLClient, runtime: Runtime, ws: Workspace, token: str) -> str:
    """The download URL of a workspace export requested with `token` and run here, in this process."""
    job_id = (await gql.ok(REQUEST, token=token))["requestWorkspaceExport"]["id"]
    await export_runner.run(runtime, ws.slug, from_global(job_id)[1])
    job = (await gql.ok(JOB, {"id": job_id}, token))["exportJob"]
    assert job["status"] == "SUCCEEDED" and job["downloadUrl"], job
    return str(job["downloadUrl"])


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def test_a_link_works_then_stops_when_the_workspace_closes(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    url = await finished_export(gql, runtime, ws, ws.admin_token)
    assert (await http.get(path_of(url))).status_code == 200
    await gql.ok(CLOSE, {"s": ws.slug}, ws.admin_token)
    refused = await http.get(path_of(url))
    assert refused.status_code == 410 and refused.headers["content-type"].startswith("application/json")


async def test_a_link_stops_when_the_requester_loses_the_export_permission(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    second = await ws.user("second-admin", ["admin", "sales"])
    url = await finished_export(gql, runtime, ws, second["token"])
    await gql.ok(REVOKE, {"u": second["id"], "r": "admin"}, ws.admin_token)
    assert (await http.get(path_of(url))).status_code == 410
    denied = [r for r in await rows(runtime, ws.slug, action="DENIED") if r.entity_type == "workspace"]
    assert denied and denied[-1].details["phase"] == "download refused"


async def test_a_link_stops_when_the_requester_is_deactivated(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    second = await ws.user("leaver", ["admin"])
    url = await finished_export(gql, runtime, ws, second["token"])
    await execute(runtime, ws.slug, "update users set is_active = false where id = :id", {"id": _uuid(second["id"])})
    assert (await http.get(path_of(url))).status_code == 410


async def test_links_are_built_from_the_public_url_never_from_the_host_header(
    http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    job_id = (await _post(http, REQUEST, ws.admin_token, host="attacker.example"))["requestWorkspaceExport"]["id"]
    await export_runner.run(runtime, ws.slug, from_global(job_id)[1])
    job = (await _post(http, JOB, ws.admin_token, {"id": job_id}, host="attacker.example"))["exportJob"]
    assert job["downloadUrl"].startswith(runtime.exports.link_base.rstrip("/") + "/exports/")
    assert "attacker.example" not in job["downloadUrl"]


async def test_the_download_is_audited_as_the_downloader_naming_the_requester(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    url = await finished_export(gql, runtime, ws, ws.admin_token)
    response = await http.get(path_of(url), headers={"User-Agent": "curl/8.5.0"})
    assert response.status_code == 200
    (event,) = [r for r in await rows(runtime, ws.slug, action="EXPORT") if r.details.get("phase") == "downloaded"]
    assert event.actor_kind == "link" and event.actor_id is None
    assert event.client_ip == "10.1.2.3" and event.user_agent == "curl/8.5.0"
    assert event.details["downloader"] == {"address": "10.1.2.3", "userAgent": "curl/8.5.0"}
    admin = (await gql.ok("{ me { id } }", token=ws.admin_token))["me"]["id"]
    assert event.details["requestedBy"] == str(_uuid(admin)) and event.details["requestedByKind"] == "user"


async def test_the_ready_mail_is_logged_without_its_link(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="crm.mail"):
        url = await finished_export(gql, runtime, ws, ws.admin_token)
    mails = [r.getMessage() for r in caplog.records if r.name == "crm.mail"]
    assert any("export is ready" in m for m in mails), mails
    assert not any(url in m or "/exports/" in m for m in mails)
    assert any("[link withheld from the log]" in m for m in mails)


@pytest.mark.parametrize("missing", ["CRM_PUBLIC_URL", "SMTP_URL"])
def test_production_refuses_to_start_without_public_url_or_smtp(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    production = {
        "CRM_ENV": "production",
        "DATABASE_URL": "postgresql://crm@db.internal/crm",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "CRM_PUBLIC_URL": "https://crm.example.hk",
        "SMTP_URL": "smtps://mailer.example.hk",
        "CRM_SECRET_KEY": "prod-" + uuid.uuid4().hex,
        "CRM_MASTER_KEY": "prod-" + uuid.uuid4().hex,
    }
    for name, value in production.items():
        monkeypatch.setenv(name, value)
    Settings().check_production()  # complete: starts
    monkeypatch.delenv(missing)
    with pytest.raises(InsecureSettings, match=missing):
        Settings().check_production()


async def _post(
    http: httpx.AsyncClient, query: str, token: str, variables: dict[str, Any] | None = None, *, host: str
) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}", "Host": host},
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


def _uuid(global_id: str) -> uuid.UUID:
    return from_global(global_id)[1]
