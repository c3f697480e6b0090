"""Deactivating a leaver stops their live token, refresh token and API key in another API process within 2 s.

The second process is `python main.py serve` on the same settings (the fixture of tests/authz/test_reload.py);
the deactivation goes through the in-process app, and the second process is polled until it refuses.
"""

from __future__ import annotations

import httpx
import pytest

from tests.authz.test_reload import PROPAGATION_LIMIT, _until, second_process  # noqa: F401 - a fixture
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.identity.helpers import REFRESH, session

pytestmark = pytest.mark.slow
CONTACTS = "{ contacts(first: 1) { totalCount } }"


async def _post(client: httpx.AsyncClient, query: str, variables: dict[str, str], token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _refused(body: dict) -> bool:
    errors = body.get("errors") or []
    return bool(errors) and errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_deactivation_reaches_another_process_within_two_seconds(
    gql: GraphQLClient, workspaces: WorkspaceFactory, second_process: httpx.AsyncClient  # noqa: F811
) -> None:
    ws = await workspaces.create()
    leaver = await ws.user("leaver", ["admin"])
    mobile = await session(gql, ws.slug, leaver["email"])
    created = await gql.ok("mutation{ createApiKey(name:\"Sync\", role:\"sales\"){ key } }", token=leaver["token"])
    key = created["createApiKey"]["key"]
    # The other process serves all three before.
    assert not _refused(await _post(second_process, CONTACTS, {}, leaver["token"]))
    assert not _refused(await _post(second_process, CONTACTS, {}, key))
    await gql.ok("mutation($id:ID!){ deactivateUser(id:$id){ active } }", {"id": leaver["id"]}, ws.admin_token)

    async def token_refused() -> bool:
        return _refused(await _post(second_process, CONTACTS, {}, leaver["token"]))

    async def key_refused() -> bool:
        return _refused(await _post(second_process, CONTACTS, {}, key))

    for check in (token_refused, key_refused):
        elapsed = await _until(check)
        assert elapsed < PROPAGATION_LIMIT, f"{check.__name__} took {elapsed:.2f} s"
    # The refresh token is refused by the other process too (and so cannot mint a new token there).
    assert _refused(await _post(second_process, REFRESH, {"r": mobile["refreshToken"]}))
