"""Every PII value that leaves is in one READ event per (request, record) naming exactly the fields returned;
denied fields are DENIED events; if the audit write fails, no PII leaves."""

from __future__ import annotations

import asyncio

import httpx

from db.audit import verify_chain
from db.sessions import session_factory
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.audit.helpers import (
    CONTACT_SELECTION,
    codes,
    execute,
    expected_reads,
    post,
    request_id,
    rows,
    sales_workspace,
)
from tests.factories.workspaces import WorkspaceFactory

N = 4
LIST = f"query{{contacts(first:50){{edges{{node{{{CONTACT_SELECTION}}}}}}}}}"


def raw_id(global_id: str) -> str:
    return str(from_global(global_id)[1])


async def test_a_restricted_read_is_one_read_event_per_contact_with_exactly_the_fields_returned(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rep, ids = await sales_workspace(ws, N)
    rid = request_id("read")
    body = await post(http, LIST, token=rep["token"], rid=rid)
    nodes = [e["node"] for e in body["data"]["contacts"]["edges"]]
    assert sorted(n["id"] for n in nodes) == sorted(ids)  # the hidden contact is not in the list
    assert all(n["taxId"] is None for n in nodes)  # denied ...
    assert codes(body) == ["FORBIDDEN"]  # ... and summarised
    assert all("*" in n["hkid"] and n["salary"] is None and n["salaryMasked"] for n in nodes)  # masked

    reads = await rows(runtime, ws.slug, request_id=rid, action="READ")
    assert len(reads) == N
    by_contact = {r.entity_id: r for r in reads}
    assert {r.entity_type for r in reads} == {"contact"}
    for node in nodes:
        event = by_contact[raw_id(node["id"])]
        assert set(event.fields) == expected_reads(node)
        # Masked values are reads too; the denied field is not; an unrequested mask is not.
        assert set(event.fields) == {"firstName", "lastName", "email", "phone", "hkid", "bio", "salary"}
        assert len(event.fields) == len(set(event.fields))
        assert "name" in event.categories and "government_id" in event.categories
        assert str(event.actor_id) == raw_id(rep["id"]) and event.actor_kind == "user"
        assert event.client_ip == "10.1.2.3"
        assert event.policy_version is not None and event.batch_seq is not None

    denied = await rows(runtime, ws.slug, request_id=rid, action="DENIED")
    assert sorted(d.entity_id for d in denied) == sorted(raw_id(i) for i in ids)
    assert all(list(d.fields) == ["taxId"] for d in denied)


async def test_a_single_contact_and_a_non_pii_read(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rep, ids = await sales_workspace(ws, 1)
    rid = request_id("one")
    data = (
        await post(
            http, "query($id:ID!){contact(id:$id){id email company}}", {"id": ids[0]}, token=rep["token"], rid=rid
        )
    )["data"]
    assert data["contact"]["email"] == "chan0@example.com"
    [read] = await rows(runtime, ws.slug, request_id=rid, action="READ")
    assert list(read.fields) == ["email"]
    rid2 = request_id("nopii")
    await post(http, "query{contacts(first:5){edges{node{id company stage}}}}", token=rep["token"], rid=rid2)
    assert await rows(runtime, ws.slug, request_id=rid2, action="READ") == []


async def test_the_count_holds_under_50_concurrent_clients(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rep, ids = await sales_workspace(ws, N)
    rids = [request_id(f"c{i}") for i in range(50)]
    bodies = await asyncio.gather(*(post(http, LIST, token=rep["token"], rid=rid) for rid in rids))
    for body in bodies:
        assert len(body["data"]["contacts"]["edges"]) == N
        assert codes(body) == ["FORBIDDEN"]
    reads = await rows(runtime, ws.slug, action="READ")
    per_request: dict[str, list[str]] = {}
    for r in reads:
        per_request.setdefault(r.request_id, []).append(r.entity_id)
    for rid in rids:
        assert sorted(per_request[rid]) == sorted(raw_id(i) for i in ids), rid
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with session_factory(tenant.engine)() as session:
        assert (await verify_chain(session)).ok


async def test_a_failing_audit_write_returns_no_pii(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    rep, _ = await sales_workspace(ws, N)
    await execute(
        runtime, ws.slug, "ALTER TABLE audit_log ADD CONSTRAINT no_reads CHECK (action <> 'READ') NOT VALID"
    )
    try:
        rid = request_id("fail")
        response = await http.post(
            "/graphql",
            json={"query": LIST},
            headers={"Authorization": f"Bearer {rep['token']}", "X-Request-Id": rid},
        )
        body = response.json()
        assert body["data"] is None
        assert codes(body) == ["INTERNAL"]
        assert body["errors"][0]["extensions"]["requestId"] == rid
        for leaked in ("Chan", "chan0@example.com", "+852", "A123", "likes tea", "taxId"):
            assert leaked not in response.text
        assert await rows(runtime, ws.slug, request_id=rid) == []  # nothing of the request was kept
    finally:
        await execute(runtime, ws.slug, "ALTER TABLE audit_log DROP CONSTRAINT no_reads")
    rid = request_id("after")
    body = await post(http, LIST, token=rep["token"], rid=rid)
    assert len(body["data"]["contacts"]["edges"]) == N
    assert len(await rows(runtime, ws.slug, request_id=rid, action="READ")) == N
