"""A refused root field beside allowed ones (issue #11, item 9(a)): the allowed fields answer, the refused one is
null with FORBIDDEN and its DENIED event is written - never INTERNAL."""

from __future__ import annotations

import httpx

from resolvers.runtime import Runtime
from tests.audit.helpers import codes, post, request_id, rows
from tests.factories.workspaces import WorkspaceFactory

ADD_POLICY = "mutation($r:PolicyRuleInput!){ addPolicy(rule:$r){ role } }"


async def test_a_nullable_forbidden_root_field_beside_an_allowed_one_answers_the_allowed_one(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Chan", lastName="Tai Man")
    rule = {"role": "directory", "resource": "user", "action": "read", "effect": "ALLOW"}
    await ws.gql.ok(ADD_POLICY, {"r": rule}, ws.admin_token)
    clerk = await ws.user("clerk", ["directory"])
    rid = request_id("partial")
    body = await post(
        http, "query($c:ID!){ me { id } contact(id: $c) { firstName } }", {"c": contact}, token=clerk["token"],
        rid=rid,
    )
    assert codes(body) == ["FORBIDDEN"], body
    assert body["errors"][0]["path"] == ["contact"]
    assert body["data"] == {"me": {"id": clerk["id"]}, "contact": None}
    denied = await rows(runtime, ws.slug, action="DENIED", request_id=rid)
    assert len(denied) == 1 and denied[0].details["operation"] == "contact", denied
    assert await rows(runtime, ws.slug, action="READ", request_id=rid) == []
