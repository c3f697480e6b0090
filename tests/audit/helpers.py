"""Shared helpers of the audit tests: GraphQL over HTTP with headers, and reading a workspace's audit rows."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from sqlalchemy import select, text

from db.models.meta import audit_events
from resolvers.runtime import Runtime
from tests.factories.workspaces import Workspace

# Every PII field of a contact as GraphQL returns it; `salaryMasked` / `dateOfBirthMasked` carry masks.
PII_FIELDS = ("firstName", "lastName", "email", "phone", "hkid", "taxId", "dateOfBirth", "linkedinUrl", "bio", "salary")
CONTACT_SELECTION = (
    "id firstName lastName email phone hkid taxId dateOfBirth linkedinUrl bio salary salaryMasked company jobTitle"
)


def request_id(tag: str = "t") -> str:
    return f"{tag}-{secrets.token_hex(8)}"


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if rid:
        headers["X-Request-Id"] = rid
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> Any:
    body = await post(http, query, variables, **kw)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def rows(runtime: Runtime, slug: str, **where: Any) -> list[Any]:
    """The workspace's audit rows matching column == value, oldest first."""
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    stmt = select(audit_events).where(*(audit_events.c[k] == v for k, v in where.items()))
    async with tenant.engine.connect() as conn:
        return list((await conn.execute(stmt.order_by(audit_events.c.occurred_at, audit_events.c.id))).all())


async def execute(runtime: Runtime, slug: str, sql: str, params: dict[str, Any] | None = None) -> Any:
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    async with tenant.owner_engine.begin() as conn:  # the owner: tests tamper and alter
        return await conn.execute(text(sql), params or {})


def expected_reads(node: dict[str, Any]) -> set[str]:
    """The PII fields a contact node carries a value of (masked included)."""
    out = {name for name in PII_FIELDS if node.get(name) is not None}
    for name in ("salary", "dateOfBirth"):
        if node.get(f"{name}Masked") is not None:
            out.add(name)
    return out


async def sales_workspace(ws: Workspace, n: int) -> tuple[dict[str, str], list[str]]:
    """A sales rep in team `east` owning `n` full contacts, one contact they cannot see, and `taxId` denied to
    sales (so that every read also has a denied field)."""
    rep = await ws.user("rep", ["sales"], team="east")
    team = await ws.team("east")
    await ws.gql.ok(
        'mutation{addPolicy(rule:{role:"sales",resource:"contact.taxId",action:"read",effect:DENY}){role}}',
        token=ws.admin_token,
    )
    ids = []
    for i in range(n):
        ids.append(
            await ws.contact(
                firstName=f"Chan{i}",
                lastName="Tai Man",
                email=f"chan{i}@example.com",
                phone=f"9123 45{i:02d}",
                hkid="A123456(3)",
                taxId=f"TAX-{i:06d}",
                salary=45000 + i,
                dateOfBirth="1985-03-02",
                bio="likes tea",
                company="Acme",
                ownerId=rep["id"],
                teamId=team,
            )
        )
    await ws.contact(firstName="Hidden", lastName="Person", email="hidden@example.com", hkid="A123456(3)")
    return rep, ids
