"""Listing contacts over HTTP: Relay pages, counts, ordering and filters."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

PAGE = """query($first:Int,$after:String,$filter:ContactFilter,$order:ContactOrder){
  contacts(first:$first, after:$after, filter:$filter, orderBy:$order){
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id firstName lastName company } }
  }
}"""

# (firstName, lastName, company, stage, vip, email, phone, hkid)
PEOPLE: list[tuple[str | None, str | None, str | None, str, bool, str | None, str | None, str | None]] = [
    ("Tai Man", "Chan", "Kowloon Trading", "LEAD", False, "chan.tm@example.com", "9123 4567", "A123456(3)"),
    ("Siu Ming", "Chan", "Harbour Logistics", "PROSPECT", True, None, None, None),
    ("Mei Ling", "Chan", None, "CUSTOMER", False, None, None, None),
    ("Ka Yan", "Wong", "Chan & Sons", "LEAD", False, "ky.wong@example.com", "+852 6123 4567", None),
    ("Wing", "Wong", "Peak Finance", "PROSPECT", True, None, None, "AB987654(3)"),
    ("Hoi", "Lee", "Peak Finance", "CUSTOMER", True, None, None, None),
    ("Chun", "Lam", "100% Natural", "COLD", False, None, None, None),
    ("Yan", "Ng", "Under_score Ltd", "LEAD", False, None, None, None),
    ("Fai", "Au", "Kowloon Trading", "PROSPECT", False, None, None, None),
    ("Kit", "Ho", None, "LEAD", True, None, None, None),
    ("Sum", "Cheung", "Lantau Foods", "CUSTOMER", False, None, None, None),
    ("Bo", "Yeung", "Lantau Foods", "COLD", False, None, None, None),
    (None, None, "No Name Ltd", "LEAD", False, None, None, None),
    ("Only First", None, None, "LEAD", False, None, None, None),
    ("Lok", "Chan", "Tsuen Wan Motors", "LEAD", False, None, None, None),
    ("Ming", "Tse", "Sha Tin Labs", "PROSPECT", False, None, None, None),
    ("Hei", "Fung", "Sha Tin Labs", "LEAD", False, None, None, None),
    ("Tin", "Kwok", None, "CUSTOMER", True, None, None, None),
    ("Yu", "Ma", "Mong Kok Books", "LEAD", False, None, None, None),
    ("Chi", "Leung", "Mong Kok Books", "COLD", False, None, None, None),
    ("Nam", "Wong", None, "LEAD", False, None, None, None),
    ("Pui", "Yip", "Tai Po Fish", "LEAD", False, None, None, None),
    ("Shan", "Tang", "Tai Po Fish", "PROSPECT", False, None, None, None),
]


@dataclass
class Book:
    ws: Workspace
    ids: list[str] = field(default_factory=list)  # in PEOPLE order
    by_id: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def where(self, predicate: Any) -> set[str]:
        return {cid for cid, person in self.by_id.items() if predicate(person)}


@pytest.fixture(scope="module")
async def book(workspaces: WorkspaceFactory) -> Book:
    ws = await workspaces.create()
    result = Book(ws)
    for person in PEOPLE:
        first, last, company, stage, vip, email, phone, hkid = person
        values = {"firstName": first, "lastName": last, "company": company, "stage": stage, "vip": vip}
        values |= {k: v for k, v in {"email": email, "phone": phone, "hkid": hkid}.items() if v is not None}
        cid = await ws.contact(**values)
        result.ids.append(cid)
        result.by_id[cid] = person
    return result


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


async def walk(
    gql: GraphQLClient, token: str, first: int, between: Any = None, **variables: Any
) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page from the start; `between(page_number)` runs before each following page is fetched."""
    nodes: list[dict[str, Any]] = []
    totals: list[int] = []
    after = None
    for page_number in range(1000):
        data = (await gql.ok(PAGE, {"first": first, "after": after, **variables}, token))["contacts"]
        assert len(data["edges"]) <= first
        nodes += [e["node"] for e in data["edges"]]
        totals.append(data["totalCount"])
        if data["edges"]:
            assert data["pageInfo"]["endCursor"] == data["edges"][-1]["cursor"]
        if not data["pageInfo"]["hasNextPage"]:
            return nodes, totals
        assert len(data["edges"]) == first
        after = data["pageInfo"]["endCursor"]
        if between is not None:
            await between(page_number)
    raise AssertionError("pagination never ended")


# ---------------------------------------------------------------- pages


@pytest.mark.parametrize("first", [1, 4, 7, 23, 50])
async def test_pages_return_every_contact_exactly_once(gql: GraphQLClient, book: Book, first: int) -> None:
    nodes, totals = await walk(gql, book.ws.admin_token, first)
    ids = [n["id"] for n in nodes]
    assert Counter(ids).most_common(1)[0][1] == 1, "a contact appeared on two pages"
    assert set(ids) == set(book.ids)
    assert totals == [len(PEOPLE)] * len(totals)
    # Oldest first by default.
    assert ids == book.ids


async def test_the_default_page_size_is_fifty(gql: GraphQLClient, book: Book) -> None:
    data = (
        await gql.ok(
            "{ contacts { totalCount edges { node { id } } pageInfo { hasNextPage } } }", token=book.ws.admin_token
        )
    )["contacts"]
    assert len(data["edges"]) == len(PEOPLE) < 50
    assert data["pageInfo"]["hasNextPage"] is False


async def test_an_empty_page_still_counts(gql: GraphQLClient, book: Book) -> None:
    data = (await gql.ok(PAGE, {"first": 0}, book.ws.admin_token))["contacts"]
    assert data["edges"] == []
    assert data["totalCount"] == len(PEOPLE)
    assert data["pageInfo"]["hasNextPage"] is True


async def test_paging_stays_exact_while_contacts_are_added(gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    originals = [await ws.contact(firstName=f"Original {i}", lastName=name) for i, name in enumerate("MNOPQRSTUVWX")]
    added: list[str] = []

    async def add_two(page_number: int) -> None:
        # One sorts before everything seen so far, one after.
        added.append(await ws.contact(firstName=f"Early {page_number}", lastName=f"A{page_number:02d}"))
        added.append(await ws.contact(firstName=f"Late {page_number}", lastName=f"Z{page_number:02d}"))

    for order in (None, {"field": "LAST_NAME", "direction": "ASC"}, {"field": "LAST_NAME", "direction": "DESC"}):
        nodes, _ = await walk(gql, ws.admin_token, 3, add_two, order=order)
        ids = [n["id"] for n in nodes]
        assert Counter(ids).most_common(1)[0][1] == 1, f"duplicates with order {order}"
        seen = Counter(i for i in ids if i in originals)
        assert set(seen) == set(originals), f"a contact was skipped with order {order}"
        assert set(ids) <= set(originals) | set(added)
    # With the default order (creation time) everything added during the walk comes at its end.
    nodes, _ = await walk(gql, ws.admin_token, 5)
    assert [n["id"] for n in nodes] == originals + added


# ---------------------------------------------------------------- ordering


def _sort_key(name: str | None) -> str:
    return name or ""


@pytest.mark.parametrize("first", [2, 5, 200])
async def test_ordering_by_last_name_descending_pages_correctly(gql: GraphQLClient, book: Book, first: int) -> None:
    order = {"field": "LAST_NAME", "direction": "DESC"}
    nodes, _ = await walk(gql, book.ws.admin_token, first, order=order)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) == len(PEOPLE)
    assert set(ids) == set(book.ids)
    names = [n["lastName"] for n in nodes]
    assert [_sort_key(n) for n in names] == sorted((_sort_key(n) for n in names), reverse=True)
    # Contacts without a last name come last, descending.
    assert names[-2:] == [None, None]
    assert names[0] == "Yip"
    # Same-name contacts page without loss (there are four Chans).
    assert names.count("Chan") == 4


async def test_ordering_by_company_ascending(gql: GraphQLClient, book: Book) -> None:
    nodes, _ = await walk(gql, book.ws.admin_token, 4, order={"field": "COMPANY", "direction": "ASC"})
    companies = [n["company"] for n in nodes]
    assert len(nodes) == len(PEOPLE)
    assert companies[: companies.count(None)] == [None] * companies.count(None)
    named = [c for c in companies if c is not None]
    assert named[0] == "100% Natural"
    assert named.index("Harbour Logistics") < named.index("Kowloon Trading") < named.index("Tsuen Wan Motors")


async def test_a_cursor_only_works_with_its_own_ordering(gql: GraphQLClient, book: Book) -> None:
    data = (await gql.ok(PAGE, {"first": 2}, book.ws.admin_token))["contacts"]
    body = await gql.raw(
        PAGE,
        {"first": 2, "after": data["pageInfo"]["endCursor"], "order": {"field": "LAST_NAME", "direction": "DESC"}},
        book.ws.admin_token,
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


# ---------------------------------------------------------------- limits and bad cursors


@pytest.mark.parametrize("first", [201, 10_000, -1])
async def test_page_size_outside_the_limits_is_bad_input(gql: GraphQLClient, book: Book, first: int) -> None:
    body = await gql.raw(PAGE, {"first": first}, book.ws.admin_token)
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_two_hundred_is_allowed(gql: GraphQLClient, book: Book) -> None:
    data = (await gql.ok(PAGE, {"first": 200}, book.ws.admin_token))["contacts"]
    assert len(data["edges"]) == len(PEOPLE)


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "", "eyJub3QiOiAiYSBjdXJzb3IifQ", "WyJDUkVBVEVEX0FULkFTQy5kYXRldGltZSIsIm5vdC1hLWRhdGUiLCJ4Il0", "%%%"],
    ids=["word", "empty-is-start", "json-object", "bad-values", "not-base64"],
)
async def test_a_garbage_cursor_is_bad_input(gql: GraphQLClient, book: Book, cursor: str) -> None:
    body = await gql.raw(PAGE, {"first": 3, "after": cursor}, book.ws.admin_token)
    if cursor == "":
        # An empty cursor is the start of the list.
        assert not body.get("errors"), body
        return
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


def _forge(*parts: Any) -> str:
    """A tampered cursor: cursors are opaque to clients, but nothing stops one from editing them."""
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _forge("LAST_NAME.DESC.str", 5, str(uuid.uuid4())),
        _forge("LAST_NAME.DESC.str", None, str(uuid.uuid4())),
        _forge("LAST_NAME.DESC.str", ["Chan"], str(uuid.uuid4())),
        _forge("LAST_NAME.DESC.str", "Chan", "not-a-uuid"),
        _forge("LAST_NAME.DESC.str", "Chan"),
    ],
    ids=["number-for-a-name", "null-name", "list-for-a-name", "bad-id", "too-short"],
)
async def test_a_tampered_cursor_is_bad_input(gql: GraphQLClient, book: Book, cursor: str) -> None:
    order = {"field": "LAST_NAME", "direction": "DESC"}
    body = await gql.raw(PAGE, {"first": 3, "after": cursor, "order": order}, book.ws.admin_token)
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}


# ---------------------------------------------------------------- filters


async def ids_for(gql: GraphQLClient, book: Book, flt: dict[str, Any], first: int = 3) -> set[str]:
    nodes, totals = await walk(gql, book.ws.admin_token, first, filter=flt)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    assert set(totals) == {len(ids)}, "totalCount must count the filtered contacts"
    return set(ids)


@pytest.mark.parametrize("stage", ["LEAD", "PROSPECT", "CUSTOMER", "COLD"])
async def test_filter_by_stage(gql: GraphQLClient, book: Book, stage: str) -> None:
    expected = book.where(lambda p: p[3] == stage)
    assert expected
    assert await ids_for(gql, book, {"stage": stage}) == expected


@pytest.mark.parametrize("vip", [True, False])
async def test_filter_by_vip(gql: GraphQLClient, book: Book, vip: bool) -> None:
    assert await ids_for(gql, book, {"vip": vip}) == book.where(lambda p: p[4] is vip)


async def test_filters_combine(gql: GraphQLClient, book: Book) -> None:
    expected = book.where(lambda p: p[3] == "PROSPECT" and p[4])
    assert len(expected) == 2
    assert await ids_for(gql, book, {"stage": "PROSPECT", "vip": True}) == expected


@pytest.mark.parametrize(
    ("search", "matches"),
    [
        ("chan", lambda p: "chan" in f"{p[0]} {p[1]} {p[2]}".lower()),  # last names and "Chan & Sons"
        ("CHAN", lambda p: "chan" in f"{p[0]} {p[1]} {p[2]}".lower()),
        ("Tai Man Chan", lambda p: p[0] == "Tai Man" and p[1] == "Chan"),
        ("peak fin", lambda p: p[2] == "Peak Finance"),
        ("  lantau  ", lambda p: p[2] == "Lantau Foods"),
        ("Only First", lambda p: p[0] == "Only First"),
        ("%", lambda p: p[2] == "100% Natural"),
        ("_", lambda p: p[2] == "Under_score Ltd"),
        ("nobody-by-this-name", lambda p: False),
    ],
    ids=[
        "lower",
        "upper",
        "full-name",
        "company-prefix",
        "trimmed",
        "first-name-only",
        "percent",
        "underscore",
        "none",
    ],
)
async def test_search_matches_names_and_company(gql: GraphQLClient, book: Book, search: str, matches: Any) -> None:
    assert await ids_for(gql, book, {"search": search}) == book.where(matches)


async def test_a_search_with_a_nul_byte_is_bad_input(gql: GraphQLClient, book: Book) -> None:
    # refused before execution, like every string input with a NUL: the error names the input field
    body = await gql.raw(PAGE, {"first": 5, "filter": {"search": "Chan\u0000"}}, book.ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "search"}


@pytest.mark.parametrize("email", ["chan.tm@example.com", "CHAN.TM@EXAMPLE.COM", " chan.tm@Example.com "])
async def test_filter_by_email_is_an_exact_match(gql: GraphQLClient, book: Book, email: str) -> None:
    assert await ids_for(gql, book, {"email": email}) == {book.ids[0]}


async def test_filter_by_email_does_not_match_parts(gql: GraphQLClient, book: Book) -> None:
    assert await ids_for(gql, book, {"email": "tm@example.com"}) == set()
    body = await gql.raw(PAGE, {"first": 5, "filter": {"email": "chan"}}, book.ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.email"}


@pytest.mark.parametrize("phone", ["9123 4567", "91234567", "+852 9123 4567", "+85291234567", "9123-4567"])
async def test_filter_by_phone_in_any_written_form(gql: GraphQLClient, book: Book, phone: str) -> None:
    assert await ids_for(gql, book, {"phone": phone}) == {book.ids[0]}


async def test_filter_by_phone_finds_nothing_for_another_number(gql: GraphQLClient, book: Book) -> None:
    assert await ids_for(gql, book, {"phone": "9123 4568"}) == set()
    body = await gql.raw(PAGE, {"first": 5, "filter": {"phone": "12"}}, book.ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.phone"}


@pytest.mark.parametrize(
    ("hkid", "index"),
    [
        ("A123456(3)", 0),
        ("A1234563", 0),
        ("a123456(3)", 0),
        ("A 123456 (3)", 0),
        ("AB987654(3)", 4),
        ("ab9876543", 4),
    ],
)
async def test_filter_by_hkid_in_any_accepted_form(gql: GraphQLClient, book: Book, hkid: str, index: int) -> None:
    assert await ids_for(gql, book, {"hkid": hkid}) == {book.ids[index]}


async def test_filter_by_hkid_is_exact_and_checked(gql: GraphQLClient, book: Book) -> None:
    # A valid HKID nobody in the book has.
    assert await ids_for(gql, book, {"hkid": "B123456(6)"}) == set()
    for bad in ("A123456(4)", "A123456", "123456(3)"):
        body = await gql.raw(PAGE, {"first": 5, "filter": {"hkid": bad}}, book.ws.admin_token)
        assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.hkid"}, bad
