"""Trusted documents over HTTP: register, send `{"documentId": ...}`, pin an API key and see it refuse any
other document (FORBIDDEN, audited), and register a client's documents from a file with the CLI."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from resolvers import documents
from resolvers.runtime import Runtime
from schema.root import build_schema
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

ME = "query Me { me { email } }"
COUNT = "query Count { contacts(first: 0) { totalCount } }"
REGISTER = "mutation($d: String!, $n: String){ registerTrustedDocument(document: $d, name: $n) { id name document } }"
PIN = "mutation($k: ID!, $d: [String!]!){ setApiKeyDocuments(apiKeyId: $k, documentIds: $d) }"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def post(http: httpx.AsyncClient, token: str, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}", **headers})
    return response.json()  # type: ignore[no-any-return]


async def api_key(gql: GraphQLClient, ws: Workspace, role: str = "sales") -> tuple[str, str]:
    data = await gql.ok(
        "mutation($n: String!, $r: String!){ createApiKey(name: $n, role: $r) { key apiKey { id } } }",
        {"n": f"key-{secrets.token_hex(3)}", "r": role}, ws.admin_token,
    )
    return data["createApiKey"]["key"], data["createApiKey"]["apiKey"]["id"]


async def test_a_registered_document_runs_by_its_id(http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace) -> None:
    data = await gql.ok(REGISTER, {"d": ME, "n": "web"}, ws.admin_token)
    assert data["registerTrustedDocument"] == {"id": sha(ME), "name": "web", "document": ME}
    again = await gql.ok(REGISTER, {"d": ME}, ws.admin_token)  # the same text is the same document
    assert again["registerTrustedDocument"]["id"] == sha(ME)
    body = await post(http, ws.admin_token, {"documentId": sha(ME)})
    assert body == {"data": {"me": {"email": ws.admin_email}}}
    listed = await gql.ok("{ trustedDocuments { id } }", token=ws.admin_token)
    assert sha(ME) in [d["id"] for d in listed["trustedDocuments"]]


async def test_an_unknown_or_malformed_document_id_is_bad_user_input(http: httpx.AsyncClient, ws: Workspace) -> None:
    unknown = await post(http, ws.admin_token, {"documentId": sha("query { nothing }")})
    assert unknown["data"] is None
    assert unknown["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT", "field": "documentId", "reason": "PERSISTED_DOCUMENT_NOT_FOUND"
    }
    bad = await post(http, ws.admin_token, {"documentId": "md5:abc"})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert bad["errors"][0]["extensions"]["field"] == "documentId"
    both = await http.post("/graphql", json={"query": ME, "documentId": sha(ME)},
                           headers={"Authorization": f"Bearer {ws.admin_token}"})
    assert both.status_code == 400


async def test_registering_needs_api_key_write_and_a_valid_document(gql: GraphQLClient, ws: Workspace) -> None:
    seller = await ws.user(f"seller-{secrets.token_hex(2)}", ["sales"])
    refused = await gql.raw(REGISTER, {"d": ME}, seller["token"])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    invalid = await gql.raw(REGISTER, {"d": "query { noSuchField }"}, ws.admin_token)
    assert invalid["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "document"}
    unparsable = await gql.raw(REGISTER, {"d": "query {"}, ws.admin_token)
    assert unparsable["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "document"}


async def test_a_pinned_api_key_runs_only_its_documents(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace
) -> None:
    await gql.ok(REGISTER, {"d": COUNT}, ws.admin_token)
    await gql.ok(REGISTER, {"d": ME}, ws.admin_token)  # refused below as not trusted, not as unknown: registered here
    key, key_id = await api_key(gql, ws)
    # not pinned yet: any document
    assert "errors" not in await post(http, key, {"query": "{ contacts(first: 1) { totalCount } }"})
    unknown = await gql.raw(PIN, {"k": key_id, "d": [sha("query { x }")]}, ws.admin_token)
    assert unknown["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "documentIds"}
    pinned = await gql.ok(PIN, {"k": key_id, "d": [sha(COUNT)]}, ws.admin_token)
    assert pinned["setApiKeyDocuments"] == [sha(COUNT)]

    by_id = await post(http, key, {"documentId": sha(COUNT)})
    assert by_id["data"]["contacts"]["totalCount"] >= 0 and "errors" not in by_id
    by_text = await post(http, key, {"query": COUNT})  # the pinned text itself is the same document
    assert "errors" not in by_text
    for body in ({"query": "{ contacts(first: 1) { totalCount } }"}, {"documentId": sha(ME)}):
        refused = await post(http, key, body)
        assert refused["data"] is None
        assert refused["errors"][0]["extensions"] == {"code": "FORBIDDEN", "reason": "DOCUMENT_NOT_TRUSTED"}
    denied = await gql.ok(
        "{ auditEvents(filter: {action: DENIED}, first: 50) { edges { node { actorKind details } } } }",
        token=ws.admin_token,
    )
    refusals = [e["node"] for e in denied["auditEvents"]["edges"]
                if (e["node"]["details"] or {}).get("operation") == "document"]
    assert len(refusals) == 2 and {r["actorKind"] for r in refusals} == {"api_key"}
    assert {r["details"]["documentId"] for r in refusals} == {sha(ME), sha("{ contacts(first: 1) { totalCount } }")}

    # people are not pinned; an empty list lifts the pin
    assert "errors" not in await post(http, ws.admin_token, {"query": ME})
    await gql.ok(PIN, {"k": key_id, "d": []}, ws.admin_token)
    assert "errors" not in await post(http, key, {"query": "{ contacts(first: 1) { totalCount } }"})


def test_document_ids_are_checked() -> None:
    assert documents.document_id("{ me { id } }") == sha("{ me { id } }")
    assert documents.hex_of(sha(ME).upper().replace("SHA256", "sha256")) == sha(ME)[7:]
    with pytest.raises(Exception, match="64 hex"):
        documents.hex_of("sha256:xyz")


def test_the_cli_reads_a_codegen_file_and_refuses_a_wrong_hash(tmp_path: Path) -> None:
    from cli.documents import read_documents

    good = tmp_path / "persisted-documents.json"
    good.write_text(json.dumps({sha(ME)[7:]: ME, sha(COUNT): COUNT}))
    assert read_documents(good) == [ME, COUNT]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([ME]))
    assert read_documents(listed) == [ME]
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({sha(COUNT): ME}))
    with pytest.raises(Exception, match="not the SHA-256"):
        read_documents(wrong)


async def test_documents_registered_at_deploy_time_run_by_id(
    http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    """What `documents register` does for each document of the file: one unit of work, no caller."""
    text = "query Deploy { me { email } }"
    async with runtime.units.workspace_of(ws.slug) as unit:
        assert unit is not None
        row = await documents.register(unit.session, None, build_schema()._schema, text, "mobile-3.2")
    assert documents.PREFIX + row.sha256 == sha(text)
    assert await post(http, ws.admin_token, {"documentId": sha(text)}) == {"data": {"me": {"email": ws.admin_email}}}
