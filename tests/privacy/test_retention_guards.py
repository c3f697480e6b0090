"""Retention over HTTP, second part: policies edited and deleted, CLEAR_FIELDS (HKID after KYC), the finance
minimum-retention guard (refused when a policy undercuts it, skipped and counted at run time), and dry runs that
name the people affected through the caller's own field rules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global, to_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, frozen, only_error, random_hkid, sql

POLICY = "id name entity condition afterDays action enabled fields"
CREATE = f"mutation($i:RetentionPolicyInput!){{ createRetentionPolicy(input:$i){{ {POLICY} }} }}"
UPDATE = f"mutation($id:ID!,$i:RetentionPolicyUpdateInput!){{ updateRetentionPolicy(id:$id, input:$i){{ {POLICY} }} }}"
DELETE = "mutation($id:ID!){ deleteRetentionPolicy(id:$id) }"
LIST = f"{{ retentionPolicies {{ {POLICY} }} }}"
RUN = """mutation($d:Boolean!,$p:[ID!]){ runRetention(dryRun:$d, policyIds:$p){
  dryRun affected { policy { name } count guarded sampleIds sample { id firstName } } } }"""
MINIMUMS = "{ retentionMinimums { category days defaultDays } }"
SET_MINIMUM = "mutation($c:String!,$d:Int!){ setRetentionMinimum(category:$c, days:$d){ category days defaultDays } }"
CONTACT = "query($id:ID!){ contact(id:$id){ firstName hkid salary } }"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }"
ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"
NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
GUARD = {"code": "BAD_USER_INPUT", "field": "afterDays", "detail": "MINIMUM_RETENTION"}


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def create(gql: GraphQLClient, ws: Workspace, **given: Any) -> dict[str, Any]:
    data = {"name": f"p {uuid.uuid4().hex[:8]}", "entity": "contact", "afterDays": 0, **given}
    return (await gql.ok(CREATE, {"i": data}, ws.admin_token))["createRetentionPolicy"]  # type: ignore[no-any-return]


async def aged_contact(runtime: Runtime, ws: Workspace, *, days: int, **fields: Any) -> str:
    """A contact created (and last active) `days` before NOW."""
    cid = await ws.contact(firstName=canary("Rg"), **fields)
    await sql(runtime, ws.slug, "UPDATE contacts SET created_at = :t, last_activity_at = :t WHERE id = :id",
              {"t": NOW - timedelta(days=days), "id": from_global(cid)[1]})
    return cid


async def activity(gql: GraphQLClient, runtime: Runtime, ws: Workspace, contact: str, kind: str, *, days: int,
                   amount_cents: int | None = None) -> uuid.UUID:
    """An activity that occurred `days` before NOW; the contact's last activity is then."""
    made = await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": kind, "subject": f"{kind} record"}},
                        ws.admin_token)
    raw = from_global(made["createActivity"]["id"])[1]
    at = NOW - timedelta(days=days)
    await sql(runtime, ws.slug, "UPDATE activities SET occurred_at = :t, amount_cents = :a WHERE id = :id",
              {"t": at, "a": amount_cents, "id": raw})
    await sql(runtime, ws.slug, "UPDATE contacts SET last_activity_at = :t WHERE id = :id",
              {"t": at, "id": from_global(contact)[1]})
    return raw


async def seen(gql: GraphQLClient, ws: Workspace, contact: str) -> dict[str, Any]:
    return (await gql.ok(CONTACT, {"id": contact}, ws.admin_token))["contact"]  # type: ignore[no-any-return]


async def run(gql: GraphQLClient, runtime: Runtime, ws: Workspace, policy: dict[str, Any], *, dry: bool,
              token: str | None = None) -> dict[str, Any]:
    with frozen(runtime, NOW):
        data = await gql.ok(RUN, {"d": dry, "p": [policy["id"]]}, token or ws.admin_token)
    (affected,) = data["runRetention"]["affected"]
    return affected  # type: ignore[no-any-return]


async def test_policies_are_edited_and_deleted_audited_with_typed_errors(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    policy = await create(gql, ws, name="Archive cold", condition="stage = COLD", afterDays=30, action="ARCHIVE")
    other = await create(gql, ws, name="Archive prospects", condition="stage = PROSPECT", afterDays=30,
                         action="ARCHIVE")
    edited = (await gql.ok(UPDATE, {"id": policy["id"], "i": {"condition": "stage in (COLD, LEAD)",
                                                               "afterDays": 60}}, ws.admin_token))
    assert edited["updateRetentionPolicy"] == {**policy, "condition": "stage in (COLD, LEAD)", "afterDays": 60}

    for given, field, code in [
        ({"condition": "stage = FROZEN"}, "condition", "BAD_USER_INPUT"),
        ({"afterDays": -5}, "afterDays", "BAD_USER_INPUT"),
        ({"entity": "activity"}, "action", "BAD_USER_INPUT"),  # activities are not archived
        ({"name": "Archive prospects"}, "name", "CONFLICT"),
    ]:
        error = only_error(await gql.raw(UPDATE, {"id": policy["id"], "i": given}, ws.admin_token))
        assert error["extensions"] == {"code": code, "field": field}, given
    listed = {p["id"]: p for p in (await gql.ok(LIST, token=ws.admin_token))["retentionPolicies"]}
    assert listed[policy["id"]] == edited["updateRetentionPolicy"]  # refused edits changed nothing

    nobody = to_global("RetentionPolicy", uuid.uuid4())
    assert only_error(await gql.raw(UPDATE, {"id": nobody, "i": {"afterDays": 1}}, ws.admin_token))[
        "extensions"]["code"] == "NOT_FOUND"
    assert only_error(await gql.raw(DELETE, {"id": nobody}, ws.admin_token))["extensions"]["code"] == "NOT_FOUND"
    manager = await ws.user("edit-manager", ["manager"])
    for query, variables in [(UPDATE, {"id": policy["id"], "i": {"afterDays": 1}}), (DELETE, {"id": policy["id"]})]:
        assert only_error(await gql.raw(query, variables, manager["token"]))["extensions"]["code"] == "FORBIDDEN"

    assert (await gql.ok(DELETE, {"id": policy["id"]}, ws.admin_token))["deleteRetentionPolicy"] is True
    names = {p["name"] for p in (await gql.ok(LIST, token=ws.admin_token))["retentionPolicies"]}
    assert "Archive cold" not in names and other["name"] in names
    assert only_error(await gql.raw(DELETE, {"id": policy["id"]}, ws.admin_token))["extensions"]["code"] == "NOT_FOUND"

    events = await sql(runtime, ws.slug, "SELECT action, details FROM audit_events WHERE entity_type = "
                                         "'retention_policy' AND entity_id = :id ORDER BY occurred_at",
                       {"id": str(from_global(policy["id"])[1])})
    assert [e.action for e in events] == ["CREATE", "UPDATE", "DELETE"]
    assert events[1].details["changed"] == ["condition", "afterDays"]
    assert events[2].details["name"] == "Archive cold"


async def test_clear_fields_clears_hkid_after_kyc_everywhere_and_records_it(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    kyc_done = await aged_contact(runtime, ws, days=100, hkid=random_hkid(), bio="keeps its bio")
    recent = await aged_contact(runtime, ws, days=10, hkid=random_hkid())
    policy = await create(gql, ws, name="Clear HKID 90 days after creation", condition="createdAt older than 90 days",
                          action="CLEAR_FIELDS", fields=["hkid"])
    assert policy["action"] == "CLEAR_FIELDS" and policy["fields"] == ["hkid"]
    before = await seen(gql, ws, kyc_done)

    dry = await run(gql, runtime, ws, policy, dry=True)
    assert (dry["count"], dry["guarded"]) == (1, 0)
    assert dry["sample"] == [{"id": kyc_done, "firstName": before["firstName"]}]
    assert await seen(gql, ws, kyc_done) == before  # a dry run changes nothing

    real = await run(gql, runtime, ws, policy, dry=False)
    assert (real["count"], real["sampleIds"]) == (1, [kyc_done])
    assert await seen(gql, ws, kyc_done) == {**before, "hkid": None}
    assert (await seen(gql, ws, recent))["hkid"] is not None
    raw = from_global(kyc_done)[1]
    stored = await sql(runtime, ws.slug, "SELECT hkid_enc, hkid_bidx, bio FROM contacts WHERE id = :id", {"id": raw})
    assert tuple(stored[0]) == (None, None, "keeps its bio")
    history = await sql(runtime, ws.slug, "SELECT actor_kind, old_enc, new_enc FROM contact_history WHERE "
                                          "contact_id = :id AND field = 'hkid' ORDER BY occurred_at", {"id": raw})
    assert len(history) == 2  # set when created, cleared by the policy
    assert all(h.old_enc is None and h.new_enc is None for h in history)  # the old value is gone from history too
    assert history[-1].actor_kind == "user"
    events = await sql(runtime, ws.slug, "SELECT fields, categories, details FROM audit_events WHERE action = "
                                         "'UPDATE' AND entity_id = :id AND details ->> 'cleared' = 'true'",
                       {"id": str(raw)})
    assert [(e.fields, e.categories, e.details["retentionPolicy"]) for e in events] == [
        (["hkid"], ["government_id"], "Clear HKID 90 days after creation")]
    assert (await run(gql, runtime, ws, policy, dry=False))["count"] == 0  # nothing left to clear

    for given, field in [
        ({"action": "CLEAR_FIELDS"}, "fields"),
        ({"action": "CLEAR_FIELDS", "fields": ["stage"]}, "fields"),  # not personal data
        ({"action": "CLEAR_FIELDS", "fields": ["nickname"]}, "fields"),  # no such field
        ({"action": "ARCHIVE", "fields": ["hkid"]}, "fields"),
        ({"action": "CLEAR_FIELDS", "fields": ["hkid"], "entity": "activity", "condition": "kind = NOTE"}, "action"),
    ]:
        data = {"name": canary("bad"), "entity": "contact", "condition": "stage = COLD", "afterDays": 1, **given}
        error = only_error(await gql.raw(CREATE, {"i": data}, ws.admin_token))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, given
    archived = await gql.ok(UPDATE, {"id": policy["id"], "i": {"action": "ARCHIVE"}}, ws.admin_token)
    assert archived["updateRetentionPolicy"]["fields"] == []  # the fields go with the action


@pytest.mark.parametrize(
    ("entity", "condition", "after_days", "action", "fields"),
    [
        ("activity", "kind = PURCHASE", 365, "DELETE", None),
        ("activity", "not kind = NOTE", 30, "ANONYMISE", None),
        ("activity", "kind in (NOTE, PURCHASE) and occurredAt older than 5 years", 0, "DELETE", None),
        ("activity", "kind = PURCHASE and occurredAt newer than 30 days", 0, "ANONYMISE", None),
        ("contact", "stage = COLD", 90, "CLEAR_FIELDS", ["hkid", "salary"]),
        ("contact", "createdAt older than 10 years", 0, "CLEAR_FIELDS", ["salary"]),
    ],
)
async def test_a_policy_undercutting_the_finance_guard_is_refused(
    gql: GraphQLClient, ws: Workspace, entity: str, condition: str, after_days: int, action: str,
    fields: list[str] | None,
) -> None:
    data = {"name": canary("guard"), "entity": entity, "condition": condition, "afterDays": after_days,
            "action": action, "fields": fields}
    error = only_error(await gql.raw(CREATE, {"i": data}, ws.admin_token))
    assert error["extensions"] == GUARD
    assert "finance retention guard" in error["message"] and "2557 days" in error["message"]


async def test_policies_clear_of_the_guard_are_accepted_and_the_guard_can_be_lengthened_only(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    for entity, condition, after_days, action, fields in [
        ("activity", "kind = NOTE", 30, "ANONYMISE", None),
        ("activity", "kind = PURCHASE and occurredAt older than 8 years", 0, "DELETE", None),
        ("activity", "kind = PURCHASE", 2557, "DELETE", None),
        ("contact", "stage = COLD", 730, "ANONYMISE", None),  # not aimed at financial data: guarded at run time
        ("contact", "lastActivityAt older than 8 years", 0, "CLEAR_FIELDS", ["hkid", "salary"]),
        ("contact", "createdAt older than 90 days", 0, "CLEAR_FIELDS", ["hkid"]),
    ]:
        await create(gql, ws, entity=entity, condition=condition, afterDays=after_days, action=action, fields=fields)
    notes = await create(gql, ws, entity="activity", condition="kind = NOTE", afterDays=30, action="DELETE")
    error = only_error(await gql.raw(UPDATE, {"id": notes["id"], "i": {"condition": "kind != NOTE"}}, ws.admin_token))
    assert error["extensions"] == GUARD

    assert (await gql.ok(MINIMUMS, token=ws.admin_token))["retentionMinimums"] == [
        {"category": "finance", "days": 2557, "defaultDays": 2557}]
    for category, days, field in [("finance", 2000, "days"), ("health", 3000, "category")]:
        error = only_error(await gql.raw(SET_MINIMUM, {"c": category, "d": days}, ws.admin_token))
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    manager = await ws.user("guard-manager", ["manager"])
    assert only_error(await gql.raw(SET_MINIMUM, {"c": "finance", "d": 3000}, manager["token"]))[
        "extensions"]["code"] == "FORBIDDEN"
    purchases = await create(gql, ws, name="Purchases after 7 years", entity="activity", condition="kind = PURCHASE",
                             afterDays=2557, action="DELETE")
    lengthened = await gql.ok(SET_MINIMUM, {"c": "finance", "d": 3650}, ws.admin_token)
    assert lengthened["setRetentionMinimum"] == {"category": "finance", "days": 3650, "defaultDays": 2557}
    enable = "mutation($id:ID!){ setRetentionPolicyEnabled(id:$id, enabled:true){ enabled } }"
    error = only_error(await gql.raw(enable, {"id": purchases["id"]}, ws.admin_token))
    assert error["extensions"] == GUARD and "3650 days" in error["message"]


async def test_runs_skip_and_count_what_the_finance_guard_holds(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    recent_buyer = await aged_contact(runtime, ws, days=1200, stage="COLD", salary=50_000)
    receipt = await activity(gql, runtime, ws, recent_buyer, "PURCHASE", days=3 * 365)
    old_buyer = await aged_contact(runtime, ws, days=4000, stage="COLD")
    await activity(gql, runtime, ws, old_buyer, "PURCHASE", days=8 * 365)
    idle = await aged_contact(runtime, ws, days=800, stage="COLD")
    cold = await create(gql, ws, name="Cold contacts after 2 years", condition="stage = COLD", afterDays=730,
                        action="ANONYMISE")
    names = {c: (await seen(gql, ws, c))["firstName"] for c in (recent_buyer, old_buyer, idle)}

    dry = await run(gql, runtime, ws, cold, dry=True)
    assert (dry["count"], dry["guarded"]) == (2, 1)
    assert {(s["id"], s["firstName"]) for s in dry["sample"]} == {(old_buyer, names[old_buyer]), (idle, names[idle])}
    real = await run(gql, runtime, ws, cold, dry=False)
    assert (real["count"], real["guarded"], set(real["sampleIds"])) == (2, 1, {old_buyer, idle})
    assert (await seen(gql, ws, recent_buyer))["firstName"] == names[recent_buyer]  # kept whole for the tax years
    assert (await seen(gql, ws, old_buyer))["firstName"] == "Erased"
    kept = await sql(runtime, ws.slug, "SELECT subject FROM activities WHERE id = :id", {"id": receipt})
    assert kept[0].subject == "PURCHASE record"
    ran = await sql(runtime, ws.slug, "SELECT details FROM audit_events WHERE entity_id = :id AND details ->> 'run' "
                                      "= 'true'", {"id": str(from_global(cold["id"])[1])})
    assert [(r.details["affected"], r.details["guarded"]) for r in ran] == [(2, 1)]

    # An activity with an amount is a financial record whatever its kind: a note policy keeps it.
    noted = await aged_contact(runtime, ws, days=400, stage="LEAD")
    billed = await activity(gql, runtime, ws, noted, "NOTE", days=365, amount_cents=12_000)
    plain = await activity(gql, runtime, ws, noted, "NOTE", days=365)
    notes = await create(gql, ws, entity="activity", condition="kind = NOTE", afterDays=30, action="DELETE")
    done = await run(gql, runtime, ws, notes, dry=False)
    assert (done["count"], done["guarded"], done["sampleIds"]) == (1, 1, [to_global("Activity", plain)])
    assert [s["id"] for s in done["sample"]] == [noted]  # whose records they are
    left = await sql(runtime, ws.slug, "SELECT id FROM activities WHERE id IN (:a, :b)", {"a": billed, "b": plain})
    assert [r.id for r in left] == [billed]

    # A guard lengthened after a policy was written holds at run time: CLEAR_FIELDS keeps the financial field.
    customer = await aged_contact(runtime, ws, days=2700, stage="CUSTOMER", hkid=random_hkid(), salary=90_000)
    await activity(gql, runtime, ws, customer, "PURCHASE", days=2600)
    clear = await create(gql, ws, condition="stage = CUSTOMER", afterDays=2557, action="CLEAR_FIELDS",
                         fields=["hkid", "salary"])
    await gql.ok(SET_MINIMUM, {"c": "finance", "d": 3650}, ws.admin_token)
    cleared = await run(gql, runtime, ws, clear, dry=False)
    assert (cleared["count"], cleared["guarded"]) == (1, 1)
    after = await seen(gql, ws, customer)
    assert after["hkid"] is None and after["salary"] == 90_000


async def test_dry_run_samples_follow_the_callers_field_rules_and_are_audited(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    person = await aged_contact(runtime, ws, days=900, stage="COLD")
    cold = await create(gql, ws, condition="stage = COLD", afterDays=730, action="ANONYMISE")
    for resource in ("retention_policy", "contact"):
        await gql.ok(ADD_POLICY, {"r": {"role": "records", "resource": resource, "action": "read", "effect": "ALLOW"}},
                     ws.admin_token)
    clerk = await ws.user("records-clerk", ["records"])
    with frozen(runtime, NOW):
        body = await gql.raw(RUN, {"d": True, "p": [cold["id"]]}, clerk["token"])
    (affected,) = body["data"]["runRetention"]["affected"]
    assert affected["sample"] == [{"id": person, "firstName": None}]  # names are PII the clerk may not read
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}

    admin = await run(gql, runtime, ws, cold, dry=True)
    assert admin["sample"][0]["firstName"] == (await seen(gql, ws, person))["firstName"]
    reads = await sql(runtime, ws.slug, "SELECT actor_kind, fields FROM audit_events WHERE action = 'READ' AND "
                                        "entity_id = :id", {"id": str(from_global(person)[1])})
    assert any("firstName" in r.fields for r in reads)
