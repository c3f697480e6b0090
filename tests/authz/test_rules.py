"""Rule semantics over HTTP: precedence, unions of roles, conditional field rules, nested scopes, leak channels
(filters, ordering, search), custom PII fields, the lockout guard, validation, API keys, explanations and the
audit trail of policy changes. Plus unit tests of the compiled decision table where those read clearer.
"""

from __future__ import annotations

import uuid
from typing import Any

import casbin
import pytest
from sqlalchemy import text

from authz.decisions import DecisionTable
from authz.defaults import MODEL_FILE, default_rules
from authz.fields import FieldRegistry, custom_field_spec
from authz.rules import Effect
from authz.store import build_policy
from resolvers.runtime import Runtime
from tests.authz.helpers import World, build_world, error_codes, nodes, redactions
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

ADD = "mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role resource action effect scope}}"
REMOVE = "mutation($r:PolicyRuleInput!){removePolicy(rule:$r)}"


def rule(role: str, resource: str, action: str, effect: str, scope: str = "all") -> dict[str, str]:
    return {"role": role, "resource": resource, "action": action, "effect": effect, "scope": scope}


async def add(gql: GraphQLClient, ws: Workspace, *args: str) -> dict[str, Any]:
    return await gql.raw(ADD, {"r": rule(*args)}, ws.admin_token)


async def remove(gql: GraphQLClient, ws: Workspace, *args: str) -> dict[str, Any]:
    return await gql.raw(REMOVE, {"r": rule(*args)}, ws.admin_token)


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert len(body.get("errors") or []) == 1, body
    return body["errors"][0]  # type: ignore[no-any-return]


async def contact_view(gql: GraphQLClient, world: World, who: str, label: str, fields: str) -> dict[str, Any]:
    return await gql.raw(
        f"query($id:ID!){{contact(id:$id){{{fields}}}}}", {"id": world.contacts[label]}, world.token(who)
    )


@pytest.fixture(scope="module")
async def world(workspaces: WorkspaceFactory, gql: GraphQLClient) -> World:
    """A shared world for the tests that only read (and never change policies)."""
    return await build_world(workspaces, gql)


@pytest.fixture
async def fresh(workspaces: WorkspaceFactory, gql: GraphQLClient) -> World:
    """A world of its own, for tests that change policies."""
    return await build_world(workspaces, gql)


# ------------------------------------------------------------------------------------------ precedence


async def test_a_deny_rule_beats_allow_at_once(gql: GraphQLClient, fresh: World) -> None:
    before = await contact_view(gql, fresh, "manager", "own", "email phone")
    assert before["data"]["contact"] == {"email": "olivia@own.example.com", "phone": "+85291234567"}
    assert (await add(gql, fresh.ws, "manager", "contact.email", "read", "DENY"))["data"]["addPolicy"] == rule(
        "manager", "contact.email", "read", "DENY"
    )
    # The very next request decides with the new rule: null plus FORBIDDEN pointing at the field.
    after = await contact_view(gql, fresh, "manager", "own", "email phone")
    assert after["data"]["contact"] == {"email": None, "phone": "+85291234567"}
    error = only_error(after)
    assert (error["path"], error["extensions"]["code"]) == (["contact", "email"], "FORBIDDEN")
    listed = await gql.raw("{contacts(first:200){edges{node{email}}}}", token=fresh.token("manager"))
    assert {n["email"] for n in nodes(listed["data"]["contacts"])} == {None}
    assert redactions(listed) == {"contacts.edges.*.node.email": 6}
    # A DENY on a whole PII group beats the ALLOW of the same group, and a field rule.
    await add(gql, fresh.ws, "manager", "contact.phone", "read", "ALLOW")
    await add(gql, fresh.ws, "manager", "pii:contact", "read", "DENY")
    assert (await contact_view(gql, fresh, "manager", "own", "phone"))["data"]["contact"] == {"phone": None}
    # Removing the DENYs restores the ALLOW, also at once.
    assert (await remove(gql, fresh.ws, "manager", "contact.email", "read", "DENY"))["data"] == {"removePolicy": True}
    await remove(gql, fresh.ws, "manager", "pii:contact", "read", "DENY")
    assert (await contact_view(gql, fresh, "manager", "own", "email phone"))["data"]["contact"] == before["data"][
        "contact"
    ]


async def test_a_deny_on_a_non_null_field_nulls_the_object(gql: GraphQLClient, fresh: World) -> None:
    await add(gql, fresh.ws, "manager", "contact.vip", "read", "DENY")
    body = await contact_view(gql, fresh, "manager", "own", "id vip")
    assert body["data"]["contact"] is None
    assert (only_error(body)["path"], error_codes(body)) == (["contact", "vip"], ["FORBIDDEN"])
    # ... and only on every record: a conditional DENY of a non-null field cannot be expressed.
    body = await add(gql, fresh.ws, "manager", "contact.stage", "read", "DENY", "own")
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "scope"}


async def test_a_scoped_deny_keeps_records_outside_its_scope(gql: GraphQLClient, fresh: World) -> None:
    """Regression: `NOT (owner_id = me)` is NULL on contacts with no owner, which hid them too."""
    ws = fresh.ws
    orphan = await ws.contact(firstName="Nobody", ownerId=None, teamId=None)
    await add(gql, ws, "support", "contact", "read", "DENY", "team")
    await add(gql, ws, "manager", "contact", "read", "DENY", "own")
    for who in ("support", "manager"):
        body = await gql.ok("{contacts(first:200){totalCount edges{node{id}}}}", token=fresh.token(who))
        ids = {n["id"] for n in nodes(body["contacts"])}
        assert orphan in ids, who
    # The manager (team alpha) owns nothing, so denying `own` hides nothing; support has no team.
    assert body["contacts"]["totalCount"] == 7


async def test_masking_a_value_with_no_masked_form_denies_it(gql: GraphQLClient, fresh: World) -> None:
    """MASK through `contact.*` reaches booleans, enums and times too: they fail closed (null the object)
    rather than show a made-up value (vip: true) or fail as INTERNAL (stage, createdAt)."""
    await add(gql, fresh.ws, "manager", "contact.*", "read", "MASK", "team")
    await add(gql, fresh.ws, "manager", "activity.*", "read", "MASK", "team")
    body = await gql.raw("{contacts(first:200){edges{node{id company}}}}", token=fresh.token("manager"))
    got = {fresh.label_of(n["id"]): n["company"] for n in nodes(body["data"]["contacts"])}
    assert got["own"] == "[hidden]" and got["other"] == "Other Holdings"
    for field in ("vip", "stage", "createdAt", "lastActivityAt"):
        body = await contact_view(gql, fresh, "manager", "team", f"id {field}")
        assert "INTERNAL" not in error_codes(body), field
        assert body["data"]["contact"] in (None, {"id": fresh.contacts["team"], field: None}), field
        assert "FORBIDDEN" in error_codes(body)
    body = await contact_view(gql, fresh, "manager", "other", "vip stage")
    assert body["data"]["contact"] == {"vip": False, "stage": "LEAD"}
    body = await gql.raw("{activities(first:200){edges{node{id kind private}}}}", token=fresh.token("manager"))
    assert "INTERNAL" not in error_codes(body)
    hidden = [e["node"] for e in body["data"]["activities"]["edges"]]
    assert hidden.count(None) == 4  # the activities on team alpha's contacts


async def test_union_of_roles_sees_the_union_of_records(gql: GraphQLClient, world: World) -> None:
    ws = world.ws
    both = await ws.user("sales_marketing", ["sales", "marketing"], "alpha")
    body = await gql.ok("{contacts(first:200){totalCount edges{node{id email phone}}}}", token=both["token"])
    seen = {world.label_of(n["id"]): n for n in nodes(body["contacts"])}
    # sales (team alpha): the team's contacts; marketing: the contact with an active consent.
    assert set(seen) == {"own", "team", "consented"}
    assert body["contacts"]["totalCount"] == 3
    # Field rules join too: marketing alone may not read phones, sales alone does not see the consented
    # contact; together they read its phone in clear.
    assert seen["consented"]["phone"] == "+85294567890"
    # marketing's `contact.email allow consented:email` joins sales' `contact.email mask all`: a rule with a
    # narrower scope beats an `all` rule on its rows, so the e-mail-consented contact reads in clear; on the
    # others sales' MASK applies (this user owns none of them, so sales' `allow own` never applies).
    assert {k: v["email"] for k, v in seen.items()} == {
        "own": "o***@own.example.com",
        "team": "t***@team.example.com",
        "consented": "connie@consent.example.com",
    }
    wide = await ws.user("sales_support", ["sales", "support"], "alpha")
    body = await gql.ok("{contacts(first:200){edges{node{id}}}}", token=wide["token"])
    assert len(nodes(body["contacts"])) == 6  # support: every contact
    body = await gql.ok("{activities(first:200){edges{node{id}}}}", token=wide["token"])
    # sales' activity scopes (own, non-private, non-VIP) united with support's (non-private), contact visible:
    # another author's private note on a VIP stays hidden.
    assert {world.activity_label(n["id"]) for n in nodes(body["activities"])} == {
        "other_private_nonvip",
        "public_own",
        "public_other",
    }
    # A DENY of one role still wins over the other role's MASK: support denies government ids.
    view = await contact_view(gql, world, "sales_support", "own", "hkid")
    assert view["data"]["contact"] == {"hkid": None}


async def test_conditional_field_rules_decide_per_record(gql: GraphQLClient, fresh: World) -> None:
    ws = fresh.ws
    # manager (team alpha): phone masked on the team's contacts only; linkedinUrl denied on them.
    await add(gql, ws, "manager", "contact.phone", "read", "MASK", "team")
    await add(gql, ws, "manager", "contact.linkedinUrl", "read", "DENY", "team")
    # sales: hkid in clear on their own contacts (a narrower ALLOW beats the MASK on every record).
    await add(gql, ws, "sales", "contact.hkid", "read", "ALLOW", "own")
    # sales: phone denied on their own contacts.
    await add(gql, ws, "sales", "contact.phone", "read", "DENY", "own")
    body = await gql.raw("{contacts(first:200){edges{node{id phone linkedinUrl}}}}", token=fresh.token("manager"))
    got = {fresh.label_of(n["id"]): n for n in nodes(body["data"]["contacts"])}
    assert got["own"] == {"id": fresh.contacts["own"], "phone": "+852 ****4567", "linkedinUrl": None}
    assert got["team"]["phone"] == "+852 ****5678"
    assert got["other"] == {
        "id": fresh.contacts["other"],
        "phone": "+85263456789",
        "linkedinUrl": "https://www.linkedin.com/in/oscar",
    }
    assert redactions(body) == {"contacts.edges.*.node.linkedinUrl": 2}
    body = await gql.raw("{contacts(first:200){edges{node{id hkid phone}}}}", token=fresh.token("sales1"))
    got = {fresh.label_of(n["id"]): n for n in nodes(body["data"]["contacts"])}
    assert got["own"] == {"id": fresh.contacts["own"], "hkid": "A123456(3)", "phone": None}
    assert got["team"] == {"id": fresh.contacts["team"], "hkid": "B234***(*)", "phone": "+85292345678"}
    assert redactions(body) == {"contacts.edges.*.node.phone": 1}
    # A conditional rule is not enough to filter by the field (it does not read in clear everywhere).
    body = await gql.raw('{contacts(filter:{hkid:"A123456(3)"}){edges{node{id}}}}', token=fresh.token("sales1"))
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": "hkid"}


async def test_unit_precedence_of_the_compiled_table() -> None:
    """DENY that applies > narrower scope (MASK > ALLOW) > `all` (MASK > ALLOW) > default (PII denied)."""
    registry = FieldRegistry.build([custom_field_spec("contact", "passportNo", "String", "government_id", "KYC")])
    lines = [("p", r.as_casbin()) for r in default_rules()]
    lines += [
        ("p", ["t", "contact.email", "read", "allow", "all"]),
        ("p", ["t", "contact.email", "read", "mask", "team"]),
        ("p", ["t", "contact.email", "read", "allow", "own"]),
        ("p", ["t", "contact.phone", "read", "allow", "all"]),
        ("p", ["t", "contact.phone", "read", "deny", "own"]),
        ("p", ["t", "pii:name", "read", "mask", "all"]),
        ("p", ["t", "contact.firstName", "read", "allow", "all"]),
    ]
    policy = build_policy(1, lines, registry.custom("contact"))
    table = policy.table(frozenset({"t"}))
    email = table.field("contact", "email")
    assert email.constant is None and email.scopes == ("team", "own")
    assert email.decide(lambda s: s in {"team", "own"})[0] is Effect.MASK  # both narrow: MASK first
    assert email.decide(lambda s: s == "own")[0] is Effect.ALLOW
    assert email.decide(lambda s: False)[0] is Effect.ALLOW
    phone = table.field("contact", "phone")
    assert phone.decide(lambda s: s == "own")[0] is Effect.DENY
    assert phone.decide(lambda s: False)[0] is Effect.ALLOW
    assert table.field("contact", "firstName").constant is Effect.MASK  # group MASK on all beats field ALLOW on all
    assert table.field("contact", "lastName").constant is Effect.MASK
    assert table.field("contact", "hkid").constant is Effect.DENY  # PII with no rule
    assert table.field("contact", "company").constant is Effect.ALLOW  # non-PII with no rule
    assert table.field("contact", "nonexistent").constant is Effect.DENY  # unknown: fail closed
    # A custom field joins its category's group: support's DENY and sales' MASK cover it with no edit.
    assert policy.table(frozenset({"support"})).field("contact", "passportNo").constant is Effect.DENY
    assert policy.table(frozenset({"sales"})).field("contact", "passportNo").constant is Effect.MASK
    assert policy.table(frozenset({"admin"})).field("contact", "passportNo").constant is Effect.ALLOW
    # Roles inherit roles through `g`: a role that inherits sales gets sales' decisions.
    enforcer: casbin.Enforcer = policy.enforcer
    enforcer.add_named_grouping_policy("g", "senior_sales", "sales")
    inherited = DecisionTable.compile(enforcer, registry, ["senior_sales"], 1)
    assert inherited.field("contact", "hkid").constant is Effect.MASK
    assert inherited.record("contact", "read").allow == ("own", "team")
    assert MODEL_FILE.exists()


def test_unit_a_mask_on_a_value_with_no_masked_form_is_a_deny() -> None:
    lines = [("p", ["t", "contact.*", "read", "mask", "all"]), ("p", ["t", "activity.*", "read", "mask", "own"])]
    table = build_policy(1, lines, []).table(frozenset({"t"}))
    assert table.field("contact", "email").constant is Effect.MASK
    assert table.field("contact", "salary").constant is Effect.MASK  # salaryMasked carries it
    assert table.field("contact", "company").constant is Effect.MASK  # a String: "[hidden]"
    for name in ("vip", "stage", "createdAt", "owner", "lastActivityAt"):
        assert table.field("contact", name).constant is Effect.DENY, name
    kind = table.field("activity", "kind")
    assert kind.decide(lambda s: s == "own")[0] is Effect.DENY
    assert kind.decide(lambda s: False)[0] is Effect.ALLOW


def test_unit_a_denied_scope_is_two_valued_in_sql() -> None:
    """Rows lacking the attribute a denied scope tests (no owner, no team) stay visible."""
    from sqlalchemy.dialects import postgresql

    from authz import scopes
    from authz.principal import Principal

    principal = Principal("user", uuid.uuid4(), frozenset(), uuid.uuid4())
    sql = str(scopes.combine("contact", ("all",), ("own", "team"), principal).compile(dialect=postgresql.dialect()))
    assert "IS NOT true" in sql
    assert str(scopes.combine("contact", ("own",), ("all",), principal)) == "false"


# ------------------------------------------------------------------------------------ nested scopes


async def test_nested_activities_follow_both_scopes(gql: GraphQLClient, world: World) -> None:
    token = world.token("sales1")
    # activities(contactId:) on a visible contact: the activity scope applies.
    body = await gql.ok(
        "query($c:ID!){activities(contactId:$c){totalCount edges{node{id}}}}", {"c": world.contacts["own"]}, token
    )
    assert {world.activity_label(n["id"]) for n in nodes(body["activities"])} == {"own_private", "public_own"}
    assert body["activities"]["totalCount"] == 2
    # ... on a contact outside the record scope: nothing, even for public activities.
    body = await gql.ok(
        "query($c:ID!){activities(contactId:$c){totalCount edges{node{id}}}}", {"c": world.contacts["other"]}, token
    )
    assert body["activities"] == {"totalCount": 0, "edges": []}
    # node(id) of a hidden activity is null.
    for label in ("other_private_vip", "public_other"):
        body = await gql.raw("query($id:ID!){node(id:$id){id}}", {"id": world.activities[label]}, token)
        assert body["data"]["node"] is None
    # activity.contact goes through the contact's field decisions (HKID masked for sales).
    body = await gql.ok("{activities{edges{node{id contact{id hkid email}}}}}", token=token)
    by_activity = {world.activity_label(n["id"]): n["contact"] for n in nodes(body["activities"])}
    assert by_activity["public_own"] == {
        "id": world.contacts["own"],
        "hkid": "A123***(*)",
        "email": "olivia@own.example.com",
    }
    assert by_activity["other_private_nonvip"]["email"] == "t***@team.example.com"
    # contact.activities.contact: the same decisions at any depth; denied fields report their path.
    body = await gql.raw(
        "query($id:ID!){contact(id:$id){activities{edges{node{id contact{hkid salary}}}}}}",
        {"id": world.contacts["own"]},
        world.token("support"),
    )
    inner = [n["contact"] for n in nodes(body["data"]["contact"]["activities"])]
    assert inner == [{"hkid": None, "salary": None}]
    paths = sorted(e["path"][-1] for e in body["errors"])
    assert paths == ["hkid", "salary"]
    assert all(e["path"][:5] == ["contact", "activities", "edges", 0, "node"] for e in body["errors"])


async def test_hiding_a_contact_hides_its_activities(gql: GraphQLClient, fresh: World) -> None:
    await add(gql, fresh.ws, "manager", "contact", "read", "DENY", "team")  # manager is in team alpha
    body = await gql.ok("{contacts(first:200){edges{node{id}}}}", token=fresh.token("manager"))
    assert {fresh.label_of(n["id"]) for n in nodes(body["contacts"])} == {"other", "consented", "withdrawn", "expired"}
    body = await gql.ok("{activities(first:200){totalCount edges{node{id}}}}", token=fresh.token("manager"))
    assert {fresh.activity_label(n["id"]) for n in nodes(body["activities"])} == {"public_other"}
    assert body["activities"]["totalCount"] == 1


# ------------------------------------------------------------------------------------- leak channels


@pytest.mark.parametrize(
    ("who", "argument", "field"),
    [
        ("support", 'filter:{hkid:"A123456(3)"}', "hkid"),
        ("manager", 'filter:{hkid:"A123456(3)"}', "hkid"),  # masked is not readable
        ("sales1", 'filter:{email:"olivia@own.example.com"}', "email"),  # clear on own rows only
        ("marketing", 'filter:{phone:"91234567"}', "phone"),
        ("marketing", "filter:{stage:LEAD}", "stage"),
        ("support", "filter:{stage:CUSTOMER}", "stage"),
    ],
)
async def test_filtering_by_a_field_needs_it_in_clear(
    gql: GraphQLClient, world: World, who: str, argument: str, field: str
) -> None:
    body = await gql.raw(f"{{contacts({argument}){{totalCount edges{{node{{id}}}}}}}}", token=world.token(who))
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": field}


async def test_filtering_in_clear_works(gql: GraphQLClient, world: World) -> None:
    body = await gql.ok('{contacts(filter:{hkid:"a123456 3"}){totalCount edges{node{id}}}}', token=world.token("admin"))
    assert [n["id"] for n in nodes(body["contacts"])] == [world.contacts["own"]]
    body = await gql.ok('{contacts(filter:{phone:"9234 5678"}){edges{node{id}}}}', token=world.token("support"))
    assert [n["id"] for n in nodes(body["contacts"])] == [world.contacts["team"]]


async def test_ordering_and_searching_by_a_denied_field_is_forbidden(gql: GraphQLClient, fresh: World) -> None:
    await add(gql, fresh.ws, "support", "contact.lastName", "read", "MASK")
    token = fresh.token("support")
    body = await gql.raw("{contacts(orderBy:{field:LAST_NAME,direction:ASC}){edges{node{id}}}}", token=token)
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": "lastName"}
    body = await gql.raw('{contacts(filter:{search:"Own"}){edges{node{id}}}}', token=token)
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": "lastName"}
    # The names still read in clear can order; the order really follows the field.
    body = await gql.ok("{contacts(orderBy:{field:FIRST_NAME,direction:ASC}){edges{node{firstName}}}}", token=token)
    names = [n["firstName"] for n in nodes(body["contacts"])]
    assert names == sorted(names) and len(names) == 6
    await add(gql, fresh.ws, "support", "contact.company", "read", "DENY")
    body = await gql.raw("{contacts(orderBy:{field:COMPANY,direction:DESC}){edges{node{id}}}}", token=token)
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": "company"}


# ------------------------------------------------------------------------------------ custom fields


async def test_a_custom_government_id_field_is_covered_with_no_policy_edit(gql: GraphQLClient, fresh: World) -> None:
    ws = fresh.ws
    body = await gql.raw(
        'mutation{defineCustomField(entity:"contact",name:"passportNo",type:"String",piiCategory:"government_id")'
        "{name}}",
        token=ws.admin_token,
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "purpose"}
    defined = await gql.ok(
        'mutation{defineCustomField(entity:"contact",name:"passportNo",type:"String",piiCategory:"government_id",'
        'purpose:"KYC for remittances"){entity name type custom piiCategory purpose}}',
        token=ws.admin_token,
    )
    assert defined["defineCustomField"] == {
        "entity": "contact",
        "name": "passportNo",
        "type": "String",
        "custom": True,
        "piiCategory": "government_id",
        "purpose": "KYC for remittances",
    }
    for label, value in (("own", "K12345678"), ("team", "K87654321")):
        await gql.ok(
            "mutation($id:ID!,$i:ContactInput!){updateContact(id:$id,input:$i){id}}",
            {"id": fresh.contacts[label], "i": {"customFields": {"passportNo": value}}},
            ws.admin_token,
        )
    policies = await gql.ok("{policies{role resource action effect scope}}", token=ws.admin_token)
    assert not [p for p in policies["policies"] if "passportNo" in p["resource"]]  # no policy was edited

    async def custom(who: str, label: str) -> dict[str, Any]:
        return await contact_view(gql, fresh, who, label, "customFields")

    assert (await custom("admin", "own"))["data"]["contact"] == {"customFields": {"passportNo": "K12345678"}}
    assert (await custom("sales1", "own"))["data"]["contact"] == {"customFields": {"passportNo": "*****678"}}
    assert (await custom("manager", "team"))["data"]["contact"] == {"customFields": {"passportNo": "*****321"}}
    hidden = await custom("support", "own")
    assert hidden["data"]["contact"] == {"customFields": {}}
    assert only_error(hidden)["extensions"] == {"code": "FORBIDDEN", "field": "customFields.passportNo"}
    listed = await gql.raw("{contacts(first:200){edges{node{customFields}}}}", token=fresh.token("support"))
    assert "K12345678" not in str(listed) and "K87654321" not in str(listed)
    # Denied on every row, whether or not it holds a value (no hint of which rows do).
    assert redactions(listed) == {"contacts.edges.*.node.customFields.passportNo": 6}
    listed = await gql.raw("{contacts(first:200){edges{node{customFields}}}}", token=fresh.token("marketing"))
    assert "K123" not in str(listed)


# ------------------------------------------------------------------------------------------- writes


async def test_field_write_rules_refuse_the_whole_change(gql: GraphQLClient, world: World) -> None:
    update = "mutation($id:ID!,$i:ContactInput!){updateContact(id:$id,input:$i){id jobTitle}}"
    # sales may write names on their team's contacts, not government ids: nothing is written.
    body = await gql.raw(
        update, {"id": world.contacts["team"], "i": {"jobTitle": "Chief", "hkid": "A123456(3)"}}, world.token("sales1")
    )
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "FORBIDDEN", "field": "hkid"}
    after = await contact_view(gql, world, "admin", "team", "jobTitle hkid")
    assert after["data"]["contact"] == {"jobTitle": "COO", "hkid": "B234567(1)"}
    # Outside the record scope the contact does not exist; support has no write scope at all.
    body = await gql.raw(update, {"id": world.contacts["other"], "i": {"jobTitle": "X"}}, world.token("sales1"))
    assert error_codes(body) == ["NOT_FOUND"]
    body = await gql.raw(update, {"id": world.contacts["own"], "i": {"jobTitle": "X"}}, world.token("support"))
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await contact_view(gql, world, "admin", "own", "jobTitle"))["data"]["contact"] == {"jobTitle": "CFO"}


# ---------------------------------------------------------------------------------------- lockout


async def test_the_lockout_guard(gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    admin_id = (await gql.ok("{me{id}}", token=ws.admin_token))["me"]["id"]
    body = await remove(gql, ws, "admin", "policy", "write", "ALLOW")
    assert error_codes(body) == ["CONFLICT"]
    body = await gql.raw('mutation($u:ID!){revokeRole(userId:$u,role:"admin"){id}}', {"u": admin_id}, ws.admin_token)
    assert error_codes(body) == ["CONFLICT"]
    # A DENY would lock everyone out just the same.
    body = await add(gql, ws, "admin", "policy", "write", "DENY")
    assert error_codes(body) == ["CONFLICT"]
    # Nothing changed: the admin still edits policies.
    assert (await add(gql, ws, "sales", "contact.taxId", "read", "DENY"))["data"]["addPolicy"]
    # With a second admin, the first one's role may go.
    second = await ws.user("second_admin", ["admin"])
    body = await gql.raw(
        'mutation($u:ID!){revokeRole(userId:$u,role:"admin"){id roles}}', {"u": admin_id}, second["token"]
    )
    assert body["data"]["revokeRole"]["roles"] == []
    body = await gql.raw(
        'mutation($u:ID!){revokeRole(userId:$u,role:"admin"){id}}', {"u": second["id"]}, second["token"]
    )
    assert error_codes(body) == ["CONFLICT"]


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (rule("sales", "widget", "read", "ALLOW"), "resource"),
        (rule("sales", "contact.nickname", "read", "ALLOW"), "resource"),
        (rule("sales", "pii:astrology", "read", "ALLOW"), "resource"),
        (rule("sales", "contact", "read", "ALLOW", "everyone"), "scope"),
        (rule("sales", "contact", "read", "ALLOW", "non_private"), "scope"),  # an activity scope
        (rule("sales", "contact", "read", "ALLOW", "consented:fax"), "scope"),
        (rule("sales", "contact", "peek", "ALLOW"), "action"),
        (rule("sales", "contact.email", "export", "ALLOW"), "action"),
        (rule("sales", "contact", "read", "PERMIT"), "effect"),
        (rule("sales", "contact", "read", "MASK"), "effect"),  # MASK is for reading fields
        (rule("Sales Team!", "contact", "read", "ALLOW"), "role"),
    ],
)
async def test_invalid_rules_are_bad_user_input_naming_the_field(
    gql: GraphQLClient, world: World, bad: dict[str, str], field: str
) -> None:
    body = await gql.raw(ADD, {"r": bad}, world.ws.admin_token)
    assert body["data"] is None
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_an_unknown_effect_literal_names_the_field(gql: GraphQLClient, world: World) -> None:
    body = await gql.raw(
        'mutation{addPolicy(rule:{role:"sales",resource:"contact",action:"read",effect:PERMIT}){role}}',
        token=world.ws.admin_token,
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "effect"}


# ------------------------------------------------------------------------------------------ API keys


async def _api_key(gql: GraphQLClient, ws: Workspace, role: str) -> str:
    data = await gql.ok(
        "mutation($n:String!,$r:String!){createApiKey(name:$n,role:$r){key apiKey{role}}}",
        {"n": f"partner {role}", "r": role},
        ws.admin_token,
    )
    assert data["createApiKey"]["apiKey"]["role"] == role
    return str(data["createApiKey"]["key"])


async def test_api_keys_carry_their_roles_scopes_and_decisions(gql: GraphQLClient, world: World) -> None:
    sales_key = await _api_key(gql, world.ws, "sales")
    # An API key is nobody: it owns no contacts and is in no team, so `own`/`team` scopes match nothing.
    body = await gql.ok("{contacts{totalCount edges{node{id}}}}", token=sales_key)
    assert body["contacts"] == {"totalCount": 0, "edges": []}
    body = await gql.ok("{activities{totalCount edges{node{id}}}}", token=sales_key)
    assert body["activities"] == {"totalCount": 0, "edges": []}
    body = await gql.raw("query($id:ID!){contact(id:$id){id}}", {"id": world.contacts["own"]}, sales_key)
    assert error_codes(body) == ["NOT_FOUND"]
    support_key = await _api_key(gql, world.ws, "support")
    body = await gql.raw("{contacts(first:200){edges{node{id firstName lastName hkid salary}}}}", token=support_key)
    got = {world.label_of(n["id"]): n for n in nodes(body["data"]["contacts"])}
    assert len(got) == 6
    assert got["own"] == {
        "id": world.contacts["own"],
        "firstName": "Olivia",
        "lastName": "Owner",
        "hkid": None,
        "salary": None,
    }
    assert redactions(body) == {"contacts.edges.*.node.hkid": 6, "contacts.edges.*.node.salary": 6}
    body = await gql.ok("{activities(first:200){edges{node{id}}}}", token=support_key)
    assert {world.activity_label(n["id"]) for n in nodes(body["activities"])} == {"public_own", "public_other"}
    # Its role's operation rules too: support may not edit policies.
    body = await gql.raw(ADD, {"r": rule("support", "contact.hkid", "read", "ALLOW")}, support_key)
    assert error_codes(body) == ["FORBIDDEN"]


# ------------------------------------------------------------------------------------------ explain


EXPLAIN = (
    "query($u:ID!,$r:String!,$a:String!){explainAccess(userId:$u,resource:$r,action:$a)"
    "{resource action roles effect scopes reason rules{role resource action effect scope}}}"
)


async def test_explain_access_returns_the_deciding_rules(gql: GraphQLClient, world: World) -> None:
    async def explain(who: str, resource: str, action: str = "read") -> dict[str, Any]:
        data = await gql.ok(EXPLAIN, {"u": world.ws.users[who]["id"], "r": resource, "a": action}, world.ws.admin_token)
        return data["explainAccess"]  # type: ignore[no-any-return]

    email = await explain("sales1", "contact.email")
    assert email["roles"] == ["sales"]
    assert email["rules"][:2] == [
        rule("sales", "contact.email", "read", "ALLOW", "own"),
        rule("sales", "contact.email", "read", "MASK", "all"),
    ]
    assert email["scopes"][:2] == ["own", "all"]
    hkid = await explain("support", "contact.hkid")
    assert hkid["effect"] == "DENY"
    assert hkid["rules"][0] == rule("support", "pii:government_id", "read", "DENY")
    dob = await explain("support", "contact.dateOfBirth")
    assert (dob["effect"], dob["rules"]) == ("DENY", [])  # PII with no rule
    records = await explain("sales1", "contact")
    assert (records["effect"], sorted(records["scopes"])) == ("ALLOW", ["own", "team"])
    assert sorted(r["scope"] for r in records["rules"]) == ["own", "team"]
    policy = await explain("marketing", "policy", "write")
    assert (policy["effect"], policy["rules"]) == ("DENY", [])
    body = await gql.raw(
        EXPLAIN, {"u": world.ws.users["sales1"]["id"], "r": "contact.nope", "a": "read"}, world.ws.admin_token
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "resource"}
    body = await gql.raw(
        EXPLAIN, {"u": world.ws.users["sales1"]["id"], "r": "contact", "a": "read"}, world.token("sales1")
    )
    assert error_codes(body) == ["FORBIDDEN"]


# -------------------------------------------------------------------------------------------- audit


async def _policy_changes(runtime: Runtime, slug: str) -> list[dict[str, Any]]:
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    async with tenant.engine.connect() as conn:
        rows = await conn.execute(
            text("select details from audit_events where action = 'POLICY_CHANGE' order by occurred_at, batch_seq")
        )
        return [r[0] for r in rows]


async def test_every_policy_change_is_one_audit_event(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    start = len(await _policy_changes(runtime, ws.slug))
    assert (await add(gql, ws, "sales", "contact.taxId", "read", "DENY"))["data"]
    assert (await add(gql, ws, "support", "contact.bio", "read", "MASK", "all"))["data"]
    assert (await remove(gql, ws, "sales", "contact.taxId", "read", "DENY"))["data"] == {"removePolicy": True}
    # Refused changes leave no trace as a change.
    assert error_codes(await add(gql, ws, "support", "contact.bio", "read", "MASK")) == ["CONFLICT"]
    assert error_codes(await remove(gql, ws, "sales", "contact.taxId", "read", "DENY")) == ["NOT_FOUND"]
    assert error_codes(await add(gql, ws, "sales", "widget", "read", "ALLOW")) == ["BAD_USER_INPUT"]
    assert error_codes(await remove(gql, ws, "admin", "policy", "write", "ALLOW")) == ["CONFLICT"]
    changes = (await _policy_changes(runtime, ws.slug))[start:]
    assert [(c["change"], c["rule"]) for c in changes] == [
        ("addPolicy", ["sales", "contact.taxId", "read", "deny", "all"]),
        ("addPolicy", ["support", "contact.bio", "read", "mask", "all"]),
        ("removePolicy", ["sales", "contact.taxId", "read", "deny", "all"]),
    ]
    versions = [c["policyVersion"] for c in changes]
    assert versions == sorted(versions) and len(set(versions)) == 3
