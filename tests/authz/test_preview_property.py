"""Property: `previewAs(userId, contactId)` never shows more than the user gets, whatever the policy.

Over the world of test_property.py (canary values, users of every default role and of the `probe` role) and its
random extra rules, an admin previews a random contact as a random user, and the user then reads the same
contact signed in as themselves. For every field the two agree exactly: a clear value is the same value, a
masked one the same mask (`salaryMasked`, `dateOfBirthMasked` included), a denied one null (and named in
`deniedFields`); a contact outside the user's record scope is `visible: false` and NOT_FOUND for them.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.authz.test_property import USERS, World, install, policies
from tests.authz.test_property import world as world  # the shared world fixture (module scope)
from tests.factories.workspaces import GraphQLClient

PREVIEWS_PER_EXAMPLE = 4
NULLABLE = ["firstName", "lastName", "email", "phone", "hkid", "taxId", "dateOfBirth", "dateOfBirthMasked",
            "linkedinUrl", "bio", "salary", "salaryMasked", "company", "jobTitle", "customFields"]
NON_NULL = ["stage", "vip"]  # a denied one nulls the whole contact for the user: asked alone
PREVIEW = "query($u:ID!,$c:ID!){ previewAs(userId:$u, contactId:$c){ visible fields deniedFields } }"
AS_USER = "query($id:ID!){ contact(id:$id){ %s } }"


async def user_ids(gql: GraphQLClient, w: World) -> dict[str, str]:
    if not hasattr(w, "user_ids"):
        w.user_ids = {label: (await gql.ok("{ me { id } }", token=w.tokens[label]))["me"]["id"]  # type: ignore[attr-defined]
                      for label in USERS}
    return w.user_ids  # type: ignore[attr-defined, no-any-return]


def fail(message: str, **context: Any) -> None:
    raise AssertionError(message + "".join(f"\n{k}: {v}" for k, v in context.items()))


@settings(
    max_examples=int(os.environ.get("PREVIEW_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    phases=[p for p in Phase if p is not Phase.shrink or os.environ.get("AUTHZ_PROPERTY_SHRINK")],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(extra=policies(), data=st.data())
async def test_preview_as_shows_exactly_what_the_user_gets(
    world: World, gql: GraphQLClient, extra: list[Any], data: st.DataObject
) -> None:
    await install(world, extra)
    ids = await user_ids(gql, world)
    admin = world.tokens["admin"]
    for _ in range(PREVIEWS_PER_EXAMPLE):
        who = data.draw(st.sampled_from(sorted(USERS)), label="user")
        contact = world.contacts[data.draw(st.sampled_from(sorted(world.contacts)), label="contact")]
        preview = (await gql.ok(PREVIEW, {"u": ids[who], "c": contact.id}, admin))["previewAs"]
        theirs = await gql.raw(AS_USER % " ".join(NULLABLE), {"id": contact.id}, world.tokens[who])
        context = {"user": who, "contact": contact.label, "rules": extra, "preview": preview, "theirs": theirs}
        got = theirs["data"]["contact"]
        if got is None:
            codes = {e["extensions"]["code"] for e in theirs.get("errors") or []}
            if codes != {"NOT_FOUND"} or preview != {"visible": False, "fields": None, "deniedFields": []}:
                fail("the user cannot see the contact, the preview must say so", **context)
            continue
        if not preview["visible"]:
            fail("the user sees the contact but the preview says it is invisible", **context)
        fields = preview["fields"]
        for name in NULLABLE:
            if fields.get(name) != got[name]:
                fail(f"{name}: preview {fields.get(name)!r}, the user gets {got[name]!r}", **context)
        denied = {e["path"][-1] for e in theirs.get("errors") or [] if e["extensions"]["code"] == "FORBIDDEN"}
        denied_names = {d.removeprefix("customFields.") for d in preview["deniedFields"]}
        if not denied <= denied_names | {"customFields", "salaryMasked", "dateOfBirthMasked"}:
            fail(f"denied for the user but not in the preview's deniedFields: {denied - denied_names}", **context)
        for name in NON_NULL:  # one at a time: a denied one nulls the contact, and with it the other
            alone = await gql.raw(AS_USER % name, {"id": contact.id}, world.tokens[who])
            expected = None if alone["data"]["contact"] is None else alone["data"]["contact"][name]
            if fields.get(name) != expected or (expected is None and name not in preview["deniedFields"]):
                fail(f"{name}: preview {fields.get(name)!r}, the user gets {expected!r}", alone=alone, **context)
