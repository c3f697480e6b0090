"""Sessions over HTTP: refresh tokens rotate (a reused one ends the family), logout, password change and
reset by a mailed link, and deactivating a leaver (tokens, refresh tokens, their API keys, sign-in)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from resolvers.runtime import Runtime
from tests.audit.helpers import rows
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory
from tests.identity.helpers import LOGIN, REFRESH, code, error, session, signed_in

LOGOUT = "mutation{ logout }"
CHANGE = "mutation($c:String!,$n:String!){ changePassword(currentPassword:$c, newPassword:$n) }"
REQUEST_RESET = "mutation($w:String!,$e:String!){ requestPasswordReset(workspace:$w, email:$e) }"
RESET = "mutation($t:String!,$n:String!){ resetPassword(token:$t, newPassword:$n) }"
DEACTIVATE = "mutation($id:ID!){ deactivateUser(id:$id){ id active } }"
REACTIVATE = "mutation($id:ID!){ reactivateUser(id:$id){ id active } }"
CREATE_KEY = "mutation($n:String!,$r:String!){ createApiKey(name:$n, role:$r){ key } }"
CONTACTS = "{ contacts(first: 1) { totalCount } }"
NEW_PASSWORD = "a brand new passphrase 2026"


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def test_a_refresh_token_gives_a_new_session_once(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    first = await session(gql, ws.slug, sales["email"])
    second = (await gql.ok(REFRESH, {"r": first["refreshToken"]}))["refreshSession"]
    assert second["user"] == {"email": sales["email"], "roles": ["sales"]}
    assert second["refreshToken"] != first["refreshToken"]
    assert await signed_in(gql, second["token"])
    third = (await gql.ok(REFRESH, {"r": second["refreshToken"]}))["refreshSession"]
    assert await signed_in(gql, third["token"])


async def test_a_reused_refresh_token_is_refused_and_ends_the_family(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime
) -> None:
    sales = await ws.user("sales", ["sales"])
    stolen = await session(gql, ws.slug, sales["email"])
    rotated = (await gql.ok(REFRESH, {"r": stolen["refreshToken"]}))["refreshSession"]
    body = await gql.raw(REFRESH, {"r": stolen["refreshToken"]})
    assert error(body) == {"code": "UNAUTHENTICATED", "reason": "REFRESH_TOKEN_REUSED"} and body["data"] is None
    # Every token of the family stops: the original, the rotated one, and its refresh token.
    assert not await signed_in(gql, stolen["token"])
    assert not await signed_in(gql, rotated["token"])
    assert code(await gql.raw(REFRESH, {"r": rotated["refreshToken"]})) == "UNAUTHENTICATED"
    # Another session of the same user is untouched.
    assert await signed_in(gql, sales["token"])
    failed = [r for r in await rows(runtime, ws.slug, action="LOGIN_FAILED") if r.details.get("reason")]
    assert [r.details["reason"] for r in failed] == ["refresh_token_reused"]


async def test_bad_refresh_tokens_are_unauthenticated(gql: GraphQLClient, ws: Workspace) -> None:
    for token in ("", "nonsense", f"{ws.slug}.{'x' * 43}", f"no-such-ws.{'x' * 43}"):
        assert code(await gql.raw(REFRESH, {"r": token})) == "UNAUTHENTICATED", token


async def test_logout_ends_this_session_only(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    phone = await session(gql, ws.slug, sales["email"])
    assert (await gql.ok(LOGOUT, token=phone["token"])) == {"logout": True}
    assert not await signed_in(gql, phone["token"])
    assert code(await gql.raw(REFRESH, {"r": phone["refreshToken"]})) == "UNAUTHENTICATED"
    assert await signed_in(gql, sales["token"])  # the laptop's session goes on
    key = (await gql.ok(CREATE_KEY, {"n": "Partner", "r": "sales"}, ws.admin_token))["createApiKey"]["key"]
    assert code(await gql.raw(LOGOUT, token=key)) == "UNAUTHENTICATED"  # an API key has no session


async def test_changing_the_password_ends_the_other_sessions(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    here = await session(gql, ws.slug, sales["email"])
    assert error(await gql.raw(CHANGE, {"c": "wrong password!", "n": NEW_PASSWORD}, here["token"])) == {
        "code": "BAD_USER_INPUT", "field": "currentPassword"}
    assert error(await gql.raw(CHANGE, {"c": PASSWORD, "n": "short"}, here["token"])) == {
        "code": "BAD_USER_INPUT", "field": "newPassword"}
    assert await signed_in(gql, sales["token"])  # refused changes changed nothing
    assert (await gql.ok(CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}, here["token"])) == {"changePassword": True}
    assert await signed_in(gql, here["token"])
    assert not await signed_in(gql, sales["token"])
    assert code(await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD})) == "UNAUTHENTICATED"
    assert (await session(gql, ws.slug, sales["email"], NEW_PASSWORD))["token"]


class Inbox:
    """A real SMTP server on loopback (aiosmtpd): the messages it received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def inbox(runtime: Runtime) -> Iterator[Inbox]:
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = runtime.mailer
    runtime.mailer = dataclasses.replace(mailer, smtp_url=f"smtp://127.0.0.1:{port}")
    try:
        yield box
    finally:
        runtime.mailer = mailer
        controller.stop()


def _mailed_token(inbox: Inbox, address: str) -> str | None:
    for envelope in inbox.messages:
        body = str(email.message_from_bytes(envelope.content, policy=email.policy.default).get_body().get_content())
        if address.lower() in [r.lower() for r in envelope.rcpt_tos] and "reset-password?token=" in body:
            found = re.search(r"reset-password\?token=(\S+)", body)
            assert found is not None
            return found.group(1)
    return None


async def test_a_forgotten_password_is_reset_by_a_mailed_one_time_link(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime, inbox: Inbox
) -> None:
    sales = await ws.user("sales", ["sales"])
    # Unknown addresses and workspaces answer the same, and nothing is mailed.
    nobody = {"w": ws.slug, "e": "nobody@example.com"}
    assert (await gql.ok(REQUEST_RESET, nobody)) == {"requestPasswordReset": True}
    assert (await gql.ok(REQUEST_RESET, {"w": "no-such-ws", "e": sales["email"]}))["requestPasswordReset"] is True
    assert _mailed_token(inbox, "nobody@example.com") is None
    assert (await gql.ok(REQUEST_RESET, {"w": ws.slug, "e": sales["email"].upper()}))["requestPasswordReset"]
    token = _mailed_token(inbox, sales["email"])
    assert token is not None and token.startswith(f"{ws.slug}.")
    assert error(await gql.raw(RESET, {"t": token, "n": "short"})) == {"code": "BAD_USER_INPUT", "field": "newPassword"}
    assert await signed_in(gql, sales["token"])
    assert (await gql.ok(RESET, {"t": token, "n": NEW_PASSWORD})) == {"resetPassword": True}
    assert not await signed_in(gql, sales["token"])  # every session of the user ended
    assert error(await gql.raw(RESET, {"t": token, "n": "another passphrase 99"})) == {
        "code": "BAD_USER_INPUT", "field": "token"}  # one use
    assert (await session(gql, ws.slug, sales["email"], NEW_PASSWORD))["token"]
    changes = [r.details.get("change") for r in await rows(runtime, ws.slug, action="UPDATE", entity_type="user")]
    assert changes.count("requestPasswordReset") == 1 and changes.count("resetPassword") == 1


async def test_deactivation_stops_tokens_refresh_tokens_api_keys_and_sign_in(gql: GraphQLClient, ws: Workspace) -> None:
    leaver = await ws.user("leaver", ["admin"])
    phone = await session(gql, ws.slug, leaver["email"])
    key = (await gql.ok(CREATE_KEY, {"n": "Leaver's sync", "r": "sales"}, leaver["token"]))["createApiKey"]["key"]
    assert (await gql.ok(CONTACTS, token=key))["contacts"]["totalCount"] == 0
    assert (await gql.ok(DEACTIVATE, {"id": leaver["id"]}, ws.admin_token))["deactivateUser"]["active"] is False
    assert not await signed_in(gql, leaver["token"])
    assert not await signed_in(gql, phone["token"])
    assert code(await gql.raw(REFRESH, {"r": phone["refreshToken"]})) == "UNAUTHENTICATED"
    assert code(await gql.raw(CONTACTS, token=key)) == "UNAUTHENTICATED"
    assert code(await gql.raw(LOGIN, {"w": ws.slug, "e": leaver["email"], "p": PASSWORD})) == "UNAUTHENTICATED"
    listed = await gql.ok("{ users(filter:{active:false}) { edges { node { email } } } }", token=ws.admin_token)
    assert [e["node"]["email"] for e in listed["users"]["edges"]] == [leaver["email"]]
    # Back: they sign in again and their keys work again; the old sessions stay ended.
    assert (await gql.ok(REACTIVATE, {"id": leaver["id"]}, ws.admin_token))["reactivateUser"]["active"] is True
    assert not await signed_in(gql, phone["token"])
    assert await signed_in(gql, (await session(gql, ws.slug, leaver["email"]))["token"])
    assert (await gql.ok(CONTACTS, token=key))["contacts"]["totalCount"] == 0


async def test_deactivation_refusals_change_nothing(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    manager = await ws.user("manager", ["manager"])
    admin_id = (await gql.ok("{ me { id } }", token=ws.admin_token))["me"]["id"]
    assert code(await gql.raw(DEACTIVATE, {"id": manager["id"]}, sales["token"])) == "FORBIDDEN"
    assert code(await gql.raw(REACTIVATE, {"id": manager["id"]}, sales["token"])) == "FORBIDDEN"
    assert await signed_in(gql, manager["token"])
    assert error(await gql.raw(DEACTIVATE, {"id": admin_id}, ws.admin_token)) == {"code": "CONFLICT", "field": "id"}
    assert error(await gql.raw(DEACTIVATE, {"id": "nonsense"}, ws.admin_token)) == {
        "code": "BAD_USER_INPUT", "field": "id"}
    assert code(await gql.raw(DEACTIVATE, {"id": sales["id"].replace(sales["id"][-4:], "AAAA")}, ws.admin_token)) in {
        "NOT_FOUND", "BAD_USER_INPUT"}
    assert await signed_in(gql, ws.admin_token)


async def test_the_last_policy_editor_cannot_be_deactivated(gql: GraphQLClient, ws: Workspace) -> None:
    rule = {"role": "manager", "resource": "user", "action": "write", "effect": "ALLOW", "scope": "all"}
    await gql.ok("mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role}}", {"r": rule}, ws.admin_token)
    manager = await ws.user("manager", ["manager"])
    admin_id = (await gql.ok("{ me { id } }", token=ws.admin_token))["me"]["id"]
    # The manager may deactivate users, but not the only one left who can edit policies.
    assert code(await gql.raw(DEACTIVATE, {"id": admin_id}, manager["token"])) == "CONFLICT"
    assert await signed_in(gql, ws.admin_token)
