"""The GraphQL-over-HTTP surface: headers on every response, media types, transport errors in JSON,
one generic validation error for anonymous callers in production, and GraphiQL served without a CDN."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

import main
from resolvers.runtime import Runtime
from schema import graphiql
from settings import Settings
from tests.api.helpers import app_client
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory

GRAPHQL_RESPONSE = "application/graphql-response+json"
CREATE_TEAM = "mutation($n:String!){ createTeam(name:$n){ id } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


@pytest.fixture(scope="module")
async def production(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as CRM_ENV=production builds it, over the same servers and runtime."""
    async with app_client(settings, endpoints, runtime, crm_env="production") as client:
        yield client


def assert_envelope(response: httpx.Response) -> str:
    assert response.headers["cache-control"] == "no-store", response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", request_id)
    return request_id


def transport_error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"errors"}
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    return str(error["message"])


# ---------------------------------------------------------------- headers


async def test_every_graphql_response_carries_the_security_headers(http: httpx.AsyncClient, ws: Workspace) -> None:
    auth = {"Authorization": f"Bearer {ws.admin_token}"}
    responses = [
        await http.post("/graphql", json={"query": "{ me { id } }"}, headers=auth),
        await http.post("/graphql", json={"query": "{ me { id } }"}),  # UNAUTHENTICATED
        await http.post("/graphql", json={"query": "{ nonsense }"}, headers=auth),
        await http.post("/graphql", content=b"{not json", headers={"Content-Type": "application/json"}),
        await http.post("/graphql", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}),
    ]
    ids = [assert_envelope(r) for r in responses]
    assert len(set(ids)) == len(ids)


async def test_the_request_id_is_the_one_the_audit_log_records(gql: GraphQLClient, ws: Workspace) -> None:
    name = f"Team {secrets.token_hex(4)}"
    response = await gql.http.post(
        "/graphql", json={"query": CREATE_TEAM, "variables": {"n": name}},
        headers={"Authorization": f"Bearer {ws.admin_token}"},
    )
    request_id = assert_envelope(response)
    team_id = response.json()["data"]["createTeam"]["id"]
    events = await gql.ok(
        "query($e:ID!){ auditEvents(filter: {entityId: $e, action: CREATE}) { edges { node { requestId } } } }",
        {"e": team_id}, ws.admin_token,
    )
    assert [e["node"]["requestId"] for e in events["auditEvents"]["edges"]] == [request_id]


async def test_a_client_request_id_is_kept_only_when_it_is_plain(http: httpx.AsyncClient) -> None:
    kept = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "trace-42.a"})
    assert kept.headers["x-request-id"] == "trace-42.a"
    replaced = await http.post("/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "a b<script>"})
    assert replaced.headers["x-request-id"] != "a b<script>"
    assert_envelope(replaced)


# ---------------------------------------------------------------- media types


async def test_graphql_response_json_is_honoured(http: httpx.AsyncClient, ws: Workspace) -> None:
    headers = {"Authorization": f"Bearer {ws.admin_token}", "Accept": GRAPHQL_RESPONSE}
    ok = await http.post("/graphql", json={"query": "{ me { email } }"}, headers=headers)
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert ok.json()["data"]["me"]["email"] == ws.admin_email
    for query in ("{ me { id ", "{ nonsense }", "query($n:Int!){ contacts(first:$n){ totalCount } }"):
        refused = await http.post("/graphql", json={"query": query}, headers=headers)
        assert refused.status_code == 400, (query, refused.text)
        assert refused.headers["content-type"].startswith(GRAPHQL_RESPONSE)
        assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # an execution error is not a request error: 200 with the error beside the data
    denied = await http.post("/graphql", json={"query": "{ me { id } }"}, headers={"Accept": GRAPHQL_RESPONSE})
    assert denied.status_code == 200
    assert denied.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_application_json_keeps_200_for_validation_errors(http: httpx.AsyncClient, ws: Workspace) -> None:
    headers = {"Authorization": f"Bearer {ws.admin_token}", "Accept": "application/json"}
    response = await http.post("/graphql", json={"query": "{ nonsense }"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")


# ---------------------------------------------------------------- transport errors


@pytest.mark.parametrize(
    "body",
    [b'{"query": "{ me { id } }"', b"[]", b'[{"query": "{ __typename }"}, {"query": "{ __typename }"}]',
     b"{}", b'{"query": null}', b'{"query": 42}', b'{"query": "   "}', b'"just a string"',
     b'{"query": "{ __typename }", "variables": [1]}', b"\xff\xfe"],
    ids=["malformed", "empty-batch", "batch", "no-query", "null-query", "number-query", "blank-query", "string",
         "list-variables", "not-utf8"],
)
async def test_bad_requests_get_400_json_with_a_code(http: httpx.AsyncClient, body: bytes) -> None:
    response = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    transport_error(response)
    assert_envelope(response)


async def test_a_body_that_is_not_json_gets_400_json(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", content=b"query=x", headers={"Content-Type": "text/plain"})
    transport_error(response)


async def test_an_unknown_fragment_gets_a_code(gql: GraphQLClient, ws: Workspace) -> None:
    for token in (ws.admin_token, None):
        body = await gql.raw("query { ...Unknown }", token=token)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["message"] != "'Unknown'"


# ---------------------------------------------------------------- production


PROBES = [
    "query { ...Unknown }",
    "{ contacts { edges { node { hkid salry taxId } } } }",
    "{ contact(id: 1) { hkidd } createContact }",
    "mutation { createUser }",
]


@pytest.mark.parametrize("query", PROBES)
async def test_an_anonymous_caller_in_production_gets_one_generic_error(
    production: httpx.AsyncClient, query: str
) -> None:
    response = await production.post("/graphql", json={"query": query})
    assert response.status_code == 200
    assert_envelope(response)
    body = response.json()
    assert body["errors"] == [{"message": "invalid request", "extensions": {"code": "BAD_USER_INPUT"}}], body
    assert "data" not in body or body["data"] is None


async def test_production_still_explains_errors_to_a_signed_in_caller(
    production: httpx.AsyncClient, ws: Workspace
) -> None:
    response = await production.post(
        "/graphql", json={"query": "{ nonsense other }"}, headers={"Authorization": f"Bearer {ws.admin_token}"}
    )
    errors = response.json()["errors"]
    assert len(errors) == 2
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" and e.get("locations") for e in errors)


async def test_production_serves_no_graphiql(production: httpx.AsyncClient) -> None:
    assert (await production.get("/graphql", headers={"Accept": "text/html"})).status_code == 404
    assert (await production.get("/graphql/assets/graphiql.min.js")).status_code == 404


# ---------------------------------------------------------------- GraphiQL


async def test_graphiql_is_served_from_the_installed_package(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "https://" not in page.text and "unpkg" not in page.text and "jsdelivr" not in page.text
    assert "Authorization" in page.text and "Bearer" in page.text
    assets = re.findall(r'(?:src|href)="(/graphql/assets/[^"]+)"', page.text)
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"graphiql.min.js", "react.production.min.js"}
    for asset in assets:
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000
    assert (await http.get("/graphql/assets/..%2Fsettings.py")).status_code == 404


def test_without_the_package_the_page_says_what_failed_and_how_to_use_curl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphiql, "ASSET_PACKAGE", "no_such_package_here")
    page = graphiql.page()
    assert "not available" in page and "curl" in page and "no_such_package_here" in page
    assert "<script" not in page
    assert json.dumps("{ me { id email } }")[1:-1] in page.replace("&quot;", '"')
