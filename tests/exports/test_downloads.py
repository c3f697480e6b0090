"""`GET /exports/{token}`: 200 streams the ZIP (and audits it), 404 for an unknown or tampered link, 410 once
the link or the export has expired; a refused download sends no bytes and records no download."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import timedelta

import httpx
import pytest

from resolvers.exports import runner as export_runner
from resolvers.exports import tokens
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.exports.helpers import WORKSPACE_EXPORT, get, job, path_of, run_job
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, frozen, sql


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.contact(firstName=canary("D"))
    return ws


async def finished(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> dict[str, str]:
    queued = (await gql.ok(WORKSPACE_EXPORT, token=ws.admin_token))["requestWorkspaceExport"]
    await run_job(runtime, ws.slug, queued["id"])
    return await job(gql, ws.admin_token, queued["id"])


async def downloads(runtime: Runtime, ws: Workspace, job_id: str) -> int:
    rows = await sql(runtime, ws.slug, "SELECT count(*) FROM audit_events WHERE action = 'EXPORT' "
                     "AND details->>'phase' = 'downloaded' AND details->>'exportId' = :e",
                     {"e": str(from_global(job_id)[1])})
    return int(rows[0][0])


def refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_valid_link_streams_the_zip_each_time_and_audits_each_download(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    done = await finished(gql, runtime, ws)
    for count in (1, 2):
        response = await get(http, done["downloadUrl"])
        assert response.status_code == 200
        assert response.content[:4] == b"PK\x03\x04"
        assert hashlib.sha256(response.content).hexdigest() == done["sha256"]
        assert f"{ws.slug}-workspace-export-" in response.headers["content-disposition"]
        assert await downloads(runtime, ws, done["id"]) == count


async def test_unknown_and_tampered_links_are_not_found(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    done = await finished(gql, runtime, ws)
    token = path_of(done["downloadUrl"]).removeprefix("/exports/")
    payload, mac = token.split(".")

    refused(await http.get("/exports/not-a-token"), 404)
    refused(await http.get(f"/exports/{payload}"), 404)  # no signature
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    refused(await http.get(f"/exports/{payload}.{flipped}"), 404)
    # Another job id (or workspace, or expiry) in the payload, with the original signature.
    slug, job_hex, expires = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().split("|")
    forged = base64.urlsafe_b64encode(f"{slug}|{'0' * 32}|{expires}".encode()).decode().rstrip("=")
    refused(await http.get(f"/exports/{forged}.{mac}"), 404)
    later = base64.urlsafe_b64encode(f"{slug}|{job_hex}|{int(expires) + 86400}".encode()).decode().rstrip("=")
    refused(await http.get(f"/exports/{later}.{mac}"), 404)
    # Signed with another secret key: not ours.
    expiry = runtime.now() + timedelta(hours=1)
    other_key = tokens.sign("another-secret-key-" + "x" * 24, ws.slug, from_global(done["id"])[1], expiry)
    refused(await http.get(f"/exports/{other_key}"), 404)
    # A well-signed link to a job that does not exist.
    ghost = tokens.sign(runtime.secret_key, ws.slug, uuid.UUID(int=1), expiry)
    refused(await http.get(f"/exports/{ghost}"), 404)
    assert await downloads(runtime, ws, done["id"]) == 0
    assert (await get(http, done["downloadUrl"])).status_code == 200  # the real link still works


async def test_an_expired_link_or_export_is_gone(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    done = await finished(gql, runtime, ws)
    url = done["downloadUrl"]
    with frozen(runtime, runtime.now() + timedelta(hours=25)):
        refused(await get(http, url), 410)  # the link's own expiry
        assert await export_runner.expire(runtime, ws.slug) >= 1  # the hourly job marks it EXPIRED
    refused(await get(http, url), 410)  # back at the real time: the export itself has expired
    assert await downloads(runtime, ws, done["id"]) == 0
    expired = await job(gql, ws.admin_token, done["id"])
    assert (expired["status"], expired["downloadUrl"]) == ("EXPIRED", None)
