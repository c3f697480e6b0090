"""Contacts and their activities and consents over HTTP: create, partial update, activities, consents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from schema.ids import to_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

FIELDS = """id firstName lastName email phone hkid taxId dateOfBirth linkedinUrl bio salary company jobTitle
stage vip owner { id } team { id } createdAt updatedAt lastActivityAt"""
CREATE = f"mutation($i:ContactInput!){{ createContact(input:$i){{ {FIELDS} }} }}"
UPDATE = f"mutation($id:ID!,$i:ContactInput!){{ updateContact(id:$id, input:$i){{ {FIELDS} }} }}"
GET = f"query($id:ID!){{ contact(id:$id){{ {FIELDS} }} }}"
ACTIVITY = """mutation($i:ActivityInput!){
  createActivity(input:$i){ id kind subject body private occurredAt author { id } contact { id lastActivityAt } }
}"""
CONSENT = """mutation($c:ID!,$p:ConsentPurpose!,$g:Boolean!,$s:String!){
  recordConsent(contactId:$c, purpose:$p, granted:$g, source:$s){
    id purpose granted source grantedAt withdrawnAt active
  }
}"""

FULL = {
    "firstName": "Tai Man",
    "lastName": "Chan",
    "email": "TaiMan.Chan@Example.com",
    "phone": "9123 4567",
    "hkid": "A1234563",
    "taxId": "12345678-9",
    "dateOfBirth": "1985-03-02",
    "linkedinUrl": "http://www.linkedin.com/in/chan-tai-man",
    "bio": "Met at the Wan Chai trade fair.",
    "salary": 45000,
    "company": "Kowloon Trading Ltd",
    "jobTitle": "Buyer",
    "stage": "PROSPECT",
    "vip": True,
}


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


async def me_id(gql: GraphQLClient, token: str) -> str:
    return str((await gql.ok("{ me { id } }", token=token))["me"]["id"])


async def get(gql: GraphQLClient, ws: Workspace, contact_id: str) -> dict[str, Any]:
    contact = (await gql.ok(GET, {"id": contact_id}, ws.admin_token))["contact"]
    assert contact is not None
    return contact  # type: ignore[no-any-return]


# ---------------------------------------------------------------- createContact


async def test_admin_creates_a_contact_with_every_field_normalised(gql: GraphQLClient, ws: Workspace) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    expected = {
        **FULL,
        "email": "TaiMan.Chan@example.com",  # the domain is case-insensitive; the local part is kept
        "phone": "+85291234567",
        "hkid": "A123456(3)",
        "taxId": "12345678-9",
        "linkedinUrl": "https://www.linkedin.com/in/chan-tai-man",
    }
    for name, value in expected.items():
        assert created[name] == value, name
    # The creator owns a contact created without an owner.
    assert created["owner"] == {"id": await me_id(gql, ws.admin_token)}
    assert created["team"] is None
    assert created["lastActivityAt"] is None
    assert datetime.fromisoformat(created["createdAt"]) >= before
    assert datetime.fromisoformat(created["updatedAt"]) >= datetime.fromisoformat(created["createdAt"])
    # Read back: what was stored is what was returned.
    assert await get(gql, ws, created["id"]) == created


async def test_a_contact_may_be_created_with_nothing_but_defaults(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": {}}, ws.admin_token))["createContact"]
    assert created["stage"] == "LEAD"
    assert created["vip"] is False
    assert all(created[n] is None for n in ("firstName", "email", "phone", "hkid", "salary", "dateOfBirth"))


async def test_a_contact_is_assigned_to_a_team_and_owner(gql: GraphQLClient, ws: Workspace) -> None:
    team_id = await ws.team("Island Sales")
    seller = await ws.user("seller", ["sales"], team="Island Sales")
    created = (
        await gql.ok(CREATE, {"i": {"firstName": "Mei", "ownerId": seller["id"], "teamId": team_id}}, ws.admin_token)
    )["createContact"]
    assert created["owner"] == {"id": seller["id"]}
    assert created["team"] == {"id": team_id}
    # The seller now sees it as their own.
    mine = await gql.ok("query($id:ID!){ contact(id:$id){ firstName } }", {"id": created["id"]}, seller["token"])
    assert mine["contact"] == {"firstName": "Mei"}


@pytest.mark.parametrize(
    ("link", "field"),
    [
        ({"ownerId": to_global("User", uuid.uuid4())}, "ownerId"),
        ({"teamId": to_global("Team", uuid.uuid4())}, "teamId"),
    ],
)
async def test_a_contact_linked_to_an_unknown_owner_or_team_is_refused(
    gql: GraphQLClient, ws: Workspace, link: dict[str, str], field: str
) -> None:
    body = await gql.raw(CREATE, {"i": {"firstName": "Nobody's", **link}}, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_an_id_of_another_type_is_bad_input(gql: GraphQLClient, ws: Workspace) -> None:
    team_id = await ws.team("Island Sales")
    body = await gql.raw(GET, {"id": team_id}, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    body = await gql.raw(GET, {"id": "%%% not an id"}, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


async def test_an_unknown_contact_is_not_found(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.raw(GET, {"id": to_global("Contact", uuid.uuid4())}, ws.admin_token)
    assert body["data"] == {"contact": None}
    error = only_error(body)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["path"] == ["contact"]


# ---------------------------------------------------------------- updateContact


async def test_update_changes_only_the_fields_given(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    updated = (
        await gql.ok(
            UPDATE, {"id": created["id"], "i": {"jobTitle": "Head Buyer", "stage": "CUSTOMER"}}, ws.admin_token
        )
    )["updateContact"]
    assert updated["jobTitle"] == "Head Buyer"
    assert updated["stage"] == "CUSTOMER"
    unchanged = {k: v for k, v in created.items() if k not in ("jobTitle", "stage", "updatedAt")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert datetime.fromisoformat(updated["updatedAt"]) > datetime.fromisoformat(created["updatedAt"])
    assert await get(gql, ws, created["id"]) == updated


async def test_an_explicit_null_clears_a_field_and_a_missing_one_does_not(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    cleared = (
        await gql.ok(
            UPDATE,
            {"id": created["id"], "i": {"phone": None, "hkid": None, "salary": None, "dateOfBirth": None, "bio": None}},
            ws.admin_token,
        )
    )["updateContact"]
    for name in ("phone", "hkid", "salary", "dateOfBirth", "bio"):
        assert cleared[name] is None, name
    for name in ("firstName", "lastName", "email", "taxId", "company", "linkedinUrl"):
        assert cleared[name] == created[name], name
    assert await get(gql, ws, created["id"]) == cleared


async def test_an_empty_update_changes_nothing(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    same = (await gql.ok(UPDATE, {"id": created["id"], "i": {}}, ws.admin_token))["updateContact"]
    assert same == created
    # Giving the stored value again is no change either.
    again = (await gql.ok(UPDATE, {"id": created["id"], "i": {"firstName": "Tai Man"}}, ws.admin_token))[
        "updateContact"
    ]
    assert again == created


async def test_nothing_is_written_when_one_field_of_an_update_is_invalid(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    body = await gql.raw(
        UPDATE,
        {"id": created["id"], "i": {"firstName": "Siu Ming", "company": "New Co", "email": "not an email"}},
        ws.admin_token,
    )
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "email"}
    assert await get(gql, ws, created["id"]) == created


@pytest.mark.parametrize("field", ["stage", "vip"])
async def test_required_fields_cannot_be_cleared(gql: GraphQLClient, ws: Workspace, field: str) -> None:
    created = (await gql.ok(CREATE, {"i": FULL}, ws.admin_token))["createContact"]
    body = await gql.raw(UPDATE, {"id": created["id"], "i": {field: None}}, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await get(gql, ws, created["id"]) == created


async def test_updating_an_unknown_contact_is_not_found(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.raw(UPDATE, {"id": to_global("Contact", uuid.uuid4()), "i": {"firstName": "X"}}, ws.admin_token)
    assert only_error(body)["extensions"]["code"] == "NOT_FOUND"


async def test_a_failing_mutation_stops_the_ones_after_it_and_writes_nothing(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": {"firstName": "Before"}}, ws.admin_token))["createContact"]
    body = await gql.raw(
        """mutation($id:ID!){
          bad: updateContact(id:$id, input:{firstName: "Never", phone: "12"}){ firstName }
          next: updateContact(id:$id, input:{lastName: "After"}){ firstName lastName }
        }""",
        {"id": created["id"]},
        ws.admin_token,
    )
    # updateContact is non-null: its error nulls the whole result, and mutations run one after another.
    assert body["data"] is None
    error = only_error(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "phone"}
    assert error["path"] == ["bad"]
    stored = await get(gql, ws, created["id"])
    assert (stored["firstName"], stored["lastName"], stored["phone"]) == ("Before", None, None)


# ---------------------------------------------------------------- createActivity


async def test_activities_move_the_contacts_last_activity_forward_only(gql: GraphQLClient, ws: Workspace) -> None:
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Active"}}, ws.admin_token))["createContact"]["id"]
    assert (await get(gql, ws, contact_id))["lastActivityAt"] is None

    call_at = datetime(2024, 5, 6, 3, 4, 5, tzinfo=UTC)
    call = (
        await gql.ok(
            ACTIVITY,
            {
                "i": {
                    "contactId": contact_id,
                    "kind": "CALL",
                    "subject": "Intro call",
                    "occurredAt": call_at.isoformat(),
                }
            },
            ws.admin_token,
        )
    )["createActivity"]
    assert call["kind"] == "CALL"
    assert call["subject"] == "Intro call"
    assert call["private"] is False
    assert datetime.fromisoformat(call["occurredAt"]) == call_at
    assert call["author"] == {"id": await me_id(gql, ws.admin_token)}
    assert call["contact"]["id"] == contact_id
    assert datetime.fromisoformat((await get(gql, ws, contact_id))["lastActivityAt"]) == call_at

    # A note without a time happened now.
    before = datetime.now(UTC)
    await gql.ok(ACTIVITY, {"i": {"contactId": contact_id, "kind": "NOTE", "body": "Wants a quote"}}, ws.admin_token)
    latest = datetime.fromisoformat((await get(gql, ws, contact_id))["lastActivityAt"])
    assert before - timedelta(seconds=1) <= latest <= datetime.now(UTC) + timedelta(seconds=1)

    # Logging an older meeting afterwards does not move it back.
    old = datetime(2023, 1, 1, tzinfo=UTC).isoformat()
    await gql.ok(ACTIVITY, {"i": {"contactId": contact_id, "kind": "MEETING", "occurredAt": old}}, ws.admin_token)
    assert datetime.fromisoformat((await get(gql, ws, contact_id))["lastActivityAt"]) == latest

    listed = await gql.ok(
        "query($id:ID!){ contact(id:$id){ activities(first: 10){ totalCount edges { node { kind } } } } }",
        {"id": contact_id},
        ws.admin_token,
    )
    page = listed["contact"]["activities"]
    assert page["totalCount"] == 3
    assert sorted(e["node"]["kind"] for e in page["edges"]) == ["CALL", "MEETING", "NOTE"]


async def test_an_activity_for_an_unknown_contact_is_not_found(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.raw(
        ACTIVITY, {"i": {"contactId": to_global("Contact", uuid.uuid4()), "kind": "NOTE"}}, ws.admin_token
    )
    assert only_error(body)["extensions"]["code"] == "NOT_FOUND"


async def test_an_activity_far_in_the_future_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Future"}}, ws.admin_token))["createContact"]["id"]
    when = (datetime.now(UTC) + timedelta(days=800)).isoformat()
    body = await gql.raw(ACTIVITY, {"i": {"contactId": contact_id, "kind": "NOTE", "occurredAt": when}}, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "occurredAt"}
    assert (await get(gql, ws, contact_id))["lastActivityAt"] is None


# ---------------------------------------------------------------- recordConsent


async def test_consent_is_recorded_and_withdrawn(gql: GraphQLClient, ws: Workspace) -> None:
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Consenting"}}, ws.admin_token))["createContact"]["id"]
    granted = (
        await gql.ok(CONSENT, {"c": contact_id, "p": "WHATSAPP", "g": True, "s": "signup form"}, ws.admin_token)
    )["recordConsent"]
    assert granted["purpose"] == "WHATSAPP"
    assert granted["granted"] is True and granted["active"] is True
    assert granted["source"] == "signup form"
    assert granted["grantedAt"] is not None and granted["withdrawnAt"] is None

    withdrawn = (
        await gql.ok(CONSENT, {"c": contact_id, "p": "WHATSAPP", "g": False, "s": "phone call"}, ws.admin_token)
    )["recordConsent"]
    # One consent per purpose, updated in place.
    assert withdrawn["id"] == granted["id"]
    assert withdrawn["granted"] is False and withdrawn["active"] is False
    assert withdrawn["withdrawnAt"] is not None

    await gql.ok(CONSENT, {"c": contact_id, "p": "EMAIL", "g": True, "s": "newsletter"}, ws.admin_token)
    consents = (
        await gql.ok(
            "query($id:ID!){ contact(id:$id){ consents { purpose granted active source } } }",
            {"id": contact_id},
            ws.admin_token,
        )
    )["contact"]["consents"]
    assert sorted(consents, key=lambda c: c["purpose"]) == [
        {"purpose": "EMAIL", "granted": True, "active": True, "source": "newsletter"},
        {"purpose": "WHATSAPP", "granted": False, "active": False, "source": "phone call"},
    ]


async def test_consent_needs_a_known_contact_and_a_source(gql: GraphQLClient, ws: Workspace) -> None:
    unknown = await gql.raw(
        CONSENT, {"c": to_global("Contact", uuid.uuid4()), "p": "SMS", "g": True, "s": "form"}, ws.admin_token
    )
    assert only_error(unknown)["extensions"]["code"] == "NOT_FOUND"
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Sourceless"}}, ws.admin_token))["createContact"]["id"]
    blank = await gql.raw(CONSENT, {"c": contact_id, "p": "SMS", "g": True, "s": "  "}, ws.admin_token)
    assert only_error(blank)["extensions"] == {"code": "BAD_USER_INPUT", "field": "source"}


async def test_times_need_a_time_zone_and_keep_the_instant(gql: GraphQLClient, ws: Workspace) -> None:
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Zoned"}}, ws.admin_token))["createContact"]["id"]
    naive = await gql.raw(
        ACTIVITY, {"i": {"contactId": contact_id, "kind": "CALL", "occurredAt": "2024-05-06T11:04:05"}}, ws.admin_token
    )
    assert only_error(naive)["extensions"]["code"] == "BAD_USER_INPUT"
    hong_kong = "2024-05-06T11:04:05+08:00"
    call = (
        await gql.ok(
            ACTIVITY, {"i": {"contactId": contact_id, "kind": "CALL", "occurredAt": hong_kong}}, ws.admin_token
        )
    )["createActivity"]
    assert datetime.fromisoformat(call["occurredAt"]) == datetime(2024, 5, 6, 3, 4, 5, tzinfo=UTC)
    assert datetime.fromisoformat(call["contact"]["lastActivityAt"]) == datetime(2024, 5, 6, 3, 4, 5, tzinfo=UTC)

    consent = await gql.raw(
        """mutation($c:ID!){ recordConsent(contactId:$c, purpose: SMS, granted: true, source: "form",
             expiresAt: "2030-01-01T00:00:00"){ active } }""",
        {"c": contact_id},
        ws.admin_token,
    )
    assert only_error(consent)["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("notice", ["v" * 65, "v1\u0000"])
async def test_a_bad_notice_version_is_refused(gql: GraphQLClient, ws: Workspace, notice: str) -> None:
    contact_id = (await gql.ok(CREATE, {"i": {"firstName": "Noticed"}}, ws.admin_token))["createContact"]["id"]
    body = await gql.raw(
        """mutation($c:ID!,$n:String){
          recordConsent(contactId:$c, purpose: CALL, granted: true, source: "form", noticeVersion:$n){ id }
        }""",
        {"c": contact_id, "n": notice},
        ws.admin_token,
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "noticeVersion"}
    consents = await gql.ok("query($id:ID!){ contact(id:$id){ consents { id } } }", {"id": contact_id}, ws.admin_token)
    assert consents["contact"]["consents"] == []
