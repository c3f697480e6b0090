"""Errors and the HTTP surface: contract error codes, masked internal errors, GET never executes, limits, health."""

from __future__ import annotations

import re
import secrets
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy.exc

from schema.ids import to_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

CODES = {"UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "BAD_USER_INPUT", "CONFLICT", "RATE_LIMITED", "INTERNAL"}
SPEC_KEYS = {"message", "locations", "path", "extensions"}
COUNT = "{ contacts(first: 0) { totalCount } }"
LEAKS = re.compile(r"Traceback|File \"|\.py\b|SELECT|INSERT|UPDATE |asyncpg|sqlalchemy|RuntimeError|psycopg", re.I)


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


def assert_contract_errors(body: dict[str, Any]) -> None:
    assert body.get("errors"), body
    for error in body["errors"]:
        assert set(error) <= SPEC_KEYS, error
        assert error["extensions"]["code"] in CODES, error
        assert not LEAKS.search(error["message"]), error
        if error["extensions"]["code"] == "INTERNAL":
            assert error["extensions"].get("requestId"), error


async def count(gql: GraphQLClient, ws: Workspace) -> int:
    return int((await gql.ok(COUNT, token=ws.admin_token))["contacts"]["totalCount"])


# ---------------------------------------------------------------- the contract's codes


async def test_every_kind_of_failure_carries_a_contract_code(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("seller", ["sales"])
    team = f"Team {secrets.token_hex(3)}"
    await gql.ok("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": team}, ws.admin_token)
    cases: list[tuple[str, dict[str, Any] | None, str | None, str]] = [
        ("{ me { id } }", None, None, "UNAUTHENTICATED"),
        ("{ me { id } }", None, "garbage", "UNAUTHENTICATED"),
        ('mutation{ createTeam(name: "Sales only") { id } }', None, sales["token"], "FORBIDDEN"),
        (
            "query($id:ID!){ contact(id:$id){ id } }",
            {"id": to_global("Contact", uuid.uuid4())},
            ws.admin_token,
            "NOT_FOUND",
        ),
        ("query($id:ID!){ contact(id:$id){ id } }", {"id": "nope"}, ws.admin_token, "BAD_USER_INPUT"),
        ('mutation{ createContact(input:{email: "x"}) { id } }', None, ws.admin_token, "BAD_USER_INPUT"),
        ("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": team}, ws.admin_token, "CONFLICT"),
        ("{ contacts(first: 500) { totalCount } }", None, ws.admin_token, "BAD_USER_INPUT"),
        ("{ contacts(first: 1) { ", None, ws.admin_token, "BAD_USER_INPUT"),  # syntax
        ("{ nonsense }", None, ws.admin_token, "BAD_USER_INPUT"),  # validation
        ("query($n:Int!){ contacts(first:$n){ totalCount } }", None, ws.admin_token, "BAD_USER_INPUT"),  # variables
        ("{ contacts { edges { node { salary(x: 1) } } } }", None, ws.admin_token, "BAD_USER_INPUT"),
    ]
    for query, variables, token, code in cases:
        body = await gql.raw(query, variables, token)
        assert_contract_errors(body)
        assert only_error(body)["extensions"]["code"] == code, (query, body)


async def test_field_errors_name_the_input_field(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.raw(
        "mutation($i:ContactInput!){ createContact(input:$i){ id } }", {"i": {"phone": "1"}}, ws.admin_token
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "phone"}


# ---------------------------------------------------------------- internal errors


async def test_an_internal_error_is_masked_and_carries_the_request_id(
    gql: GraphQLClient, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers.identity import accounts as identity

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            'SELECT password_hash FROM users WHERE id = $1\nTraceback (most recent call last):\n  File "x.py"'
        )

    monkeypatch.setattr(identity, "get_user", broken)
    request_id = f"req-{secrets.token_hex(8)}"
    response = await gql.http.post(
        "/graphql",
        json={"query": "{ me { id email } }"},
        headers={"Authorization": f"Bearer {ws.admin_token}", "X-Request-ID": request_id},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    error = only_error(body)
    assert error["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    assert error["path"] == ["me"]
    assert not LEAKS.search(error["message"])
    assert "password_hash" not in response.text and "x.py" not in response.text


async def test_a_database_error_never_reaches_the_client(
    gql: GraphQLClient, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers.contacts import contacts
    from resolvers.reads import contacts as compiled_reads

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlalchemy.exc.ProgrammingError(
            "SELECT contacts.hkid_enc FROM contacts WHERE contacts.id = $1", {"id": 1}, Exception("relation missing")
        )

    monkeypatch.setattr(contacts, "list_contacts", broken)
    monkeypatch.setattr(compiled_reads, "list_contacts", broken)  # the compiled path's read (it falls back, too)
    response = await gql.http.post(
        "/graphql", json={"query": COUNT}, headers={"Authorization": f"Bearer {ws.admin_token}"}
    )
    body = response.json()
    assert_contract_errors(body)
    error = only_error(body)
    assert error["extensions"]["code"] == "INTERNAL"
    # Without a request id of its own, the server makes one up (and a new one per request).
    assert re.fullmatch(r"[0-9a-f]{32}", error["extensions"]["requestId"])
    again = (await gql.raw(COUNT, token=ws.admin_token))["errors"][0]["extensions"]["requestId"]
    assert again != error["extensions"]["requestId"]
    for secret in ("hkid_enc", "relation missing", "ProgrammingError", "contacts.id"):
        assert secret not in response.text


async def test_an_internal_error_in_a_mutation_writes_nothing(
    gql: GraphQLClient, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolvers.contacts import contacts

    before = await count(gql, ws)

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("history table is on fire")

    # The contact row is inserted before its history: the failure comes after a write.
    monkeypatch.setattr(contacts, "_record_history", broken)
    body = await gql.raw('mutation{ createContact(input:{firstName: "Half"}) { id } }', token=ws.admin_token)
    assert only_error(body)["extensions"]["code"] == "INTERNAL"
    assert "fire" not in str(body)
    monkeypatch.undo()
    assert await count(gql, ws) == before


# ---------------------------------------------------------------- GET /graphql


async def test_get_shows_graphiql_in_development(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("accept", ["application/json", "text/html", "*/*"])
async def test_get_never_runs_a_mutation(
    http: httpx.AsyncClient, gql: GraphQLClient, ws: Workspace, accept: str
) -> None:
    before = await count(gql, ws)
    mutation = 'mutation { createContact(input: {firstName: "Via GET"}) { id } }'
    response = await http.get(
        "/graphql",
        params={"query": mutation},
        headers={"Authorization": f"Bearer {ws.admin_token}", "Accept": accept},
    )
    shows_graphiql = response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert shows_graphiql or 400 <= response.status_code < 500, response.text
    assert '"createContact"' not in response.text
    assert await count(gql, ws) == before


async def test_get_does_not_run_queries_either(http: httpx.AsyncClient, ws: Workspace) -> None:
    response = await http.get(
        "/graphql",
        params={"query": "{ me { email } }"},
        headers={"Authorization": f"Bearer {ws.admin_token}", "Accept": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert ws.admin_email not in response.text


async def test_a_body_that_is_not_json_is_a_client_error(http: httpx.AsyncClient, ws: Workspace) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ me { id } }"',
        headers={"Authorization": f"Bearer {ws.admin_token}", "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert not LEAKS.search(response.text)


# ---------------------------------------------------------------- query limits


def _nested(hops: int) -> str:
    """contacts -> edges -> node -> activities -> edges -> node -> (contact -> activities -> edges -> node) x hops."""
    inner = "id"
    for _ in range(hops):
        inner = f"contact {{ activities {{ edges {{ node {{ {inner} }} }} }} }}"
    return "{ contacts { edges { node { activities { edges { node { " + inner + " } } } } } } }"


async def test_too_deep_a_query_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    shallow = await gql.raw(
        "{ contacts { edges { node { activities { edges { node { contact { id } } } } } } } }", token=ws.admin_token
    )
    assert not shallow.get("errors"), shallow
    body = await gql.raw(_nested(3), token=ws.admin_token)
    assert_contract_errors(body)
    assert body.get("data") is None
    assert "depth" in body["errors"][0]["message"].lower()


async def test_too_many_aliases_are_refused(gql: GraphQLClient, ws: Workspace) -> None:
    allowed = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
    assert len(await gql.ok(allowed, token=ws.admin_token)) == 30
    refused = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    body = await gql.raw(refused, token=ws.admin_token)
    assert_contract_errors(body)
    assert body.get("data") is None
    assert "alias" in body["errors"][0]["message"].lower()


async def test_aliases_cannot_multiply_expensive_fields(gql: GraphQLClient, ws: Workspace) -> None:
    query = "{ " + " ".join(f"c{i}: contacts(first: 200) {{ totalCount }}" for i in range(31)) + " }"
    body = await gql.raw(query, token=ws.admin_token)
    assert_contract_errors(body)
    assert body.get("data") is None


async def test_too_long_a_query_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.raw("{ " + "__typename " * 4100 + "}", token=ws.admin_token)
    assert_contract_errors(body)
    assert body.get("data") is None


# ---------------------------------------------------------------- health


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
async def test_health_endpoints_answer(http: httpx.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.json()["status"] in ("ok", "ready")
