"""The retention condition language (resolvers/retention/language.py): valid conditions select the right rows
of a real workspace database, and every kind of mistake is a ConditionError naming what was expected and where
(over HTTP, `createRetentionPolicy` turns it into BAD_USER_INPUT on `condition` and stores nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from db.models import Activity, Consent, Contact
from resolvers.retention.language import MAX_LENGTH, ConditionError, Facts, parse, tokenize
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, only_error, sql

NOW = datetime.now(UTC)
CONSENT = """mutation($c:ID!,$p:ConsentPurpose!,$g:Boolean!,$e:DateTime){ recordConsent(contactId:$c, purpose:$p,
  granted:$g, source:"form", noticeVersion:"1", expiresAt:$e){ active } }"""
POLICY = """mutation($i:RetentionPolicyInput!){ createRetentionPolicy(input:$i){ id condition } }"""


# ------------------------------------------------------------------------------------------------ errors

ERRORS = [
    # (entity, condition, message fragment, 0-based position)
    ("contact", "stage = COLD;", "unexpected character ';'", 12),
    ("contact", "stage = COLD COLD", "expected 'and', 'or' or the end of the condition, found 'COLD'", 13),
    ("contact", "(stage = COLD", "expected ')', found the end of the condition", 13),
    ("contact", "consent email active", "expected 'is', found 'active'", 14),
    ("contact", "consent is happy", "expected 'active' or 'withdrawn' or 'expired', found 'happy'", 11),
    ("contact", "= COLD", "expected a field name, found '='", 0),
    ("contact", "colour = red", "unknown field 'colour' for contact; known fields: stage, vip, createdAt", 0),
    ("activity", "stage = COLD", "unknown field 'stage' for activity", 0),
    ("contact", "stage", "expected '=', '!=', 'in' or 'is null' after 'stage', found the end of the condition", 5),
    ("contact", "vip is nothing", "expected 'null', found 'nothing'", 7),
    ("contact", "createdAt = 2020-01-01", "expected 'older' or 'newer' or 'before' or 'after' or 'is', found '='", 10),
    ("contact", "createdAt before yesterday", "expected a date (YYYY-MM-DD) after 'before', found 'yesterday'", 17),
    ("contact", "createdAt after 2026-02-30", "'2026-02-30' is not a valid date", 16),
    ("contact", "createdAt older 3 days", "expected 'than', found '3'", 16),
    ("contact", "createdAt older than many days", "expected a number after 'older than', found 'many'", 21),
    ("contact", "createdAt newer than 3 fortnights", "expected 'day' or 'days'", 23),
    ("contact", "createdAt older than 101 years", "ages are at most 100 years", 21),
    ("contact", "vip = yes", "expected true or false for 'vip', found 'yes'", 6),
    ("contact", "stage = 3", "expected a value for 'stage' (one of LEAD, PROSPECT, CUSTOMER, COLD), found '3'", 8),
    ("contact", "stage = WARM", "'WARM' is not a stage; one of LEAD, PROSPECT, CUSTOMER, COLD", 8),
    ("contact", "stage in COLD", "expected '(' after 'in', found 'COLD'", 9),
    ("contact", "stage not in (COLD LEAD)", "expected ',' or ')', found 'LEAD'", 19),
    ("contact", "stage in ()", "expected a value for 'stage'", 10),
    ("contact", "not", "expected a field name, found the end of the condition", 3),
    ("contact", "stage = COLD and", "expected a field name, found the end of the condition", 16),
    ("consent", "purpose = fax", "'fax' is not a purpose; one of email, sms, whatsapp, call", 10),
    ("nobody", "stage = COLD", "unknown entity 'nobody'", 0),
    ("contact", "   ", "a condition is needed", 0),
    ("contact", "vip = true or " * 200, f"a condition is at most {MAX_LENGTH} characters", MAX_LENGTH),
]


@pytest.mark.parametrize(("entity", "text", "message", "position"), ERRORS)
def test_every_mistake_is_a_condition_error_with_its_position(
    entity: str, text: str, message: str, position: int
) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text, entity)
    assert message in str(caught.value)
    assert caught.value.position == position
    assert str(caught.value).endswith(f"(at character {position + 1})")


def test_the_tokenizer_keeps_positions_and_tells_dates_from_numbers() -> None:
    text = "createdAt before 2024-05-01 or stage != COLD and x <> y"
    tokens = tokenize(text)
    assert [(t.kind, t.text, t.position) for t in tokens[:4]] == [
        ("word", "createdAt", 0), ("word", "before", 10), ("date", "2024-05-01", 17), ("word", "or", 28)]
    assert [t.text for t in tokens if t.kind == "op"] == ["!=", "<>"]
    assert tokens[-1].kind == "end" and tokens[-1].position == len(text)


# A purchase that occurred less than 2557 days ago: can the condition match it (the finance guard asks)?
YOUNG_PURCHASE = Facts({"kind": "PURCHASE"}, {"occurredAt": 2557})
JUDGED = [
    ("kind = PURCHASE", True),
    ("kind = NOTE", False),
    ("kind != NOTE", True),
    ("not kind = NOTE", True),
    ("kind in (NOTE, CALL)", False),
    ("kind not in (NOTE, CALL)", True),
    ("private = true", None),
    ("kind = PURCHASE and private = true", None),
    ("kind = NOTE or private = true", None),
    ("kind = NOTE and private = true", False),
    ("occurredAt older than 8 years", False),
    ("occurredAt older than 2557 days", False),
    ("occurredAt older than 2556 days", None),
    ("occurredAt newer than 30 days", None),
    ("occurredAt newer than 8 years", True),
    ("occurredAt is null", False),
    ("occurredAt before 2020-01-01", None),
    ("createdAt older than 8 years", None),
    ("not (kind = PURCHASE and occurredAt older than 8 years)", True),
    ("consent is active", None),
]


@pytest.mark.parametrize(("text", "verdict"), JUDGED)
def test_a_condition_judges_described_rows_in_three_valued_logic(text: str, verdict: bool | None) -> None:
    assert parse(text, "activity").judge(YOUNG_PURCHASE) is verdict


# ------------------------------------------------------------------------------------------------ meaning


@pytest.fixture(scope="module")
async def world(gql: GraphQLClient, workspaces: WorkspaceFactory) -> tuple[Workspace, dict[str, str]]:
    """Contacts of known stage, VIP flag and consents; an activity of each of two kinds on `cold`."""
    ws = await workspaces.create()
    made = {
        "cold": await ws.contact(firstName=canary("Cold"), stage="COLD"),
        "cold_vip": await ws.contact(firstName=canary("ColdVip"), stage="COLD", vip=True),
        "lead": await ws.contact(firstName=canary("Lead"), stage="LEAD"),
        "customer": await ws.contact(firstName=canary("Cust"), stage="CUSTOMER"),
    }
    await gql.ok(CONSENT, {"c": made["lead"], "p": "EMAIL", "g": True}, ws.admin_token)
    await gql.ok(CONSENT, {"c": made["customer"], "p": "SMS", "g": True}, ws.admin_token)
    await gql.ok(CONSENT, {"c": made["customer"], "p": "SMS", "g": False}, ws.admin_token)
    await gql.ok(CONSENT, {"c": made["cold_vip"], "p": "CALL", "g": True,
                           "e": (NOW + timedelta(days=10)).isoformat()}, ws.admin_token)
    for kind in ("PURCHASE", "NOTE"):
        await gql.ok("mutation($i:ActivityInput!){ createActivity(input:$i){ id } }",
                     {"i": {"contactId": made["cold"], "kind": kind, "subject": kind}}, ws.admin_token)
    return ws, {label: str(from_global(gid)[1]) for label, gid in made.items()}


async def matching(runtime: Runtime, ws: Workspace, entity: str, text: str, now: datetime = NOW) -> set[str]:
    model = {"contact": Contact, "activity": Activity, "consent": Consent}[entity]
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with tenant.engine.connect() as conn:
        rows = await conn.execute(select(model.id).where(parse(text, entity)(now)))
        return {str(r[0]) for r in rows}


CONTACT_CASES = [
    ("stage = COLD", {"cold", "cold_vip"}),
    ("STAGE = cold AND NOT vip = TRUE", {"cold"}),  # keywords and enum values in any case
    ("stage != COLD", {"lead", "customer"}),
    ("stage <> COLD and stage not in (LEAD)", {"customer"}),
    ("stage in (LEAD, CUSTOMER) or vip = true", {"lead", "customer", "cold_vip"}),
    ("not (stage = COLD or stage = LEAD)", {"customer"}),
    ("archivedAt is null and lastActivityAt is not null", {"cold"}),
    ("consent is active", {"lead", "cold_vip"}),
    ("consent email is active", {"lead"}),
    ("consent sms is withdrawn", {"customer"}),
    ("consent any is not active", {"cold", "customer"}),
    ("consent call is expired", set()),
]


@pytest.mark.parametrize(("text", "expected"), CONTACT_CASES)
async def test_contact_conditions_select_the_right_rows(
    runtime: Runtime, world: tuple[Workspace, dict[str, str]], text: str, expected: set[str]
) -> None:
    ws, ids = world
    assert await matching(runtime, ws, "contact", text) == {ids[label] for label in expected}


async def test_times_compare_with_the_given_now(runtime: Runtime, world: tuple[Workspace, dict[str, str]]) -> None:
    ws, ids = world
    everyone = set(ids.values())
    assert await matching(runtime, ws, "contact", "createdAt older than 1 day") == set()
    assert await matching(runtime, ws, "contact", "createdAt newer than 1 day") == everyone
    later = NOW + timedelta(days=8)
    assert await matching(runtime, ws, "contact", "createdAt older than 1 week", later) == everyone
    assert await matching(runtime, ws, "contact", "createdAt older than 2 weeks", later) == set()
    today = NOW.date()
    assert await matching(runtime, ws, "contact", f"createdAt after {today - timedelta(days=1)}") == everyone
    assert await matching(runtime, ws, "contact", f"createdAt before {today - timedelta(days=1)}") == set()
    # A NULL time is neither older nor newer: only `cold` has activities.
    assert await matching(runtime, ws, "contact", "lastActivityAt newer than 1 year") == {ids["cold"]}
    assert await matching(runtime, ws, "contact", "lastActivityAt older than 1 year") == set()
    # The CALL consent expires in 10 days: expired when `now` is past that.
    expired = await matching(runtime, ws, "contact", "consent call is expired", NOW + timedelta(days=11))
    assert expired == {ids["cold_vip"]}


async def test_activity_and_consent_conditions(runtime: Runtime, world: tuple[Workspace, dict[str, str]]) -> None:
    ws, ids = world
    purchases = await matching(runtime, ws, "activity", "kind = PURCHASE and private = false")
    kinds = await sql(runtime, ws.slug, "SELECT id::text, kind FROM activities")
    assert purchases == {r[0] for r in kinds if r[1] == "PURCHASE"} and len(purchases) == 1
    on_consented = await matching(runtime, ws, "activity", "consent is active")
    assert on_consented == set()  # `cold` holds no consent
    withdrawn = await matching(runtime, ws, "consent", "purpose = sms and withdrawnAt is not null")
    rows = await sql(runtime, ws.slug, "SELECT id::text FROM consents WHERE contact_id = :c", {"c": ids["customer"]})
    assert withdrawn == {r[0] for r in rows}
    own = await matching(runtime, ws, "consent", "consent is active and granted = true")  # the consent row itself
    assert len(own) == 2  # lead's email and cold_vip's unexpired call consent


async def test_a_bad_condition_over_http_is_bad_user_input_and_stores_nothing(
    gql: GraphQLClient, runtime: Runtime, world: tuple[Workspace, dict[str, str]]
) -> None:
    ws, _ = world
    before = await sql(runtime, ws.slug, "SELECT count(*) FROM retention_policies")
    body = await gql.raw(POLICY, {"i": {"name": "bad", "entity": "contact", "condition": "stage = WARM",
                                        "afterDays": 30, "action": "ARCHIVE"}}, ws.admin_token)
    error = only_error(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "condition"}
    assert "'WARM' is not a stage" in error["message"]
    assert await sql(runtime, ws.slug, "SELECT count(*) FROM retention_policies") == before
