"""Direct-marketing consent over HTTP: withdrawal and expiry change what marketing sees at once; the opt-out
register cannot be overridden silently; the retention default expires year-old consents."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, only_error, sql

CONSENT = """mutation($c:ID!,$p:ConsentPurpose!,$g:Boolean!,$e:DateTime,$o:String,$at:DateTime){
  recordConsent(contactId:$c, purpose:$p, granted:$g, source:"web form", noticeVersion:"2026-01", expiresAt:$e,
                optOutOverride:$o, consentObtainedAt:$at){ purpose granted active noticeVersion grantedAt withdrawnAt
                expiresAt } }"""
SEEN = "query($s:String!){ contacts(first: 50, filter:{search:$s}){ edges { node { id firstName } } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("marketer", ["marketing"])
    return ws


async def seen_by_marketing(gql: GraphQLClient, ws: Workspace, name: str) -> list[str]:
    data = await gql.ok(SEEN, {"s": name}, ws.users["marketer"]["token"])
    return [e["node"]["firstName"] for e in data["contacts"]["edges"]]


async def test_withdrawal_takes_effect_at_once_and_the_opt_out_register_holds(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    name = canary("M")
    contact = await ws.contact(firstName=name, email=f"{name.lower()}@example.hk")
    assert await seen_by_marketing(gql, ws, name) == []  # no consent, no marketing
    granted = (await gql.ok(CONSENT, {"c": contact, "p": "EMAIL", "g": True}, ws.admin_token))["recordConsent"]
    assert granted["active"] is True and granted["noticeVersion"] == "2026-01"
    assert await seen_by_marketing(gql, ws, name) == [name]

    await gql.ok(CONSENT, {"c": contact, "p": "EMAIL", "g": False}, ws.admin_token)
    assert await seen_by_marketing(gql, ws, name) == []  # the very next request
    register = await sql(runtime, ws.slug, "SELECT purpose, cleared_at FROM opt_outs WHERE contact_id = :c",
                         {"c": from_global(contact)[1]})
    assert [(r.purpose, r.cleared_at) for r in register] == [("email", None)]

    refused = only_error(await gql.raw(CONSENT, {"c": contact, "p": "EMAIL", "g": True}, ws.admin_token))
    assert refused["extensions"] == {"code": "CONFLICT", "detail": "OPTED_OUT", "field": "granted"}
    assert await seen_by_marketing(gql, ws, name) == []
    # Another purpose is not opted out.
    await gql.ok(CONSENT, {"c": contact, "p": "SMS", "g": True}, ws.admin_token)
    await gql.ok(CONSENT, {"c": contact, "p": "SMS", "g": False}, ws.admin_token)

    reason = "re-subscribed on the web form on 2026-03-01"
    sales = await ws.user("consent-sales", ["sales"])
    await gql.ok("mutation($c:ID!,$o:ID!){ updateContact(id:$c, input:{ownerId:$o}){ id } }",
                 {"c": contact, "o": sales["id"]}, ws.admin_token)
    free_text = {"c": contact, "p": "EMAIL", "g": True, "o": "he said ok on the phone",
                 "at": datetime.now(UTC).isoformat()}
    assert only_error(await gql.raw(CONSENT, free_text, sales["token"]))["extensions"]["code"] == "FORBIDDEN"
    undated = only_error(await gql.raw(CONSENT, {"c": contact, "p": "EMAIL", "g": True, "o": reason}, ws.admin_token))
    assert undated["extensions"] == {"code": "BAD_USER_INPUT", "field": "consentObtainedAt"}
    before = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    stale = only_error(await gql.raw(CONSENT, {**free_text, "o": reason, "at": before}, ws.admin_token))
    assert stale["extensions"] == {"code": "BAD_USER_INPUT", "field": "consentObtainedAt"}
    assert await seen_by_marketing(gql, ws, name) == []
    again = await gql.ok(CONSENT, {**free_text, "o": reason}, ws.admin_token)
    assert again["recordConsent"]["active"] is True
    assert await seen_by_marketing(gql, ws, name) == [name]
    cleared = await sql(runtime, ws.slug, "SELECT cleared_reason FROM opt_outs WHERE contact_id = :c "
                                          "AND purpose = 'email'", {"c": from_global(contact)[1]})
    assert [r[0] for r in cleared] == [reason]
    audited = await sql(
        runtime, ws.slug, "SELECT fields, details FROM audit_events WHERE entity_id = :c "
        "AND details ->> 'optOutCleared' = 'true'", {"c": str(from_global(contact)[1])},
    )
    assert audited[0].fields == ["optOuts.email"] and audited[0].details["reason"] == reason
    assert audited[0].details["source"] == "web form" and audited[0].details["consentObtainedAt"]


async def test_marketing_reads_each_channel_only_where_that_channel_is_consented(
    gql: GraphQLClient, ws: Workspace
) -> None:
    """Part 6A by channel: SMS consent shows the phone, not the e-mail; e-mail consent the e-mail, not the phone;
    consent to provide the data to others (s.35J) is not a consent to the business's own marketing."""
    query = "query($id:ID!){ contact(id:$id){ firstName email phone } }"
    people = {}
    for purpose in ("SMS", "EMAIL", "WHATSAPP", "CALL", "PROVIDE_TO_OTHERS"):
        name = canary(purpose[:2])
        contact = await ws.contact(firstName=name, email=f"{name.lower()}@example.hk", phone="+85291234567")
        await gql.ok(CONSENT, {"c": contact, "p": purpose, "g": True}, ws.admin_token)
        people[purpose] = contact
    seen = {}
    for purpose, contact in people.items():
        body = await gql.raw(query, {"id": contact}, ws.users["marketer"]["token"])
        got = body["data"]["contact"]
        seen[purpose] = None if got is None else (got["email"] is not None, got["phone"] is not None)
    assert seen == {"SMS": (False, True), "EMAIL": (True, False), "WHATSAPP": (False, True), "CALL": (False, True),
                    "PROVIDE_TO_OTHERS": None}


async def test_expiry_takes_effect_at_once(gql: GraphQLClient, ws: Workspace) -> None:
    name = canary("X")
    contact = await ws.contact(firstName=name)
    expires = datetime.now(UTC) + timedelta(seconds=2)
    await gql.ok(CONSENT, {"c": contact, "p": "WHATSAPP", "g": True, "e": expires.isoformat()}, ws.admin_token)
    assert await seen_by_marketing(gql, ws, name) == [name]
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    assert await seen_by_marketing(gql, ws, name) == []


async def test_the_year_old_consent_default_expires_consents_for_marketing(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    stale, fresh = canary("O"), canary("F")
    stale_id, fresh_id = await ws.contact(firstName=stale), await ws.contact(firstName=fresh)
    for contact in (stale_id, fresh_id):
        await gql.ok(CONSENT, {"c": contact, "p": "CALL", "g": True}, ws.admin_token)
    await sql(runtime, ws.slug, "UPDATE consents SET granted_at = now() - interval '400 days' WHERE contact_id = :c",
              {"c": from_global(stale_id)[1]})
    assert await seen_by_marketing(gql, ws, stale) == [stale]
    policies = (await gql.ok("{ retentionPolicies { id entity } }", token=ws.admin_token))["retentionPolicies"]
    consent_policy = next(p["id"] for p in policies if p["entity"] == "consent")
    await gql.ok("mutation($id:ID!){ setRetentionPolicyEnabled(id:$id, enabled:true){ enabled } }",
                 {"id": consent_policy}, ws.admin_token)
    run = (await gql.ok("mutation{ runRetention(dryRun:false){ affected { policy { entity } count } } }",
                        token=ws.admin_token))["runRetention"]
    assert [(a["policy"]["entity"], a["count"]) for a in run["affected"]] == [("consent", 1)]
    assert await seen_by_marketing(gql, ws, stale) == []
    assert await seen_by_marketing(gql, ws, fresh) == [fresh]
    consents = (await gql.ok("query($id:ID!){ contact(id:$id){ consents { purpose active expiresAt } } }",
                             {"id": stale_id}, ws.admin_token))["contact"]["consents"]
    assert consents[0]["active"] is False and consents[0]["expiresAt"] is not None
