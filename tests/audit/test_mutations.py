"""Mutations write CREATE/UPDATE rows in their transaction; failed ones leave none; refused ones are DENIED."""

from __future__ import annotations

import httpx

from db.audit import AuditActor, AuditBuffer
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.audit.helpers import codes, post, request_id, rows
from tests.factories.workspaces import WorkspaceFactory

CREATE = "mutation($i:ContactInput!){createContact(input:$i){id firstName}}"
UPDATE = "mutation($id:ID!,$i:ContactInput!){updateContact(id:$id,input:$i){id}}"


def raw(global_id: str) -> str:
    return str(from_global(global_id)[1])


async def test_create_and_update_are_audited_with_their_fields(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rid = request_id("create")
    body = await post(
        http, CREATE, {"i": {"firstName": "Wong", "email": "wong@example.com"}}, token=ws.admin_token, rid=rid
    )
    cid = body["data"]["createContact"]["id"]
    [created] = await rows(runtime, ws.slug, request_id=rid, action="CREATE")
    assert (created.entity_type, created.entity_id) == ("contact", raw(cid))
    assert {"firstName", "email"} <= set(created.fields)
    [read] = await rows(runtime, ws.slug, request_id=rid, action="READ")  # the returned firstName
    assert list(read.fields) == ["firstName"]
    assert created.batch_seq == read.batch_seq  # one flush, one transaction

    rid = request_id("update")
    await post(http, UPDATE, {"id": cid, "i": {"email": "wong2@example.com"}}, token=ws.admin_token, rid=rid)
    [updated] = await rows(runtime, ws.slug, request_id=rid, action="UPDATE")
    assert list(updated.fields) == ["email"] and updated.entity_id == raw(cid)
    assert await rows(runtime, ws.slug, request_id=rid, action="READ") == []  # only `id` was selected


async def test_a_failed_mutation_leaves_no_create_row(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rid = request_id("bad")
    body = await post(http, CREATE, {"i": {"firstName": "Lee", "email": "not an email"}}, token=ws.admin_token, rid=rid)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert await rows(runtime, ws.slug, request_id=rid, action="CREATE") == []


async def test_a_mutation_that_fails_after_its_write_leaves_no_create_row(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A role that may create contacts but not read them: the write succeeds, reading it back fails, the
    mutation's savepoint rolls back, and so must its CREATE event."""
    ws = await workspaces.create()
    for resource in ("contact", "pii:name"):
        await ws.gql.ok(
            "mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role}}",
            {"r": {"role": "scribe", "resource": resource, "action": "write", "effect": "ALLOW"}},
            ws.admin_token,
        )
    scribe = await ws.user("scribe", ["scribe"])
    rid = request_id("scribe")
    body = await post(http, CREATE, {"i": {"firstName": "Ho"}}, token=scribe["token"], rid=rid)
    assert codes(body) == ["NOT_FOUND"] and body["data"] is None
    data = await ws.gql.ok("query{contacts(first:10){totalCount}}", token=ws.admin_token)
    assert data["contacts"]["totalCount"] == 0  # the contact was rolled back
    assert await rows(runtime, ws.slug, request_id=rid, action="CREATE") == []


async def test_a_refused_mutation_is_a_denied_row(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"], team="east")
    rid = request_id("refused")
    body = await post(http, "mutation{setAuditRetention(months:24)}", token=rep["token"], rid=rid)
    assert codes(body) == ["FORBIDDEN"] and body["data"] is None
    [denied] = await rows(runtime, ws.slug, request_id=rid)
    assert denied.action == "DENIED" and denied.details["operation"] == "setAuditRetention"
    assert str(denied.actor_id) == raw(rep["id"])


def test_the_buffer_rolls_back_to_a_savepoint_but_keeps_denials() -> None:
    buffer = AuditBuffer(AuditActor(None, "system"))
    buffer.read("contact", "a", ["email"], ["contact"])
    mark = buffer.savepoint()
    buffer.read("contact", "a", ["hkid"], ["government_id"])  # merged into the earlier event
    buffer.read("contact", "b", ["email"], ["contact"])
    buffer.event("CREATE", entity_type="contact", entity_id="b", fields=["email"])
    buffer.denied("contact", "b", ["taxId"])
    buffer.rollback_to(mark)
    assert [(r[4], r[6], r[7]) for r in buffer.rows()] == [("READ", "a", ["email"]), ("DENIED", "b", ["taxId"])]
    buffer.read("contact", "b", ["phone"], ["contact"])  # a new event again, not the forgotten one
    assert [(r[4], r[6], r[7]) for r in buffer.rows()][-1] == ("READ", "b", ["phone"])
