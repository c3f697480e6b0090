"""Retention policies over HTTP: validation, defaults, dry run equals the real run, legal hold, links, audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.retention import policies as retention
from resolvers.runtime import Runtime
from schema.ids import from_global, to_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import dump, frozen, only_error, sql
from workers import privacy as privacy_actors
from workers.broker import unit_of_work
from workers.scheduler import SCHEDULE

POLICY = "id name entity condition afterDays action enabled"
CREATE = f"mutation($i:RetentionPolicyInput!){{ createRetentionPolicy(input:$i){{ {POLICY} }} }}"
LIST = f"{{ retentionPolicies {{ {POLICY} }} }}"
RUN = """mutation($d:Boolean!,$p:[ID!]){ runRetention(dryRun:$d, policyIds:$p){
  dryRun ranAt affected { policy { id name } count sampleIds } } }"""
NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def policy(gql: GraphQLClient, ws: Workspace, **given: Any) -> dict[str, Any]:
    data = {"entity": "contact", "afterDays": 0, "enabled": False, **given}
    return (await gql.ok(CREATE, {"i": data}, ws.admin_token))["createRetentionPolicy"]  # type: ignore[no-any-return]


async def contact(gql: GraphQLClient, runtime: Runtime, ws: Workspace, stage: str, *, idle_days: int,
                  **extra: Any) -> uuid.UUID:
    """A contact last active `idle_days` before NOW."""
    cid = await ws.contact(firstName=f"R{stage}{idle_days}", stage=stage, **extra)
    raw = from_global(cid)[1]
    at = NOW - timedelta(days=idle_days)
    await sql(runtime, ws.slug, "UPDATE contacts SET created_at = :t, last_activity_at = :t WHERE id = :id",
              {"t": at, "id": raw})
    return raw


def ids_of(global_ids: list[str]) -> set[uuid.UUID]:
    return {from_global(g)[1] for g in global_ids}


async def test_new_workspaces_get_disabled_defaults_and_old_ones_get_them_lazily(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    listed = (await gql.ok(LIST, token=ws.admin_token))["retentionPolicies"]
    assert {(p["name"], p["entity"], p["action"], p["enabled"]) for p in listed} == {
        ("Cold leads after 2 years", "contact", "ANONYMISE", False),
        ("Marketing consent older than 1 year needs refresh", "consent", "ARCHIVE", False),
        ("Purchase records kept 7 years", "activity", "DELETE", False),
    }
    await sql(runtime, ws.slug, "DELETE FROM retention_policies")  # as if created before retention existed
    assert len((await gql.ok(LIST, token=ws.admin_token))["retentionPolicies"]) == 3
    nothing = (await gql.ok(RUN, {"d": True}, ws.admin_token))["runRetention"]
    assert nothing["affected"] == []  # disabled policies do not run by themselves


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"condition": "stag = COLD"}, "condition", "unknown field 'stag' for contact"),
        ({"condition": "stage = FROZEN"}, "condition", "'FROZEN' is not a stage"),
        ({"condition": "stage = COLD and"}, "condition", "expected a field name, found the end of the condition"),
        ({"condition": "lastActivityAt older than two years"}, "condition", "expected a number after 'older than'"),
        ({"condition": "stage = COLD", "action": "ARCHIVE", "entity": "activity"}, "action", "ANONYMISE, DELETE"),
        ({"condition": "stage = COLD", "entity": "invoice"}, "entity", "unknown entity"),
        ({"condition": "stage = COLD", "afterDays": -1}, "afterDays", "afterDays"),
    ],
)
async def test_invalid_policies_name_the_input_field(
    gql: GraphQLClient, ws: Workspace, given: dict[str, Any], field: str, message: str
) -> None:
    data = {"name": f"bad {uuid.uuid4().hex[:6]}", "entity": "contact", "afterDays": 1, "action": "ARCHIVE", **given}
    error = only_error(await gql.raw(CREATE, {"i": data}, ws.admin_token))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert message in error["message"]


async def test_dry_run_equals_the_real_run_and_legal_hold_is_respected(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    old_cold = [await contact(gql, runtime, ws, "COLD", idle_days=800 + i) for i in range(3)]
    recent_cold = await contact(gql, runtime, ws, "COLD", idle_days=100)
    held = await contact(gql, runtime, ws, "COLD", idle_days=900)
    await sql(runtime, ws.slug, "UPDATE contacts SET legal_hold = true WHERE id = :id", {"id": held})
    asked = await contact(gql, runtime, ws, "COLD", idle_days=900)  # an OPEN data request protects its data
    await gql.ok("mutation($i:DataRequestInput!){ createDataRequest(input:$i){ id } }",
                 {"i": {"kind": "ACCESS", "contactId": _gid(asked), "requesterName": "Chan"}}, ws.admin_token)
    old_leads = [await contact(gql, runtime, ws, "LEAD", idle_days=400 + i) for i in range(2)]
    cold = await policy(gql, ws, name="Cold after 2 years", condition="stage = COLD", afterDays=730,
                        action="ANONYMISE")
    # Overlaps the first: one run may anonymise a contact and archive it too.
    leads = await policy(gql, ws, name="Idle leads archived", condition="stage in (LEAD, COLD) and archivedAt is null",
                         afterDays=365, action="ARCHIVE")
    ids = [cold["id"], leads["id"]]
    tables = {t: await dump(runtime, ws.slug, t) for t in ("contacts", "audit_events")}

    with frozen(runtime, NOW):
        dry = (await gql.ok(RUN, {"d": True, "p": ids}, ws.admin_token))["runRetention"]
        assert await dump(runtime, ws.slug, "contacts") == tables["contacts"]  # nothing changed
        real = (await gql.ok(RUN, {"d": False, "p": ids}, ws.admin_token))["runRetention"]

    assert dry["dryRun"] is True and real["dryRun"] is False
    assert [(a["policy"]["name"], a["count"], a["sampleIds"]) for a in dry["affected"]] == [
        (a["policy"]["name"], a["count"], a["sampleIds"]) for a in real["affected"]
    ]
    anonymised = {r[0] for r in await sql(runtime, ws.slug, "SELECT id FROM contacts WHERE anonymised_at IS NOT NULL")}
    archived = {r[0] for r in await sql(runtime, ws.slug, "SELECT id FROM contacts WHERE archived_at IS NOT NULL")}
    assert anonymised == set(old_cold) == ids_of(real["affected"][0]["sampleIds"])
    assert real["affected"][0]["count"] == 3
    assert archived == {*old_cold, *old_leads, asked} == ids_of(real["affected"][1]["sampleIds"])
    assert held not in anonymised | archived and recent_cold not in anonymised | archived
    assert asked not in anonymised

    events = await sql(runtime, ws.slug, "SELECT action, entity_id, details FROM audit_events "
                                         "WHERE details ->> 'retentionPolicyId' IS NOT NULL")
    by_policy = {(e.action, e.details["retentionPolicy"]) for e in events}
    assert by_policy == {("ERASE", "Cold after 2 years"), ("UPDATE", "Idle leads archived")}
    assert {e.entity_id for e in events if e.action == "ERASE"} == {str(i) for i in old_cold}

    with frozen(runtime, NOW):
        again = (await gql.ok(RUN, {"d": False, "p": ids}, ws.admin_token))["runRetention"]
    assert [a["count"] for a in again["affected"]] == [0, 0]


async def test_delete_only_where_nothing_links_and_activity_policies(
    gql: GraphQLClient, runtime: Runtime, ws: Workspace
) -> None:
    bare = await contact(gql, runtime, ws, "PROSPECT", idle_days=50)
    await gql.ok('mutation($c:ID!){ recordConsent(contactId:$c, purpose:SMS, granted:true, source:"form"){ id } }',
                 {"c": _gid(bare)}, ws.admin_token)
    linked = await contact(gql, runtime, ws, "PROSPECT", idle_days=50)
    note = (await gql.ok("mutation($i:ActivityInput!){ createActivity(input:$i){ id } }",
                         {"i": {"contactId": _gid(linked), "kind": "NOTE", "subject": "call back", "body": "x"}},
                         ws.admin_token))["createActivity"]["id"]
    await sql(runtime, ws.slug, "UPDATE activities SET occurred_at = :t WHERE id = :id",
              {"t": NOW - timedelta(days=40), "id": from_global(note)[1]})
    purchases = []
    for _ in range(2):
        made = await gql.ok("mutation($i:ActivityInput!){ createActivity(input:$i){ id } }",
                            {"i": {"contactId": _gid(linked), "kind": "PURCHASE", "subject": "receipt"}},
                            ws.admin_token)
        purchases.append(from_global(made["createActivity"]["id"])[1])
    await sql(runtime, ws.slug, "UPDATE activities SET occurred_at = :t WHERE id = ANY(:ids)",
              {"t": NOW - timedelta(days=8 * 365), "ids": purchases})
    await sql(
        runtime, ws.slug, "INSERT INTO attachments (id, activity_id, filename, content_type, size_bytes, sha256, "
        "storage_key, created_at) VALUES (:id, :a, 'r.pdf', 'application/pdf', 1, 'x', 'k', now())",
        {"id": uuid.uuid4(), "a": purchases[1]},
    )
    delete = await policy(gql, ws, name="Drop prospects", condition="stage = PROSPECT", afterDays=30, action="DELETE")
    clear = await policy(gql, ws, name="Clear old notes", entity="activity", condition="kind = NOTE", afterDays=30,
                         action="ANONYMISE")
    receipts = await policy(gql, ws, name="Receipts after 7 years", entity="activity", condition="kind = PURCHASE",
                            afterDays=7 * 365 + 2, action="DELETE")
    with frozen(runtime, NOW):
        run = (await gql.ok(RUN, {"d": False, "p": [delete["id"], clear["id"], receipts["id"]]}, ws.admin_token))
    counts = {a["policy"]["name"]: a["count"] for a in run["runRetention"]["affected"]}
    assert counts == {"Drop prospects": 1, "Clear old notes": 1, "Receipts after 7 years": 1}
    kept = {r[0] for r in await sql(runtime, ws.slug, "SELECT id FROM activities WHERE id = ANY(:ids)",
                                    {"ids": purchases})}
    assert kept == {purchases[1]}  # its attachment links to it
    left = {r[0] for r in await sql(runtime, ws.slug, "SELECT id FROM contacts WHERE id IN (:a, :b)",
                                    {"a": bare, "b": linked})}
    assert left == {linked}  # its activity links to it
    assert not await sql(runtime, ws.slug, "SELECT 1 FROM consents WHERE contact_id = :c", {"c": bare})
    row = (await sql(runtime, ws.slug, "SELECT kind, subject, body FROM activities WHERE id = :id",
                     {"id": from_global(note)[1]}))[0]
    assert tuple(row) == ("NOTE", None, None)


async def test_the_scheduler_runs_enabled_policies_only(gql: GraphQLClient, runtime: Runtime, ws: Workspace) -> None:
    names = {p.actor_name for p in SCHEDULE}
    assert {"retention.run_all", "data_requests.remind_all"} <= names
    registered = set(privacy_actors.actors(None))  # type: ignore[arg-type]
    assert {"retention.run_all", "retention.run", "retention.run_policy", "data_requests.remind"} <= registered
    target = await contact(gql, runtime, ws, "CUSTOMER", idle_days=3000)
    enabled = await policy(gql, ws, name="Archive very old customers", condition="stage = CUSTOMER",
                           afterDays=2900, action="ARCHIVE", enabled=True)
    disabled = await policy(gql, ws, name="Never runs", condition="stage = CUSTOMER", afterDays=1, action="ANONYMISE")
    async with unit_of_work(runtime, ws.slug) as unit:
        assert unit is not None
        assert uuid.UUID(str(from_global(enabled["id"])[1])) in await retention.enabled_ids(unit[0])
        assert await retention.run_scheduled(*unit, from_global(disabled["id"])[1], NOW) is None
        done = await retention.run_scheduled(*unit, from_global(enabled["id"])[1], NOW)
        assert done is not None and done[0].policies[0].count == 1
    row = (await sql(runtime, ws.slug, "SELECT archived_at, anonymised_at FROM contacts WHERE id = :id",
                     {"id": target}))[0]
    assert row.archived_at == NOW and row.anonymised_at is None
    audited = await sql(runtime, ws.slug, "SELECT actor_kind FROM audit_events WHERE entity_id = :id AND "
                                          "details ->> 'retentionPolicyId' = :p",
                        {"id": str(target), "p": str(from_global(enabled["id"])[1])})
    assert [r[0] for r in audited] == ["system"]


async def test_retention_needs_the_retention_permissions(gql: GraphQLClient, ws: Workspace) -> None:
    manager = await ws.user("retention-manager", ["manager"])
    assert only_error(await gql.raw(RUN, {"d": False}, manager["token"]))["extensions"]["code"] == "FORBIDDEN"
    data = {"name": "x", "entity": "contact", "condition": "stage = COLD", "afterDays": 1, "action": "ARCHIVE"}
    assert only_error(await gql.raw(CREATE, {"i": data}, manager["token"]))["extensions"]["code"] == "FORBIDDEN"


def _gid(raw: uuid.UUID) -> str:
    return to_global("Contact", raw)
