"""Workspace, user and contact factories driven through the public surface (GraphQL over HTTP)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspaces

PASSWORD = "correct horse battery staple"


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        headers = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def ok(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def login(self, workspace: str, email: str, password: str = PASSWORD) -> str:
        data = await self.ok(
            "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}",
            {"w": workspace, "e": email, "p": password},
        )
        return str(data["login"]["token"])


@dataclass
class Workspace:
    slug: str
    admin_email: str
    admin_token: str
    gql: GraphQLClient
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # label -> {id, email, token}
    teams: dict[str, str] = field(default_factory=dict)

    async def team(self, name: str) -> str:
        if name not in self.teams:
            data = await self.gql.ok("mutation($n:String!){createTeam(name:$n){id}}", {"n": name}, self.admin_token)
            self.teams[name] = data["createTeam"]["id"]
        return self.teams[name]

    async def user(self, label: str, roles: list[str], team: str | None = None) -> dict[str, str]:
        if label in self.users:
            return self.users[label]
        email = f"{label}-{secrets.token_hex(3)}@example.com"
        team_id = await self.team(team) if team else None
        data = await self.gql.ok(
            "mutation($i:UserInput!){createUser(input:$i){id}}",
            {
                "i": {
                    "email": email,
                    "password": PASSWORD,
                    "displayName": label.title(),
                    "roles": roles,
                    "teamId": team_id,
                }
            },
            self.admin_token,
        )
        token = await self.gql.login(self.slug, email)
        self.users[label] = {"id": data["createUser"]["id"], "email": email, "token": token}
        return self.users[label]

    async def contact(self, token: str | None = None, **fields: Any) -> str:
        data = await self.gql.ok(
            "mutation($i:ContactInput!){createContact(input:$i){id}}", {"i": fields}, token or self.admin_token
        )
        return str(data["createContact"]["id"])


class WorkspaceFactory:
    def __init__(self, runtime: Runtime, gql: GraphQLClient) -> None:
        self.runtime = runtime
        self.gql = gql

    async def create(self, *, slug: str | None = None, region: str = "hk") -> Workspace:
        slug = slug or f"ws-{secrets.token_hex(4)}"
        email = f"admin-{secrets.token_hex(3)}@example.com"
        await workspaces.create_workspace(
            self.runtime.directory, workspaces.NewWorkspace(slug, f"Workspace {slug}", region, email, PASSWORD)
        )
        token = await self.gql.login(slug, email)
        return Workspace(slug, email, token, self.gql)
