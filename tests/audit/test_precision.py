"""Audit precision over HTTP: refused root fields are recorded while the others answer, rolled-back mutations
leave no events, fields that never left are not READ, and cursors carry no clear names."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import pytest

from resolvers.identity import accounts
from resolvers.runtime import Runtime
from schema.ids import to_global
from tests.audit.helpers import codes, execute, post, request_id, rows
from tests.factories.workspaces import WorkspaceFactory


async def test_a_forbidden_root_field_beside_another_is_recorded_not_internal(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"])
    await ws.contact(rep["token"], firstName="Chan", lastName="Tai Man", ownerId=rep["id"])
    rid = request_id("probe")
    body = await post(
        http,
        "{ auditEvents(first: 1) { totalCount } contacts(first: 5) { edges { node { firstName } } } }",
        token=rep["token"],
        rid=rid,
    )
    # `auditEvents` is non-null, so its refusal nulls `data` (GraphQL spec): FORBIDDEN, not INTERNAL.
    assert codes(body) == ["FORBIDDEN"], body
    assert body["data"] is None
    denied = await rows(runtime, ws.slug, action="DENIED", request_id=rid)
    assert [d.details["operation"] for d in denied] == ["auditEvents"]
    # The contacts resolver may have read names, but none of them left: no READ event.
    assert await rows(runtime, ws.slug, action="READ", request_id=rid) == []


async def test_a_mutation_rolled_back_by_a_later_failure_leaves_no_create_event(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    normalize = accounts.normalize_name

    def failing(name: str) -> str:  # fault injection: an unexpected bug in the second mutation
        if name == "Boom":
            raise RuntimeError("simulated bug")
        return normalize(name)

    monkeypatch.setattr(accounts, "normalize_name", failing)
    rid = request_id("rollback")
    body = await post(
        http,
        'mutation { a: createTeam(name: "Kept?") { id } b: createTeam(name: "Boom") { id } }',
        token=ws.admin_token,
        rid=rid,
    )
    assert codes(body) == ["INTERNAL"]
    assert (await execute(runtime, ws.slug, "select count(*) from teams")).scalar_one() == 0
    assert await rows(runtime, ws.slug, request_id=rid, action="CREATE") == []


async def test_a_node_nulled_by_a_denied_non_null_field_has_no_read_event(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Wong", lastName="Ka Ho", email="wong@example.com")
    support = await ws.user("support", ["support"])  # `stage` (non-null) is denied to support
    rid = request_id("nulled")
    body = await post(
        http,
        "query($id: ID!) { contact(id: $id) { firstName email stage }"
        " contacts(first: 5) { edges { node { lastName email stage } } } }",
        {"id": contact},
        token=support["token"],
        rid=rid,
    )
    assert body["data"]["contact"] is None
    assert body["data"]["contacts"]["edges"] == [{"node": None}]
    assert set(codes(body)) == {"FORBIDDEN"}
    assert await rows(runtime, ws.slug, action="READ", request_id=rid) == []
    assert len(await rows(runtime, ws.slug, action="DENIED", request_id=rid)) >= 1
    # Without `stage` the same fields do leave, and are read events.
    rid = request_id("shown")
    await post(
        http,
        "query($id: ID!) { contact(id: $id) { firstName email } }",
        {"id": contact},
        token=support["token"],
        rid=rid,
    )
    (read,) = await rows(runtime, ws.slug, action="READ", request_id=rid)
    assert set(read.fields) == {"firstName", "email"}


async def test_cursors_ordered_by_name_are_sealed(http: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    for first in ("Ming", "Siu", "Tai"):
        await ws.contact(firstName=first, lastName="Chan", company="Secret Holdings")
    query = """query($after: String, $field: ContactOrderField!) {
      contacts(first: 2, after: $after, orderBy: {field: $field, direction: ASC}) {
        edges { cursor node { firstName } } pageInfo { hasNextPage endCursor } } }"""
    for field in ("FIRST_NAME", "LAST_NAME", "COMPANY"):
        page = (await post(http, query, {"field": field}, token=ws.admin_token))["data"]["contacts"]
        for edge in page["edges"]:
            raw = base64.urlsafe_b64decode(edge["cursor"] + "=" * (-len(edge["cursor"]) % 4))
            for secret in (b"Ming", b"Siu", b"Chan", b"Secret"):
                assert secret not in raw
        rest = await post(http, query, {"field": field, "after": page["pageInfo"]["endCursor"]}, token=ws.admin_token)
        assert len(page["edges"]) + len(rest["data"]["contacts"]["edges"]) == 3
    # A forged cursor (the old, readable format) is refused.
    forged = base64.urlsafe_b64encode(json.dumps(["FIRST_NAME.ASC.str", "A", str(uuid.uuid4())]).encode()).decode()
    body = await post(http, query, {"field": "FIRST_NAME", "after": forged}, token=ws.admin_token)
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_a_forbidden_nullable_root_field_beside_another_leaves_the_other_answered_and_is_recorded(
    http: httpx.AsyncClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    rep = await ws.user("rep", ["sales"])  # sales may not import contacts: `importJob` is refused
    await ws.contact(rep["token"], firstName="Chan", lastName="Tai Man", ownerId=rep["id"])
    job_id = to_global("ImportJob", uuid.uuid4())
    rid = request_id("probe2")
    body = await post(
        http,
        "query($j: ID!) { importJob(id: $j) { id } contacts(first: 5) { edges { node { firstName } } } }",
        {"j": job_id},
        token=rep["token"],
        rid=rid,
    )
    assert codes(body) == ["FORBIDDEN"], body
    assert body["errors"][0]["path"] == ["importJob"]
    assert body["data"]["importJob"] is None
    assert [e["node"]["firstName"] for e in body["data"]["contacts"]["edges"]] == ["Chan"]
    denied = await rows(runtime, ws.slug, action="DENIED", request_id=rid)
    assert [d.details["operation"] for d in denied] == ["importJob"]
    reads = await rows(runtime, ws.slug, action="READ", request_id=rid)
    assert [r.fields for r in reads] == [["firstName"]]
