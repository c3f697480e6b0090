"""`requestContactExport` and `requestWorkspaceExport` end to end: the mutation queues a job, the job runs as
the worker runs it, `exportJob` shows the result and its link, and the ZIP holds what the contract says, for
the requester's `export` record scope only."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.exports.helpers import CONTACT_EXPORT, WORKSPACE_EXPORT, get, job, jsonl, opened, run_job
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, codes, only_error, sql

ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"
ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("seller", ["sales"])
    return ws


async def test_contact_export_queues_runs_and_downloads_the_persons_data(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    name, body = canary("C"), canary("B")
    contact = await ws.contact(firstName=name, lastName="Chan", email=f"{name.lower()}@example.hk", hkid="A123456(3)")
    await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "subject": "Call", "body": body}},
                 ws.admin_token)

    queued = (await gql.ok(CONTACT_EXPORT, {"c": contact}, ws.admin_token))["requestContactExport"]
    assert (queued["kind"], queued["status"], queued["downloadUrl"]) == ("CONTACT", "QUEUED", None)

    await run_job(runtime, ws.slug, queued["id"])
    done = await job(gql, ws.admin_token, queued["id"])
    assert done["status"] == "SUCCEEDED" and done["progress"] == 1.0 and done["error"] is None
    assert done["downloadUrl"] and done["expiresAt"]

    response = await get(http, done["downloadUrl"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    assert len(response.content) == done["sizeBytes"]
    assert hashlib.sha256(response.content).hexdigest() == done["sha256"]

    archive = opened(response)
    assert {"contact.json", "activities.json", "audit.json", "index.html"} <= set(archive.namelist())
    person = json.loads(archive.read("contact.json"))
    assert (person["firstName"], person["email"], person["hkid"]) == (name, f"{name.lower()}@example.hk",
                                                                       "A123456(3)")
    assert [a["body"] for a in json.loads(archive.read("activities.json"))] == [body]
    assert name in archive.read("index.html").decode()

    phases = await sql(runtime, ws.slug, "SELECT details->>'phase' FROM audit_events WHERE action = 'EXPORT' "
                       "AND details->>'exportId' = :e ORDER BY occurred_at", {"e": str(from_global(queued["id"])[1])})
    assert [p[0] for p in phases] == ["requested", "completed", "downloaded"]


async def test_workspace_export_holds_every_entity_and_a_manifest_that_matches(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    name = canary("W")
    contact = await ws.contact(firstName=name, email=f"{name.lower()}@example.hk")
    first = (await gql.ok(WORKSPACE_EXPORT, token=ws.admin_token))["requestWorkspaceExport"]
    again = (await gql.ok(WORKSPACE_EXPORT, token=ws.admin_token))["requestWorkspaceExport"]
    assert first["kind"] == "WORKSPACE" and first["status"] == "QUEUED"
    assert again["id"] == first["id"]  # one pending workspace export per requester

    await run_job(runtime, ws.slug, first["id"])
    done = await job(gql, ws.admin_token, first["id"])
    assert done["status"] == "SUCCEEDED"
    response = await get(http, done["downloadUrl"])
    assert response.status_code == 200
    archive = opened(response)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["workspace"] == ws.slug and manifest["exportId"] == str(from_global(first["id"])[1])
    for file, facts in manifest["files"].items():
        data = archive.read(file)
        assert (len(data), hashlib.sha256(data).hexdigest()) == (facts["bytes"], facts["sha256"]), file
    assert {"contacts.jsonl", "activities.jsonl", "users.jsonl", "audit_log.jsonl", "policies.csv"} <= set(
        manifest["files"])
    contacts = jsonl(archive, "contacts.jsonl")
    assert manifest["counts"]["contacts"] == len(contacts)
    mine = [c for c in contacts if c["id"] == str(from_global(contact)[1])]
    assert [(c["firstName"], c["email"]) for c in mine] == [(name, f"{name.lower()}@example.hk")]
    assert all("passwordHash" not in u and "password_hash" not in u for u in jsonl(archive, "users.jsonl"))

    # A new request after the first finished is a new job.
    third = (await gql.ok(WORKSPACE_EXPORT, token=ws.admin_token))["requestWorkspaceExport"]
    assert third["id"] != first["id"]
    await run_job(runtime, ws.slug, third["id"])


async def test_exports_need_the_export_permission_and_a_visible_contact(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    seller = await ws.user("seller", ["sales"])
    theirs = await ws.contact(firstName=canary("S"))  # the admin's: sales does not see it
    own = await ws.contact(seller["token"], firstName=canary("O"))
    before = await sql_jobs(ws, workspaces)

    denied = only_error(await gql.raw(WORKSPACE_EXPORT, token=seller["token"]))
    assert denied["extensions"]["code"] == "FORBIDDEN"
    assert codes(await gql.raw(CONTACT_EXPORT, {"c": own}, seller["token"])) == ["FORBIDDEN"]
    assert codes(await gql.raw(CONTACT_EXPORT, {"c": theirs}, seller["token"])) == ["NOT_FOUND"]
    assert await sql_jobs(ws, workspaces) == before  # nothing queued


async def test_an_export_scope_of_own_exports_only_the_requesters_contacts(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    """A role that reads every contact but may export only its own: the workspace export leaves out other
    owners' contacts, and a contact export of another owner's contact is FORBIDDEN."""
    ws = await workspaces.create()
    for resource, action, scope in (("contact", "read", "all"), ("contact.*", "read", "all"),
                                    ("contact", "export", "own"), ("workspace", "export", "all")):
        rule = {"role": "exporter", "resource": resource, "action": action, "effect": "ALLOW", "scope": scope}
        await gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    exporter = await ws.user("exporter", ["exporter"])
    own = await ws.contact(firstName=canary("Own"), ownerId=exporter["id"])
    other = await ws.contact(firstName=canary("Other"))  # owned by the admin
    seen = await gql.ok("{ contacts(first: 10){ totalCount } }", token=exporter["token"])
    assert seen["contacts"]["totalCount"] == 2  # both readable

    refused = only_error(await gql.raw(CONTACT_EXPORT, {"c": other}, exporter["token"]))
    assert refused["extensions"]["code"] == "FORBIDDEN"

    single = (await gql.ok(CONTACT_EXPORT, {"c": own}, exporter["token"]))["requestContactExport"]
    await run_job(runtime, ws.slug, single["id"])
    whole = (await gql.ok(WORKSPACE_EXPORT, token=exporter["token"]))["requestWorkspaceExport"]
    await run_job(runtime, ws.slug, whole["id"])
    done = await job(gql, exporter["token"], whole["id"])
    archive = opened(await get(http, done["downloadUrl"]))
    exported = {c["id"] for c in jsonl(archive, "contacts.jsonl")}
    assert exported == {str(from_global(own)[1])}
    assert str(from_global(other)[1]) not in archive.read("activities.jsonl").decode()


async def sql_jobs(ws: Workspace, workspaces: WorkspaceFactory) -> int:
    rows = await sql(workspaces.runtime, ws.slug, "SELECT count(*) FROM export_jobs")
    return int(rows[0][0])
