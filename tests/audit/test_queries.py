"""auditEvents (filters, keyset pagination), accessReport, exposureReport, their CSV downloads, auditChain,
setAuditRetention: admins only, and every read of the log is itself audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global, to_global
from tests.audit.helpers import codes, execute, ok, post, request_id, rows
from tests.factories.workspaces import Workspace, WorkspaceFactory

EVENTS = """query($f:AuditFilter,$first:Int,$after:String){auditEvents(filter:$f,first:$first,after:$after){
  totalCount edges{cursor node{id occurredAt actorId actorKind action entityType entityId fields requestId details
  policyVersion clientIp}} pageInfo{hasNextPage endCursor}}}"""
ACCESS = """query($c:ID!,$from:DateTime,$to:DateTime){accessReport(contactId:$c,from:$from,to:$to){
  contactId from to actors{actorId actorKind actorLabel actions fields firstAt lastAt count}}}"""
EXPOSURE = """query($from:DateTime!,$to:DateTime!,$a:ID){exposureReport(from:$from,to:$to,actorId:$a){
  from to actorId contactCount readCount actorCount truncated
  rows{contactId fields categories actors{actorId actorKind actorLabel} readCount firstAt lastAt}
  fields{field contactCount} actors{actorId actorKind actorLabel contactCount readCount}}}"""


@dataclass
class Scene:
    ws: Workspace
    rep: dict[str, str]
    contact: str
    other: str
    activity: str
    started: datetime


def iso(ts: datetime) -> str:
    return ts.isoformat()


@pytest.fixture(scope="module")
async def scene(workspaces: WorkspaceFactory, http: httpx.AsyncClient) -> Scene:
    """Admin creates two contacts owned by a sales rep and a note on one; the rep reads the first twice (name,
    HKID masked, the note's subject) and the second once (email); the admin updates the first's email."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"], team="east")
    team = await ws.team("east")
    contact = await ws.contact(firstName="Chan", lastName="Tai Man", hkid="A123456(3)", ownerId=rep["id"], teamId=team)
    other = await ws.contact(firstName="Lee", email="lee@example.com", ownerId=rep["id"], teamId=team)
    data = await ws.gql.ok(
        "mutation($i:ActivityInput!){createActivity(input:$i){id}}",
        {"i": {"contactId": contact, "kind": "NOTE", "subject": "called about the loan"}},
        ws.admin_token,
    )
    activity = data["createActivity"]["id"]
    for _ in range(2):
        await ok(
            http,
            "query($id:ID!){contact(id:$id){firstName hkid activities{edges{node{subject}}}}}",
            {"id": contact},
            token=rep["token"],
        )
    await ok(http, "query($id:ID!){contact(id:$id){email}}", {"id": other}, token=rep["token"])
    await ok(
        http,
        'mutation($id:ID!){updateContact(id:$id,input:{email:"chan@example.com"}){id}}',
        {"id": contact},
        token=ws.admin_token,
    )
    return Scene(ws, rep, contact, other, activity, started)


async def events(http: httpx.AsyncClient, token: str, f: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    data = await ok(http, EVENTS, {"f": f, **kw}, token=token)
    return data["auditEvents"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------- auditEvents


async def test_events_name_global_ids_and_their_request(scene: Scene, http: httpx.AsyncClient) -> None:
    page = await events(http, scene.ws.admin_token, {"entityId": scene.contact})
    nodes = [e["node"] for e in page["edges"]]
    assert {n["action"] for n in nodes} == {"CREATE", "READ", "UPDATE"}
    assert all(n["entityType"] == "contact" and n["entityId"] == scene.contact for n in nodes)
    reads = [n for n in nodes if n["action"] == "READ"]
    assert len(reads) == 2 and all(n["actorId"] == scene.rep["id"] and n["actorKind"] == "user" for n in reads)
    assert all(sorted(n["fields"]) == ["firstName", "hkid"] for n in reads)
    assert all(n["clientIp"] == "10.1.2.3" and n["policyVersion"] >= 1 and n["requestId"] for n in nodes)
    times = [n["occurredAt"] for n in nodes]
    assert times == sorted(times, reverse=True)
    [update] = [n for n in nodes if n["action"] == "UPDATE"]
    assert update["fields"] == ["email"] and update["actorId"] != scene.rep["id"]
    assert from_global(update["actorId"])[0] == "User"


async def test_filters(scene: Scene, http: httpx.AsyncClient) -> None:
    token = scene.ws.admin_token
    by_rep = await events(http, token, {"actorId": scene.rep["id"]})
    assert by_rep["edges"] and all(e["node"]["actorId"] == scene.rep["id"] for e in by_rep["edges"])
    raw_rep = str(from_global(scene.rep["id"])[1])
    assert (await events(http, token, {"actorId": raw_rep}))["totalCount"] == by_rep["totalCount"]

    hkid_reads = await events(http, token, {"action": "READ", "field": "hkid"})
    assert hkid_reads["totalCount"] == 2
    assert all("hkid" in e["node"]["fields"] for e in hkid_reads["edges"])
    email_reads = await events(http, token, {"action": "READ", "field": "email", "entityType": "contact"})
    assert [e["node"]["entityId"] for e in email_reads["edges"]] == [scene.other]

    subject_reads = await events(http, token, {"entityId": scene.activity, "action": "READ"})
    assert subject_reads["totalCount"] == 2
    assert all(e["node"]["entityType"] == "activity" for e in subject_reads["edges"])

    future = datetime.now(UTC) + timedelta(hours=1)
    assert (await events(http, token, {"from": iso(future)}))["totalCount"] == 0
    assert (await events(http, token, {"to": iso(scene.started)}))["totalCount"] == 0
    assert (await events(http, token, {"from": iso(scene.started), "to": iso(future)}))["totalCount"] > 0
    body = await post(http, EVENTS, {"f": {"from": iso(future), "to": iso(scene.started)}}, token=token)
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "to"
    body = await post(http, EVENTS, {"f": {"actorId": to_global("Contact", raw_rep)}}, token=token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_keyset_pagination(scene: Scene, http: httpx.AsyncClient) -> None:
    token = scene.ws.admin_token
    f = {"to": iso(datetime.now(UTC))}  # a fixed set: later events (these queries' own) are left out
    everything = await events(http, token, f, first=200)
    assert not everything["pageInfo"]["hasNextPage"]
    expected = [e["node"]["id"] for e in everything["edges"]]
    assert len(expected) == everything["totalCount"] >= 10
    seen: list[str] = []
    after = None
    while True:
        page = await events(http, token, f, first=3, after=after)
        seen += [e["node"]["id"] for e in page["edges"]]
        assert len(page["edges"]) <= 3
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected
    for first, field in ((201, "first"), (-1, "first")):
        body = await post(http, EVENTS, {"first": first}, token=token)
        assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == field
    body = await post(http, EVENTS, {"after": "bm90IGEgY3Vyc29y"}, token=token)
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "after"


async def test_reading_the_log_is_audited_and_admin_only(
    scene: Scene, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    rid = request_id("log")
    await ok(http, EVENTS, {"f": {"action": "READ"}, "first": 5}, token=scene.ws.admin_token, rid=rid)
    events = await rows(runtime, scene.ws.slug, request_id=rid)
    [row] = [e for e in events if e.entity_type == "audit"]
    assert (row.action, row.entity_type) == ("READ", "audit")
    # each event returned with `details` (free text) is a READ of that event, as other PII that leaves
    assert {(e.action, e.entity_type, tuple(e.fields)) for e in events if e is not row} <= {
        ("READ", "audit_event", ("details",))}
    assert row.details["report"] == "auditEvents" and row.details["filter"] == {"action": "READ"}

    for query in (EVENTS, "query{auditChain{ok}}", "query{auditRetentionMonths}"):
        rid = request_id("denied")
        body = await post(http, query, token=scene.rep["token"], rid=rid)
        assert codes(body) == ["FORBIDDEN"] and body["data"] is None
        [denied] = await rows(runtime, scene.ws.slug, request_id=rid)
        assert denied.action == "DENIED"
    body = await post(http, ACCESS, {"c": scene.contact}, token=scene.rep["token"])
    assert codes(body) == ["FORBIDDEN"]
    now = iso(datetime.now(UTC))
    body = await post(http, EXPOSURE, {"from": iso(scene.started), "to": now}, token=scene.rep["token"])
    assert codes(body) == ["FORBIDDEN"]
    body = await post(http, EVENTS, {})
    assert codes(body) == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------- reports


async def test_access_report(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    rid = request_id("access")
    report = (await ok(http, ACCESS, {"c": scene.contact}, token=scene.ws.admin_token, rid=rid))["accessReport"]
    assert report["contactId"] == scene.contact
    by_actor = {a["actorId"]: a for a in report["actors"]}
    rep = by_actor.pop(scene.rep["id"])
    assert rep["actorKind"] == "user" and rep["actorLabel"] == scene.rep["email"]
    assert rep["actions"] == ["READ"]
    assert rep["fields"] == ["activities.subject", "firstName", "hkid"]
    assert rep["count"] == 4  # two contact reads, two note reads
    assert rep["firstAt"] <= rep["lastAt"]
    [admin] = by_actor.values()
    assert admin["actorLabel"] == scene.ws.admin_email
    assert admin["actions"] == ["CREATE", "UPDATE"]
    assert {"email", "firstName", "hkid", "activities.subject"} <= set(admin["fields"])
    [row] = await rows(runtime, scene.ws.slug, request_id=rid)
    assert row.action == "READ" and row.details["report"] == "accessReport"
    assert row.details["contactId"] == str(from_global(scene.contact)[1])

    future = iso(datetime.now(UTC) + timedelta(hours=1))
    empty = await ok(http, ACCESS, {"c": scene.contact, "from": future}, token=scene.ws.admin_token)
    assert empty["accessReport"]["actors"] == []
    body = await post(http, ACCESS, {"c": scene.rep["id"]}, token=scene.ws.admin_token)
    assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "contactId"


async def test_exposure_report(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    window = {"from": iso(scene.started), "to": iso(datetime.now(UTC) + timedelta(seconds=1))}
    rid = request_id("exposure")
    report = (await ok(http, EXPOSURE, window, token=scene.ws.admin_token, rid=rid))["exposureReport"]
    rows_by_contact = {r["contactId"]: r for r in report["rows"]}
    assert set(rows_by_contact) == {scene.contact, scene.other}
    first = rows_by_contact[scene.contact]
    assert first["fields"] == ["activities.subject", "firstName", "hkid"]
    assert first["categories"] == ["free_text", "government_id", "name"]
    assert [a["actorId"] for a in first["actors"]] == [scene.rep["id"]]
    assert first["readCount"] == 4
    assert rows_by_contact[scene.other]["fields"] == ["email"]
    assert report["rows"][0]["contactId"] == scene.contact  # most read first
    assert (report["contactCount"], report["readCount"], report["actorCount"]) == (2, 5, 1)
    assert {f["field"]: f["contactCount"] for f in report["fields"]} == {
        "activities.subject": 1,
        "firstName": 1,
        "hkid": 1,
        "email": 1,
    }
    assert report["actors"] == [
        {
            "actorId": scene.rep["id"],
            "actorKind": "user",
            "actorLabel": scene.rep["email"],
            "contactCount": 2,
            "readCount": 5,
        }
    ]
    assert not report["truncated"]
    [row] = await rows(runtime, scene.ws.slug, request_id=rid)
    assert row.action == "READ" and row.details["report"] == "exposureReport"

    admin_id = (await ok(http, "query{me{id}}", token=scene.ws.admin_token))["me"]["id"]
    by_admin = (await ok(http, EXPOSURE, {**window, "a": admin_id}, token=scene.ws.admin_token))["exposureReport"]
    assert by_admin["actorId"] == admin_id
    assert by_admin["rows"] == [] and by_admin["contactCount"] == 0
    body = await post(http, EXPOSURE, {"from": window["to"], "to": window["from"]}, token=scene.ws.admin_token)
    assert codes(body) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- CSV downloads


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_access_report_csv(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    rid = request_id("csv")
    response = await http.get(
        "/audit/access-report.csv",
        params={"contactId": scene.contact},
        headers={"Authorization": f"Bearer {scene.ws.admin_token}", "X-Request-Id": rid},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == \
        "actor_id,actor_kind,actor_label,actions,fields,first_at,last_at,count,denied_fields"
    by_actor = {r["actor_id"]: r for r in parse_csv(response.text)}
    rep = by_actor[scene.rep["id"]]
    assert (rep["actor_label"], rep["actions"], rep["fields"], rep["count"]) == (
        scene.rep["email"],
        "READ",
        "activities.subject;firstName;hkid",
        "4",
    )
    datetime.fromisoformat(rep["first_at"])
    [row] = await rows(runtime, scene.ws.slug, request_id=rid)
    assert row.action == "EXPORT" and row.details == {
        "report": "accessReport",
        "format": "csv",
        "contactId": str(from_global(scene.contact)[1]),
        "from": None,
        "to": None,
    }


async def test_exposure_report_csv(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    params = {"from": iso(scene.started), "to": iso(datetime.now(UTC) + timedelta(seconds=1))}
    response = await http.get(
        "/audit/exposure-report.csv", params=params, headers={"Authorization": f"Bearer {scene.ws.admin_token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.splitlines()
    assert lines[0] == "contact_id,fields,categories,actors,actor_ids,read_count,first_at,last_at,name,email,phone"
    by_contact = {r["contact_id"]: r for r in parse_csv(response.text)}
    assert set(by_contact) == {scene.contact, scene.other}
    first = by_contact[scene.contact]
    assert (first["fields"], first["actors"], first["actor_ids"], first["read_count"]) == (
        "activities.subject;firstName;hkid",
        scene.rep["email"],
        scene.rep["id"],
        "4",
    )
    # The person, to tell them: through the admin's own field rules, audited as the admin's READs.
    assert (first["name"], first["email"]) == ("Chan Tai Man", "chan@example.com")
    assert by_contact[scene.other]["email"] == "lee@example.com"
    exports = await rows(runtime, scene.ws.slug, action="EXPORT")
    assert any(r.details["report"] == "exposureReport" for r in exports)


async def test_csv_downloads_need_the_permission(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    window = {"from": iso(scene.started), "to": iso(datetime.now(UTC))}
    for path, params in (
        ("/audit/access-report.csv", {"contactId": scene.contact}),
        ("/audit/exposure-report.csv", window),
    ):
        rid = request_id("csv403")
        response = await http.get(
            path, params=params, headers={"Authorization": f"Bearer {scene.rep['token']}", "X-Request-Id": rid}
        )
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        [denied] = await rows(runtime, scene.ws.slug, request_id=rid)
        assert denied.action == "DENIED" and denied.details["operation"].endswith("Csv")
        response = await http.get(path, params=params)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    admin = {"Authorization": f"Bearer {scene.ws.admin_token}"}
    response = await http.get("/audit/exposure-report.csv", params={"to": window["to"]}, headers=admin)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "from"}
    response = await http.get("/audit/access-report.csv", params={"contactId": "nonsense"}, headers=admin)
    assert response.status_code == 400
    naive = {"from": "2024-01-01T00:00:00", "to": window["to"]}
    response = await http.get("/audit/exposure-report.csv", params=naive, headers=admin)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "from"}


async def test_a_csv_download_whose_audit_write_fails_returns_no_data(
    scene: Scene, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    await execute(
        runtime,
        scene.ws.slug,
        "ALTER TABLE audit_log ADD CONSTRAINT no_exports CHECK (action <> 'EXPORT') NOT VALID",
    )
    try:
        response = await http.get(
            "/audit/access-report.csv",
            params={"contactId": scene.contact},
            headers={"Authorization": f"Bearer {scene.ws.admin_token}"},
        )
    finally:
        await execute(runtime, scene.ws.slug, "ALTER TABLE audit_log DROP CONSTRAINT no_exports")
    assert response.status_code == 500
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
    assert scene.rep["email"] not in response.text


# ---------------------------------------------------------------- chain and retention


async def test_audit_chain(scene: Scene, http: httpx.AsyncClient) -> None:
    report = (
        await ok(
            http,
            "query{auditChain{ok checkedBatches firstBrokenSeq reason contentSkipped}}",
            token=scene.ws.admin_token,
        )
    )["auditChain"]
    assert report["ok"] and report["checkedBatches"] >= 5
    assert report["firstBrokenSeq"] is None and report["reason"] is None


async def test_set_audit_retention(scene: Scene, http: httpx.AsyncClient, runtime: Runtime) -> None:
    token = scene.ws.admin_token
    assert (await ok(http, "query{auditRetentionMonths}", token=token))["auditRetentionMonths"] == 13
    rid = request_id("retention")
    assert (await ok(http, "mutation{setAuditRetention(months:24)}", token=token, rid=rid))["setAuditRetention"] == 24
    assert (await ok(http, "query{auditRetentionMonths}", token=token))["auditRetentionMonths"] == 24
    [row] = await rows(runtime, scene.ws.slug, request_id=rid)
    assert (row.action, row.entity_type, list(row.fields)) == ("UPDATE", "workspace", ["auditRetentionMonths"])
    assert row.details == {"setting": "auditRetentionMonths", "from": 13, "to": 24}
    for months in (11, 0, -5, 100_000):
        body = await post(http, "mutation($m:Int!){setAuditRetention(months:$m)}", {"m": months}, token=token)
        assert codes(body) == ["BAD_USER_INPUT"] and body["errors"][0]["extensions"]["field"] == "months"
    assert (await ok(http, "query{auditRetentionMonths}", token=token))["auditRetentionMonths"] == 24
    assert (await ok(http, "mutation{setAuditRetention(months:12)}", token=token))["setAuditRetention"] == 12
