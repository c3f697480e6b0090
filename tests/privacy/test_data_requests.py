"""The data-request register over HTTP: deadlines with an injected clock, the reminder, refusals in the log book,
partial-compliance notices, fulfilment per kind, the correction flag, disclosures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.mail import Mailer
from resolvers.privacy import reminders as data_request_reminders
from resolvers.runtime import Runtime
from schema.ids import from_global, to_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, codes, frozen, only_error, sql
from tests.privacy.subject_helpers import run_export
from workers.broker import unit_of_work

REQUEST = "id kind requesterName language receivedAt dueAt status refusalReason fulfilledAt daysRemaining overdue " \
          "partialNoticeAt exportId export { id kind status } contact { id firstName correctionPending }"
CREATE = f"mutation($i:DataRequestInput!){{ createDataRequest(input:$i){{ {REQUEST} }} }}"
LIST = f"""query($s:DataRequestStatus,$o:Boolean){{ dataRequests(status:$s, overdue:$o){{ totalCount
  edges {{ node {{ {REQUEST} }} }} }} }}"""
FULFIL = f"mutation($id:ID!){{ fulfilDataRequest(id:$id){{ {REQUEST} }} }}"
FULFIL_BY = f"mutation($id:ID!,$m:String){{ fulfilDataRequest(id:$id, deliveryMethod:$m){{ {REQUEST} }} }}"
REFUSE = ("mutation($id:ID!,$r:String!,$g:RefusalGround){ refuseDataRequest(id:$id, reason:$r, ground:$g)"
          f"{{ {REQUEST} }} }}")
NOTICE = f"mutation($id:ID!,$n:String!){{ recordPartialComplianceNotice(id:$id, notice:$n){{ {REQUEST} }} }}"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Outbox(Mailer):
    sent: list[tuple[list[str], str, str]] = field(default_factory=list)

    async def send(self, to: list[str], subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def new_request(gql: GraphQLClient, ws: Workspace, kind: str, received: datetime | None = None,
                      contact: str | None = None, **extra: Any) -> dict[str, Any]:
    contact = contact or await ws.contact(firstName=canary("D"))
    given = {"kind": kind, "contactId": contact, "requesterName": "Chan Tai Man", **extra}
    if received is not None:
        given["receivedAt"] = received.isoformat()
    return (await gql.ok(CREATE, {"i": given}, ws.admin_token))["createDataRequest"]  # type: ignore[no-any-return]


async def test_deadlines_overdue_and_due_soon_with_an_injected_clock(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    with frozen(runtime, T0):
        fresh = await new_request(gql, ws, "ACCESS", T0 - timedelta(days=10), language="ZH")
        due_soon = await new_request(gql, ws, "CORRECTION", T0 - timedelta(days=35))
        overdue = await new_request(gql, ws, "ACCESS", T0 - timedelta(days=45))
        refused = await new_request(gql, ws, "ACCESS", T0 - timedelta(days=60))
        await gql.ok(REFUSE, {"id": refused["id"], "r": "repeated request (s.20(3)(c))"}, ws.admin_token)
        assert fresh["dueAt"] == (T0 + timedelta(days=30)).isoformat() and fresh["language"] == "ZH"
        assert [fresh["daysRemaining"], due_soon["daysRemaining"], overdue["daysRemaining"]] == [30, 5, -5]

        late = (await gql.ok(LIST, {"o": True}, ws.admin_token))["dataRequests"]
        assert [n["node"]["id"] for n in late["edges"]] == [overdue["id"]] and late["totalCount"] == 1
        assert late["edges"][0]["node"]["overdue"] is True
        on_time = (await gql.ok(LIST, {"o": False, "s": "OPEN"}, ws.admin_token))["dataRequests"]
        assert [n["node"]["id"] for n in on_time["edges"]] == [due_soon["id"], fresh["id"]]  # soonest first
        soon = (await gql.ok("{ dataRequests(dueWithinDays: 7){ edges { node { id } } } }", token=ws.admin_token))
        assert [n["node"]["id"] for n in soon["dataRequests"]["edges"]] == [due_soon["id"]]

        outbox = Outbox()
        async with unit_of_work(runtime, ws.slug) as unit:
            assert unit is not None
            reminder = await data_request_reminders.remind(unit[0], outbox, "Harbour Ltd", runtime.now())
        assert [str(r.id) for r in reminder.due_soon] == [str(from_global(due_soon["id"])[1])]
        assert [str(r.id) for r in reminder.overdue] == [str(from_global(overdue["id"])[1])]
        (to, subject, body), = outbox.sent
        assert to == [ws.admin_email] and subject == "[Harbour Ltd] Data requests: 1 overdue, 1 due within 7 days"
        assert "5 day(s) overdue" in body and "5 day(s) left" in body and "Chan Tai Man" not in body

    with frozen(runtime, T0 + timedelta(days=6)):  # a week later the correction request is late too
        late = (await gql.ok(LIST, {"o": True}, ws.admin_token))["dataRequests"]
        assert {n["node"]["id"] for n in late["edges"]} == {overdue["id"], due_soon["id"]}
    with frozen(runtime, T0 - timedelta(days=1)):
        error = only_error(await gql.raw(CREATE, {"i": {"kind": "ACCESS", "contactId": fresh["contact"]["id"],
                                                        "requesterName": "X", "receivedAt": T0.isoformat()}},
                                         ws.admin_token))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "receivedAt"}


async def test_refusals_land_in_the_log_book(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> None:
    request = await new_request(gql, ws, "CORRECTION")
    reason = "The opinion recorded is not a fact that can be corrected (s.25(1))."
    refused = (await gql.ok(REFUSE, {"id": request["id"], "r": reason, "g": "DATA_NOT_INACCURATE"},
                            ws.admin_token))["refuseDataRequest"]
    assert refused["status"] == "REFUSED" and refused["refusalReason"] == reason and refused["daysRemaining"] is None
    book = (await gql.ok("{ logBook { dataRequestId contactId kind requesterName reason refusedAt keepUntil } }",
                         token=ws.admin_token))["logBook"]
    entry = next(e for e in book if e["dataRequestId"] == request["id"])
    assert (entry["kind"], entry["reason"], entry["requesterName"], entry["contactId"]) == (
        "CORRECTION", reason, "Chan Tai Man", request["contact"]["id"])
    kept = datetime.fromisoformat(entry["keepUntil"]) - datetime.fromisoformat(entry["refusedAt"])
    assert kept >= timedelta(days=4 * 365)
    rows = await sql(runtime, ws.slug, "SELECT reason FROM log_book WHERE data_request_id = :id",
                     {"id": from_global(request["id"])[1]})
    assert [r[0] for r in rows] == [reason]
    again = only_error(await gql.raw(REFUSE, {"id": request["id"], "r": "again"}, ws.admin_token))
    assert again["extensions"] == {"code": "CONFLICT", "detail": "NOT_OPEN"}
    blank = only_error(await gql.raw(REFUSE, {"id": (await new_request(gql, ws, "ACCESS"))["id"], "r": " "},
                                     ws.admin_token))
    assert blank["extensions"] == {"code": "BAD_USER_INPUT", "field": "reason"}


async def test_partial_compliance_notice_only_before_the_deadline(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    with frozen(runtime, T0):
        early = await new_request(gql, ws, "ACCESS", T0 - timedelta(days=20))
        late = await new_request(gql, ws, "ACCESS", T0 - timedelta(days=41))
        noted = (await gql.ok(NOTICE, {"id": early["id"], "n": "Archived records are being retrieved."},
                              ws.admin_token))["recordPartialComplianceNotice"]
        assert noted["partialNoticeAt"] == T0.isoformat() and noted["status"] == "OPEN"
        error = only_error(await gql.raw(NOTICE, {"id": late["id"], "n": "too late"}, ws.admin_token))
        assert error["extensions"] == {"code": "CONFLICT", "detail": "PAST_DUE"}


async def test_fulfilment_per_kind_and_the_correction_flag(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> None:
    correction = await new_request(gql, ws, "CORRECTION")
    assert correction["contact"]["correctionPending"] is True
    done = (await gql.ok("mutation($id:ID!){ fulfilDataRequest(id:$id, correction:\"Address updated\"){ "
                         f"{REQUEST} }} }}", {"id": correction["id"]}, ws.admin_token))["fulfilDataRequest"]
    assert done["status"] == "FULFILLED" and done["fulfilledAt"] is not None
    assert done["contact"]["correctionPending"] is False

    erasure = await new_request(gql, ws, "ERASURE")
    erased = (await gql.ok(FULFIL, {"id": erasure["id"]}, ws.admin_token))["fulfilDataRequest"]
    assert erased["status"] == "FULFILLED" and erased["contact"]["firstName"] == "Erased"
    event = await sql(runtime, ws.slug, "SELECT details FROM audit_events WHERE action = 'ERASE' AND entity_id = :c",
                      {"c": str(from_global(erasure["contact"]["id"])[1])})
    assert event[0].details["dataRequestId"] == str(from_global(erasure["id"])[1])

    access = await new_request(gql, ws, "ACCESS", language="ZH")
    early = only_error(await gql.raw(FULFIL, {"id": access["id"]}, ws.admin_token))
    assert early["extensions"] == {"code": "BAD_USER_INPUT", "field": "deliveryMethod"}
    export = (await gql.ok("mutation($c:ID!,$r:ID){ requestContactExport(contactId:$c, dataRequestId:$r){ id } }",
                           {"c": access["contact"]["id"], "r": access["id"]}, ws.admin_token))["requestContactExport"]
    job = (await sql(runtime, ws.slug, "SELECT kind, data_request_id, language, contact_id FROM export_jobs "
                                       "WHERE id = :id", {"id": from_global(export["id"])[1]}))[0]
    assert tuple(job) == ("CONTACT", from_global(access["id"])[1], "ZH", from_global(access["contact"]["id"])[1])
    queued = only_error(await gql.raw(FULFIL_BY, {"id": access["id"], "m": "post"}, ws.admin_token))
    assert queued["extensions"] == {"code": "CONFLICT", "detail": "EXPORT_NOT_READY"}
    await run_export(runtime, ws, export["id"])
    linked = (await gql.ok(FULFIL_BY, {"id": access["id"], "m": "post"}, ws.admin_token))["fulfilDataRequest"]
    assert linked["status"] == "FULFILLED" and linked["exportId"] == export["id"]
    assert linked["export"] == {"id": export["id"], "kind": "CONTACT", "status": "SUCCEEDED"}

    again = only_error(await gql.raw(FULFIL_BY, {"id": access["id"], "m": "post"}, ws.admin_token))
    assert again["extensions"] == {"code": "CONFLICT", "detail": "NOT_OPEN"}


async def test_disclosures_name_partner_api_keys_within_twelve_months(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    contact = await ws.contact(firstName=canary("Z"), email=f"{canary().lower()}@example.hk")
    key = (await gql.ok('mutation{ createApiKey(name:"Partner portal", role:"support"){ key } }',
                        token=ws.admin_token))["createApiKey"]["key"]
    await gql.ok("query($id:ID!){ contact(id:$id){ firstName email } }", {"id": contact}, key)
    query = "query($c:ID!){ disclosures(contactId:$c){ channel actorKind recipient count fields } }"
    found = (await gql.ok(query, {"c": contact}, ws.admin_token))["disclosures"]
    assert found == [{"channel": "API_KEY", "actorKind": "api_key", "recipient": "Partner portal", "count": 1,
                      "fields": ["email", "firstName"]}]
    with frozen(runtime, datetime.now(UTC) + timedelta(days=400)):
        assert (await gql.ok(query, {"c": contact}, ws.admin_token))["disclosures"] == []
    sales = await ws.user("dr-sales", ["sales"])
    assert codes(await gql.raw(query, {"c": contact}, sales["token"])) == ["FORBIDDEN"]
    assert codes(await gql.raw(LIST, {}, sales["token"])) == ["FORBIDDEN"]
    missing = only_error(await gql.raw(CREATE, {"i": {"kind": "ACCESS", "contactId": to_global("Contact", uuid.uuid4()),
                                                      "requesterName": "X"}}, ws.admin_token))
    assert missing["extensions"]["code"] == "NOT_FOUND"


async def test_reminders_go_to_every_holder_of_data_request_write_in_the_workspace_time_zone(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    settings = """mutation($i:WorkspaceSettingsInput!){ updateWorkspaceSettings(input:$i){ businessName dpoName
      dpoEmail timeZone } }"""
    saved = (await gql.ok(settings, {"i": {"businessName": "Harbour Trading Ltd", "dpoName": "Data Protection Officer",
                                           "dpoEmail": "dpo@harbour.example.hk"}}, ws.admin_token))
    assert saved["updateWorkspaceSettings"]["timeZone"] == "Asia/Hong_Kong"
    bad = only_error(await gql.raw(settings, {"i": {"timeZone": "Mars/Olympus"}}, ws.admin_token))
    assert bad["extensions"] == {"code": "BAD_USER_INPUT", "field": "timeZone"}
    for action in ("read", "write"):
        await gql.ok("mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }",
                     {"r": {"role": "dpo", "resource": "data_request", "action": action, "effect": "ALLOW"}},
                     ws.admin_token)
    officer = await ws.user("reminded-dpo", ["dpo"])
    await ws.user("not-reminded", ["manager"])  # data_request read only
    with frozen(runtime, T0):
        await new_request(gql, ws, "ACCESS", T0 - timedelta(days=35))  # due T0 + 5 days, 09:00 UTC
        outbox = Outbox()
        async with unit_of_work(runtime, ws.slug) as unit:
            assert unit is not None
            await data_request_reminders.remind(unit[0], outbox, ws.slug, runtime.now())
    (to, subject, body), = outbox.sent
    assert to == sorted([ws.admin_email, officer["email"]])
    assert subject.startswith("[Harbour Trading Ltd]")
    assert f"due {(T0 + timedelta(days=5)):%Y-%m-%d} 17:00 Asia/Hong_Kong" in body
