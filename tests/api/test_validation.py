"""Input validation over HTTP: every bad value is BAD_USER_INPUT naming its field, and nothing is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

FIELDS = "id email phone hkid taxId dateOfBirth linkedinUrl salary firstName company"
CREATE = f"mutation($i:ContactInput!){{ createContact(input:$i){{ {FIELDS} }} }}"
UPDATE = f"mutation($id:ID!,$i:ContactInput!){{ updateContact(id:$id, input:$i){{ {FIELDS} }} }}"
GET = f"query($id:ID!){{ contact(id:$id){{ {FIELDS} updatedAt }} }}"
COUNT = "{ contacts(first: 0) { totalCount } }"

HK_TOMORROW = (datetime.now(UTC) + timedelta(hours=8) + timedelta(days=1)).date()

INVALID: list[tuple[str, Any]] = [
    ("email", "not-an-email"),
    ("email", "chan@@example.com"),
    ("email", "chan@example"),
    ("email", "chan tai man@example.com"),
    ("email", ""),
    ("phone", "12"),
    ("phone", "9123 456"),  # seven digits is too short for Hong Kong
    ("phone", "9123-ABCD"),
    ("phone", "+852 9123 4567 ext 12"),
    ("phone", "call me"),
    ("hkid", "A123456(4)"),  # wrong check digit
    ("hkid", "A1234564"),
    ("hkid", "A12345(6)"),
    ("hkid", "1234567(8)"),
    ("hkid", "ABC123456(3)"),
    ("hkid", "A123456(B)"),
    ("dateOfBirth", HK_TOMORROW.isoformat()),
    ("dateOfBirth", (date.today() + timedelta(days=365)).isoformat()),
    ("dateOfBirth", "1850-01-01"),
    ("linkedinUrl", "https://linkedin.com.evil.example/in/chan"),
    ("linkedinUrl", "https://evil.example/linkedin.com/in/chan"),
    ("linkedinUrl", "https://notlinkedin.com/in/chan"),
    ("linkedinUrl", "https://user@www.linkedin.com/in/chan"),
    ("linkedinUrl", "javascript:alert(1)//linkedin.com"),
    ("linkedinUrl", "ftp://www.linkedin.com/in/chan"),
    ("linkedinUrl", "www.linkedin.com/in/chan"),
    ("linkedinUrl", "https://www.linkedin.com/in/" + "a" * 473),  # 501 characters
    ("linkedinUrl", "http://www.linkedin.com/in/" + "a" * 473),  # 500, but 501 once made https
    ("taxId", "abc"),
    ("salary", -1),
    ("firstName", "   "),
    ("firstName", "Chan\u202eevil"),
    ("firstName", "x" * 201),
    ("bio", "nul \u0000 byte"),
]


def _id(value: Any) -> str:
    return str(value)[:40] or "empty"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


@pytest.fixture(scope="module")
async def existing(ws: Workspace, gql: GraphQLClient) -> str:
    return await ws.contact(
        firstName="Tai Man",
        company="Kowloon Trading",
        email="chan@example.com",
        phone="9123 4567",
        hkid="A123456(3)",
        taxId="12345678",
        dateOfBirth="1985-03-02",
        linkedinUrl="https://www.linkedin.com/in/chan",
        salary=45000,
    )


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


async def count(gql: GraphQLClient, ws: Workspace) -> int:
    return int((await gql.ok(COUNT, token=ws.admin_token))["contacts"]["totalCount"])


@pytest.mark.parametrize(("field", "value"), INVALID, ids=[f"{f}-{_id(v)}" for f, v in INVALID])
async def test_creating_with_an_invalid_value_names_the_field_and_writes_nothing(
    gql: GraphQLClient, ws: Workspace, field: str, value: Any
) -> None:
    before = await count(gql, ws)
    # Valid values beside the bad one are not written either.
    body = await gql.raw(CREATE, {"i": {"company": "Should Not Exist", field: value}}, ws.admin_token)
    assert body["data"] is None
    error = only_error(body)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert error["path"] == ["createContact"]
    assert await count(gql, ws) == before
    search = await gql.ok('{ contacts(filter: {search: "Should Not Exist"}) { totalCount } }', token=ws.admin_token)
    assert search["contacts"]["totalCount"] == 0


@pytest.mark.parametrize(("field", "value"), INVALID, ids=[f"{f}-{_id(v)}" for f, v in INVALID])
async def test_updating_with_an_invalid_value_names_the_field_and_changes_nothing(
    gql: GraphQLClient, ws: Workspace, existing: str, field: str, value: Any
) -> None:
    stored = (await gql.ok(GET, {"id": existing}, ws.admin_token))["contact"]
    body = await gql.raw(UPDATE, {"id": existing, "i": {"company": "Renamed Co", field: value}}, ws.admin_token)
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert (await gql.ok(GET, {"id": existing}, ws.admin_token))["contact"] == stored


async def test_a_value_of_the_wrong_graphql_type_names_the_field(gql: GraphQLClient, ws: Workspace) -> None:
    before = await count(gql, ws)
    for field, value in (("dateOfBirth", "1985-02-30"), ("salary", "lots"), ("vip", "yes"), ("stage", "WARM")):
        body = await gql.raw(CREATE, {"i": {field: value}}, ws.admin_token)
        assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert await count(gql, ws) == before


# ---------------------------------------------------------------- what is accepted, and how it is stored


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("9123 4567", "+85291234567"),
        ("91234567", "+85291234567"),
        ("9123-4567", "+85291234567"),
        ("+852 9123 4567", "+85291234567"),
        ("(852) 6123 4567", "+85261234567"),
        ("2123 456", None),  # seven digits
        ("+852 2123 4567", "+85221234567"),  # a landline
        ("+44 20 7946 0958", "+442079460958"),  # abroad, with its country code
        ("\uff19\uff11\uff12\uff13\uff14\uff15\uff16\uff17", "+85291234567"),  # full-width digits
    ],
)
async def test_phone_numbers_are_hong_kong_by_default_and_stored_e164(
    gql: GraphQLClient, ws: Workspace, raw: str, stored: str | None
) -> None:
    body = await gql.raw(CREATE, {"i": {"phone": raw}}, ws.admin_token)
    if stored is None:
        assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "phone"}
        return
    assert not body.get("errors"), body
    assert body["data"]["createContact"]["phone"] == stored


@pytest.mark.parametrize("raw", ["A123456(3)", "A1234563", "a123456(3)", " A123456 (3) ", "A 1234563"])
async def test_hkid_is_accepted_with_or_without_brackets_and_stored_canonically(
    gql: GraphQLClient, ws: Workspace, raw: str
) -> None:
    created = (await gql.ok(CREATE, {"i": {"hkid": raw}}, ws.admin_token))["createContact"]
    assert created["hkid"] == "A123456(3)"
    stored = (await gql.ok(GET, {"id": created["id"]}, ws.admin_token))["contact"]
    assert stored["hkid"] == "A123456(3)"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("AB987654(3)", "AB987654(3)"),
        ("C6683906", "C668390(6)"),
        ("G123456(A)", "G123456(A)"),
        ("g123456a", "G123456(A)"),
        ("G1234561", None),
        ("C668390(0)", None),
    ],
)
async def test_hkid_check_digits(gql: GraphQLClient, ws: Workspace, raw: str, stored: str | None) -> None:
    assert stored is None or _check_digit(stored[:-3]) == stored[-2]
    body = await gql.raw(CREATE, {"i": {"hkid": raw}}, ws.admin_token)
    if stored is None:
        assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "hkid"}
    else:
        assert body["data"]["createContact"]["hkid"] == stored


def _check_digit(body: str) -> str:
    """The published HKID check digit, computed independently of the product's code."""
    padded = body.rjust(8)
    total = sum(
        (36 if c == " " else int(c) if c.isdigit() else ord(c) - 55) * w
        for c, w in zip(padded, range(9, 1, -1), strict=True)
    )
    check = -total % 11
    return "A" if check == 10 else str(check)


def test_the_independent_check_digit_agrees_with_known_numbers() -> None:
    assert _check_digit("A123456") == "3"
    assert _check_digit("AB987654") == "3"
    assert _check_digit("B123456") == "6"


async def test_a_date_of_birth_today_is_accepted(gql: GraphQLClient, ws: Workspace) -> None:
    today_hk = (datetime.now(UTC) + timedelta(hours=8)).date()
    yesterday = today_hk - timedelta(days=1)
    created = (await gql.ok(CREATE, {"i": {"dateOfBirth": yesterday.isoformat()}}, ws.admin_token))["createContact"]
    assert created["dateOfBirth"] == yesterday.isoformat()


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("https://www.linkedin.com/in/chan", "https://www.linkedin.com/in/chan"),
        ("http://linkedin.com/in/chan", "https://linkedin.com/in/chan"),
        ("https://hk.linkedin.com/in/chan#about", "https://hk.linkedin.com/in/chan"),
        ("HTTPS://WWW.LINKEDIN.COM/in/Chan", "https://www.linkedin.com/in/Chan"),
        ("https://www.linkedin.com/in/" + "a" * 472, "https://www.linkedin.com/in/" + "a" * 472),  # 500 characters
    ],
)
async def test_linkedin_urls_are_normalised(gql: GraphQLClient, ws: Workspace, raw: str, stored: str) -> None:
    created = (await gql.ok(CREATE, {"i": {"linkedinUrl": raw}}, ws.admin_token))["createContact"]
    assert created["linkedinUrl"] == stored


async def test_emails_keep_their_local_part_and_lower_their_domain(gql: GraphQLClient, ws: Workspace) -> None:
    created = (await gql.ok(CREATE, {"i": {"email": "  Chan.Tai.Man@Example.COM "}}, ws.admin_token))["createContact"]
    assert created["email"] == "Chan.Tai.Man@example.com"
