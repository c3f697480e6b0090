"""The default roles, one story each: which contacts and activities they see, and how each PII field reads.

The matrix verified here (authz/default_policy.csv):

| field / what                | admin | manager | sales                        | support     | marketing       |
| --------------------------- | ----- | ------- | ---------------------------- | ----------- | --------------- |
| contacts visible            | all   | all     | own + team                   | all         | active consent  |
| firstName, lastName         | clear | clear   | clear                        | clear       | clear           |
| email                       | clear | clear   | clear on own, masked on team | clear       | clear (e-mail consent) |
| phone, linkedinUrl, bio     | clear | clear   | clear                        | clear       | denied (phone: SMS) |
| hkid, taxId                 | clear | masked  | masked                       | denied      | denied          |
| dateOfBirth, salary         | clear | clear   | masked (`...Masked`)         | denied      | denied          |
| company, jobTitle, vip      | clear | clear   | clear                        | clear       | clear           |
| stage (non-null)            | clear | clear   | clear                        | denied: node null | denied: node null |
| activities (contact visible)| all   | all     | own, non-private or non-VIP  | non-private | none            |
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.authz.helpers import (
    ACTIVITY_DATA,
    CONTACT_FIELDS,
    PII_FIELDS,
    World,
    build_world,
    clear_value,
    error_codes,
    nodes,
    redactions,
)
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

CLEAR, MASK, DENY = "clear", "mask", "deny"
ALL_CONTACTS = ("own", "team", "other", "consented", "withdrawn", "expired")
ALL_ACTIVITIES = tuple(ACTIVITY_DATA)


def _everything(effect: str) -> dict[str, str]:
    return dict.fromkeys(PII_FIELDS, effect)


MATRIX: dict[str, dict[str, str]] = {
    "admin": _everything(CLEAR),
    "manager": {**_everything(CLEAR), "hkid": MASK, "taxId": MASK},
    "sales": {
        **_everything(CLEAR),
        "email": "own:clear,team:mask",
        "hkid": MASK,
        "taxId": MASK,
        "dateOfBirth": MASK,
        "salary": MASK,
    },
    "support": {**_everything(CLEAR), "hkid": DENY, "taxId": DENY, "dateOfBirth": DENY, "salary": DENY},
    "marketing": {
        **_everything(DENY),
        "firstName": CLEAR,
        "lastName": CLEAR,
        "email": CLEAR,
    },
}


# Independent expectations of the masks (CONTRACT.md: phone +852 ****4567, HKID A123***(*), email j***@...).
def _mask(name: str, value: Any) -> str:
    if name == "email":
        local, domain = value.split("@")
        return f"{local[0]}***@{domain}"
    if name == "hkid":
        return f"{value[:4]}***(*)"
    if name == "taxId":
        return "*****" + value[-3:]
    if name == "dateOfBirth":
        return value[:4] + "-**-**"
    if name == "salary":
        if value >= 500_000:
            return "HK$500,000+"
        width = 10_000 if value < 100_000 else 50_000
        low = value - value % width
        return f"HK${low:,}-{low + width - 1:,}"
    if name in ("firstName", "lastName"):
        return value[0] + "."
    if name == "linkedinUrl":
        return "[hidden link]"
    return "[hidden]"


def _effect(role: str, name: str, label: str) -> str:
    rule = MATRIX[role][name]
    if ":" in rule:  # conditional: "own:clear,team:mask"
        by_scope = dict(part.split(":") for part in rule.split(","))
        return by_scope["own" if label == "own" else "team"]
    return rule


def expected_node(world: World, role: str, label: str) -> dict[str, Any]:
    node: dict[str, Any] = {"id": world.contacts[label]}
    for name in ("company", "jobTitle", "vip"):
        node[name] = clear_value(label, name)
    for name in PII_FIELDS:
        effect, value = _effect(role, name, label), clear_value(label, name)
        companion = f"{name}Masked" if name in ("dateOfBirth", "salary") else None
        if effect == CLEAR:
            node[name] = value
            if companion:  # in clear, the masked companion still carries the mask
                node[companion] = _mask(name, value)
        elif effect == MASK:
            if companion:  # a Date / Int cannot hold a masked string: null, and the companion carries it
                node[name], node[companion] = None, _mask(name, value)
            else:
                node[name] = _mask(name, value)
        else:
            node[name] = None
            if companion:
                node[companion] = None
    return node


@pytest.fixture(scope="module", autouse=True, params=["compiled", "plain"])
def executor(request: pytest.FixtureRequest, gql: GraphQLClient) -> Iterator[str]:
    """Every story twice: as clients send it (plain reads of contacts are compiled), and forced through
    Strawberry's executor (`X-Crm-Executor: plain`)."""
    if request.param == "compiled":
        yield request.param
        return
    original = gql.http.post

    async def post(url: str, *args: Any, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return await original(url, *args, headers={**(headers or {}), "X-Crm-Executor": "plain"}, **kwargs)

    gql.http.post = post  # type: ignore[method-assign]
    try:
        yield request.param
    finally:
        del gql.http.post


@pytest.fixture(scope="module")
async def world(workspaces: WorkspaceFactory, gql: GraphQLClient) -> World:
    return await build_world(workspaces, gql)


async def check_contacts(gql: GraphQLClient, world: World, who: str, role: str, visible: tuple[str, ...]) -> None:
    body = await gql.raw(
        f"{{contacts(first:200){{totalCount edges{{node{{{CONTACT_FIELDS}}}}}}}}}", token=world.token(who)
    )
    got = {world.label_of(n["id"]): n for n in nodes(body["data"]["contacts"])}
    assert sorted(got) == sorted(visible)
    assert body["data"]["contacts"]["totalCount"] == len(visible)
    for label in visible:
        assert got[label] == expected_node(world, role, label), label
    # Every denied field is reported once for the list, with how many rows it was withheld on.
    denied: dict[str, int] = {}
    for label in visible:
        for name in PII_FIELDS:
            if _effect(role, name, label) == DENY:
                key = f"contacts.edges.*.node.{name}"
                denied[key] = denied.get(key, 0) + 1
    assert redactions(body) == denied
    assert set(error_codes(body)) <= {"FORBIDDEN"}
    # The single-object read agrees with the list, and points its errors at the fields.
    for label in visible:
        one = await gql.raw(
            f"query($id:ID!){{contact(id:$id){{{CONTACT_FIELDS}}}}}", {"id": world.contacts[label]}, world.token(who)
        )
        assert one["data"]["contact"] == expected_node(world, role, label)
        paths = sorted(tuple(e["path"]) for e in one.get("errors") or [])
        assert paths == sorted(("contact", n) for n in PII_FIELDS if _effect(role, n, label) == DENY)
        assert {e["extensions"]["code"] for e in one.get("errors") or []} <= {"FORBIDDEN"}
    # Contacts outside the scope do not exist for the caller.
    for label in set(ALL_CONTACTS) - set(visible):
        one = await gql.raw("query($id:ID!){contact(id:$id){id}}", {"id": world.contacts[label]}, world.token(who))
        assert one["data"]["contact"] is None
        assert error_codes(one) == ["NOT_FOUND"]


async def check_activities(gql: GraphQLClient, world: World, who: str, visible: tuple[str, ...]) -> None:
    body = await gql.ok(
        "{activities(first:200){totalCount edges{node{id subject private contact{id}}}}}", token=world.token(who)
    )
    got = {world.activity_label(n["id"]): n for n in nodes(body["activities"])}
    assert sorted(got) == sorted(visible)
    assert body["activities"]["totalCount"] == len(visible)
    for label, node in got.items():
        _, contact, private, subject = ACTIVITY_DATA[label]
        assert node == {
            "id": world.activities[label],
            "subject": subject,
            "private": private,
            "contact": {"id": world.contacts[contact]},
        }


async def test_admin_sees_every_contact_and_activity_in_clear(gql: GraphQLClient, world: World) -> None:
    await check_contacts(gql, world, "admin", "admin", ALL_CONTACTS)
    await check_activities(gql, world, "admin", ALL_ACTIVITIES)
    stage = await gql.ok("{contacts(first:200){edges{node{stage}}}}", token=world.token("admin"))
    assert {n["stage"] for n in nodes(stage["contacts"])} == {"LEAD"}


async def test_manager_sees_everything_with_government_ids_masked(gql: GraphQLClient, world: World) -> None:
    await check_contacts(gql, world, "manager", "manager", ALL_CONTACTS)
    await check_activities(gql, world, "manager", ALL_ACTIVITIES)
    body = await gql.ok(
        "query($id:ID!){contact(id:$id){stage}}", {"id": world.contacts["other"]}, world.token("manager")
    )
    assert body["contact"] == {"stage": "LEAD"}


async def test_sales_sees_own_and_team_contacts_and_not_others_private_notes_on_vips(
    gql: GraphQLClient, world: World
) -> None:
    await check_contacts(gql, world, "sales1", "sales", ("own", "team"))
    # Own private note: yes. A colleague's private note on a VIP: no. A colleague's private note on a
    # non-VIP: yes. Public notes: only where the contact is visible.
    await check_activities(gql, world, "sales1", ("own_private", "other_private_nonvip", "public_own"))
    nested = await gql.ok(
        "query($id:ID!){contact(id:$id){activities{totalCount edges{node{id}}}}}",
        {"id": world.contacts["own"]},
        world.token("sales1"),
    )
    ids = {world.activity_label(n["id"]) for n in nodes(nested["contact"]["activities"])}
    assert ids == {"own_private", "public_own"}
    assert nested["contact"]["activities"]["totalCount"] == 2
    # The colleague who wrote it sees their own private note on the VIP.
    nested = await gql.ok(
        "query($id:ID!){contact(id:$id){activities{edges{node{id}}}}}",
        {"id": world.contacts["own"]},
        world.token("sales2"),
    )
    assert {world.activity_label(n["id"]) for n in nodes(nested["contact"]["activities"])} == {
        "other_private_vip",
        "public_own",
    }
    # The other team's salesperson sees their team's contacts only.
    body = await gql.ok("{contacts(first:200){edges{node{id}}}}", token=world.token("sales3"))
    assert {world.label_of(n["id"]) for n in nodes(body["contacts"])} == {"other", "consented", "withdrawn", "expired"}
    body = await gql.ok("query($id:ID!){contact(id:$id){stage}}", {"id": world.contacts["own"]}, world.token("sales1"))
    assert body["contact"] == {"stage": "LEAD"}


async def _stage_is_denied(gql: GraphQLClient, world: World, who: str, label: str) -> None:
    """`stage` is non-null: denying it cannot be a null field, so it nulls the object (FORBIDDEN at the field)."""
    body = await gql.raw("query($id:ID!){contact(id:$id){id stage}}", {"id": world.contacts[label]}, world.token(who))
    assert body["data"]["contact"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["contact", "stage"], "FORBIDDEN")]
    body = await gql.raw("{contacts(first:200){edges{node{id stage}}}}", token=world.token(who))
    assert body["data"]["contacts"]["edges"] and all(e["node"] is None for e in body["data"]["contacts"]["edges"])
    assert "FORBIDDEN" in error_codes(body)
    assert "LEAD" not in str(body)


async def test_support_sees_every_contact_but_no_government_ids_pipeline_or_private_notes(
    gql: GraphQLClient, world: World
) -> None:
    await check_contacts(gql, world, "support", "support", ALL_CONTACTS)
    await check_activities(gql, world, "support", ("public_own", "public_other"))
    await _stage_is_denied(gql, world, "support", "own")


async def test_marketing_sees_only_contacts_with_an_active_marketing_consent(gql: GraphQLClient, world: World) -> None:
    # Withdrawn and expired consents do not count.
    await check_contacts(gql, world, "marketing", "marketing", ("consented",))
    await check_activities(gql, world, "marketing", ())
    await _stage_is_denied(gql, world, "marketing", "consented")
