"""Generated queries over the live schema (hypothesis-graphql) sent over HTTP with an admin token: no answer
is INTERNAL, and no message carries a stack trace, SQL or a file path. Small locally, larger when CI is set."""

from __future__ import annotations

import os

import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from schema.root import sdl
from tests.api.test_errors import LEAKS
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

EXAMPLES = 300 if os.environ.get("CI") else 40
SCALARS = {
    "DateTime": st.sampled_from(["2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "not a time"]).map(nodes.String),
    "Date": st.sampled_from(["2026-01-02", "2026-13-40", "x"]).map(nodes.String),
    "JSON": st.text(max_size=20).map(nodes.String),
}


def generated_queries(count: int) -> list[str]:
    found: list[str] = []

    @hypothesis_settings(max_examples=count, database=None, deadline=None,
                         suppress_health_check=list(HealthCheck))
    @given(hypothesis_graphql.queries(sdl(), custom_scalars=SCALARS))
    def collect(query: str) -> None:
        found.append(query)

    collect()
    return found


@pytest.mark.xfail(
    strict=False,
    reason="issue 11 item 9(a), fixed on another branch: a root field the caller may not use beside another "
    "answers INTERNAL (PendingRollbackError in the audit flush); drop this mark after the merge",
)
async def test_generated_queries_never_answer_internal_or_leak(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    await ws.contact(firstName="Chan", lastName="Tai Man", email="chan@example.com")
    queries = generated_queries(EXAMPLES)
    assert len(queries) >= EXAMPLES // 2
    for query in queries:
        body = await gql.raw(query, token=ws.admin_token)
        for error in body.get("errors") or []:
            assert error["extensions"]["code"] != "INTERNAL", (query, error)
            assert not LEAKS.search(error["message"]), (query, error)
