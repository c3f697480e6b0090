"""Login throttling over HTTP: counted before the password is checked, per account, client address and
workspace, and audited once per window and counter rather than once per try."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest

import main
from resolvers.identity import credentials
from resolvers.runtime import Runtime
from settings import Settings
from tests.api.helpers import on_runtime
from tests.audit.helpers import rows
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory

LOGIN = "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w,email:$e,password:$p){ token } }"
ClientAt = Callable[[str], Any]


@pytest.fixture
def client_at(settings: Settings, endpoints: main.Endpoints, runtime: Runtime) -> ClientAt:
    """GraphQL clients that connect from a client address of their own."""
    app = main.create_app(settings, endpoints)

    with_state = on_runtime(app, runtime)

    @asynccontextmanager
    async def open_client(address: str) -> AsyncIterator[GraphQLClient]:
        transport = httpx.ASGITransport(app=with_state, client=(address, 4444))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield GraphQLClient(http)

    return open_client


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread id of every argon2 verification, in order."""
    seen: list[int] = []
    verify = credentials.verify_password

    def counted(password_hash: str | None, password: str) -> bool:
        seen.append(threading.get_ident())
        return verify(password_hash, password)

    monkeypatch.setattr(credentials, "verify_password", counted)
    return seen


def code(body: dict[str, Any]) -> str:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return str(errors[0]["extensions"]["code"])


def address() -> str:
    return f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


async def throttled_events(runtime: Runtime, slug: str) -> list[Any]:
    return [
        r for r in await rows(runtime, slug, action="LOGIN_FAILED") if (r.details or {}).get("reason") == "throttled"
    ]


async def test_forty_concurrent_guesses_check_ten_passwords(
    workspaces: WorkspaceFactory, runtime: Runtime, client_at: ClientAt, verifications: list[int]
) -> None:
    ws = await workspaces.create()
    user = await ws.user("target", ["sales"])
    verifications.clear()
    async with client_at(address()) as gql:
        answers = await asyncio.gather(
            *(gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": f"guess-{i}"}) for i in range(40))
        )
        assert code(await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": PASSWORD})) == "RATE_LIMITED"
    outcomes = sorted(code(a) for a in answers)
    assert outcomes == ["RATE_LIMITED"] * 30 + ["UNAUTHENTICATED"] * 10
    assert len(verifications) == 10
    # Ten failed logins are audited one by one; the thirty-one throttled tries are one event, with a count.
    failed = await rows(runtime, ws.slug, action="LOGIN_FAILED")
    throttled = await throttled_events(runtime, ws.slug)
    assert len(failed) == 11 and len(throttled) == 1
    assert throttled[0].details["limit"] == "account" and throttled[0].details["attempts"] > 10


async def test_one_password_sprayed_over_many_emails_is_stopped_per_address(
    runtime: Runtime, ws_and_limits: Workspace, client_at: ClientAt, verifications: list[int]
) -> None:
    ws = ws_and_limits
    spray = address()
    async with client_at(spray) as gql:
        answers = [
            code(await gql.raw(LOGIN, {"w": ws.slug, "e": f"staff{i}@example.com", "p": "Spring2026!"}))
            for i in range(8)
        ]
        # The right password of a real account is refused from that address too, while the window lasts.
        assert code(await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})) == "RATE_LIMITED"
    assert answers == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 3
    assert len(verifications) == 5
    (event,) = await throttled_events(runtime, ws.slug)
    assert event.details["limit"] == "address" and event.client_ip == spray
    # Another address still signs in.
    async with client_at(address()) as other:
        await other.login(ws.slug, ws.admin_email)


async def test_spraying_from_many_addresses_is_stopped_per_workspace(
    runtime: Runtime, ws_and_limits: Workspace, client_at: ClientAt, verifications: list[int]
) -> None:
    ws = ws_and_limits
    answers = []
    for i in range(12):
        async with client_at(address()) as gql:
            answers.append(code(await gql.raw(LOGIN, {"w": ws.slug, "e": f"s{i}@example.com", "p": "Winter2026!"})))
    assert answers == ["UNAUTHENTICATED"] * 10 + ["RATE_LIMITED"] * 2
    assert len(verifications) == 10
    (event,) = await throttled_events(runtime, ws.slug)
    assert event.details["limit"] == "workspace" and event.details["attempts"] == 11


async def test_successful_logins_do_not_use_up_the_address_limit(
    runtime: Runtime, ws_and_limits: Workspace, client_at: ClientAt
) -> None:
    ws = ws_and_limits
    async with client_at(address()) as gql:  # a shared office address: many people sign in from it
        for _ in range(8):
            await gql.login(ws.slug, ws.admin_email)
    assert await throttled_events(runtime, ws.slug) == []


@pytest.fixture
async def ws_and_limits(workspaces: WorkspaceFactory, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A fresh workspace, with an address limit of 5 and a workspace limit of 10 for the test."""
    ws = await workspaces.create()
    monkeypatch.setattr(runtime, "login_limits", replace(runtime.login_limits, per_address=5, per_workspace=10))
    return ws
