"""Hostile input over HTTP: an over-long body (refused while it streams), an over-long document, long strings,
NUL characters in any string argument or variable, and an over-long contact search. Each is a typed error
that changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from schema.strings import MAX_STRING_CHARS
from tests.api.test_errors import LEAKS, only_error
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

MiB = 1024 * 1024
CHANGES = '{ auditEvents(first: 0, filter: {action: CREATE}) { totalCount } }'



@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def bad_input(body: dict[str, Any], field: str | None = None) -> dict[str, Any]:
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert not LEAKS.search(error["message"]), error
    if field is not None:
        assert error["extensions"].get("field") == field, error
    return error


async def creations(gql: GraphQLClient, ws: Workspace) -> int:
    """CREATE events in the audit log: every team, key, contact... created is one."""
    return int((await gql.ok(CHANGES, token=ws.admin_token))["auditEvents"]["totalCount"])


# ---------------------------------------------------------------- the body


async def test_a_body_over_the_cap_is_413_in_json(http: httpx.AsyncClient) -> None:
    body = b'{"query": "{ __typename }", "pad": "' + b"x" * (MiB + 10) + b'"}'
    response = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}


async def test_a_streamed_body_is_refused_before_it_is_all_read(http: httpx.AsyncClient) -> None:
    """30 MB sent in chunks without a Content-Length: the server stops reading just past 1 MiB."""
    chunk, total, sent = b"#" * 65536, 480, [0]

    async def comment_only() -> AsyncIterator[bytes]:
        yield b'{"query": "'
        for _ in range(total):
            sent[0] += 1
            yield chunk

    response = await http.post("/graphql", content=comment_only(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert sent[0] <= MiB // len(chunk) + 2, f"read {sent[0]} of {total} chunks"


async def test_a_body_under_the_cap_still_works(gql: GraphQLClient, ws: Workspace) -> None:
    padding = "#" + "x" * 10_000 + "\n"
    assert (await gql.ok(padding + "{ __typename }", token=ws.admin_token)) == {"__typename": "Query"}


# ---------------------------------------------------------------- the document


async def test_a_long_document_is_refused_before_parsing(http: httpx.AsyncClient, ws: Workspace) -> None:
    query = "{ __typename }\n" + "# comment\n" * 4_200  # 42 KB, a handful of tokens
    headers = {"Authorization": f"Bearer {ws.admin_token}"}
    plain = await http.post("/graphql", json={"query": query}, headers=headers)
    assert plain.status_code == 200
    assert "longer than" in bad_input(plain.json())["message"]
    strict = await http.post(
        "/graphql", json={"query": query}, headers={**headers, "Accept": "application/graphql-response+json"}
    )
    assert strict.status_code == 400
    bad_input(strict.json())


# ---------------------------------------------------------------- strings


async def test_an_over_long_string_variable_is_refused_and_nothing_is_created(
    gql: GraphQLClient, ws: Workspace
) -> None:
    before = await creations(gql, ws)
    body = await gql.raw(
        "mutation($n:String!){ createTeam(name:$n){ id } }", {"n": "x" * (MAX_STRING_CHARS + 1)}, ws.admin_token
    )
    assert body["data"] is None
    bad_input(body, "name")
    assert await creations(gql, ws) == before


NUL_CASES = [
    # (operation, variables, the argument or input field named)
    ('mutation{ createTeam(name: "Sales\\u0000") { id } }', None, "name"),
    ("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": "Sales\x00"}, "name"),
    ('mutation{ createApiKey(name: "k\\u0000", role: "sales") { key } }', None, "name"),
    ("mutation($r:String!){ createApiKey(name: \"k\", role:$r) { key } }", {"r": "sales\x00"}, "role"),
    ('{ contacts(filter: {search: "Chan\\u0000"}) { totalCount } }', None, "search"),
    ('{ contacts(filter: {email: "a\\u0000@example.com"}) { totalCount } }', None, "email"),
    ('{ auditEvents(filter: {field: "hkid\\u0000"}) { totalCount } }', None, "field"),
    ("mutation($i:ContactInput!){ createContact(input:$i){ id } }", {"i": {"firstName": "Chan\x00"}}, "firstName"),
    ('mutation{ createContact(input: {firstName: "Chan", company: "A\\u0000B"}) { id } }', None, "company"),
    (
        "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w, email:$e, password:$p) { token } }",
        {"w": "demo", "e": "a@example.com", "p": "pass\x00word"},
        "password",
    ),
    (
        "mutation($i:ContactInput!){ createContact(input:$i){ id } }",
        {"i": {"firstName": "Chan", "customFields": {"note": ["ok", "bad\x00"]}}},
        "note",
    ),
]


NUL_IDS = [f"{c[2]}{i}" for i, c in enumerate(NUL_CASES)]


@pytest.mark.parametrize(("query", "variables", "field"), NUL_CASES, ids=NUL_IDS)
async def test_a_nul_in_any_string_is_bad_input_naming_the_argument(
    gql: GraphQLClient, ws: Workspace, query: str, variables: dict[str, Any] | None, field: str
) -> None:
    before = await creations(gql, ws)
    body = await gql.raw(query, variables, ws.admin_token)
    assert body.get("data") is None, body
    bad_input(body, field)
    assert await creations(gql, ws) == before


async def test_a_contact_search_is_at_most_200_characters(gql: GraphQLClient, ws: Workspace) -> None:
    query = "query($s:String!){ contacts(filter: {search: $s}) { totalCount } }"
    assert (await gql.ok(query, {"s": "x" * 200}, ws.admin_token))["contacts"]["totalCount"] == 0
    bad_input(await gql.raw(query, {"s": "x" * 201}, ws.admin_token), "filter.search")
