"""TOTP over HTTP: enrolment, confirmation with a code computed here (pyotp), login with `otp`, recovery codes,
and the workspace setting that requires MFA of policy editors and workspace admins."""

from __future__ import annotations

import time

import pyotp
import pytest

from resolvers.runtime import Runtime
from tests.audit.helpers import rows
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory
from tests.identity.helpers import LOGIN, code, error, session

ENROLL = "mutation{ enrollMfa { secret otpauthUri recoveryCodes } }"
CONFIRM = "mutation($c:String!){ confirmMfa(code:$c){ id mfaEnabled } }"
SETTINGS = "mutation($r:Boolean){ updateSecuritySettings(requireMfa:$r){ requireMfa } }"
CONTACTS = "{ contacts(first: 1) { totalCount } }"


@pytest.fixture
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


async def enrol(gql: GraphQLClient, token: str) -> tuple[pyotp.TOTP, list[str]]:
    enrolment = (await gql.ok(ENROLL, token=token))["enrollMfa"]
    totp = pyotp.TOTP(enrolment["secret"])
    assert enrolment["otpauthUri"].startswith("otpauth://totp/") and enrolment["secret"] in enrolment["otpauthUri"]
    confirmed = (await gql.ok(CONFIRM, {"c": totp.now()}, token))["confirmMfa"]
    assert confirmed["mfaEnabled"] is True
    return totp, enrolment["recoveryCodes"]


async def test_login_needs_the_one_time_code_once_mfa_is_on(
    gql: GraphQLClient, ws: Workspace, runtime: Runtime
) -> None:
    sales = await ws.user("sales", ["sales"])
    totp, recovery = await enrol(gql, sales["token"])
    without = await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD})
    assert error(without) == {"code": "UNAUTHENTICATED", "reason": "MFA_REQUIRED"} and without["data"] is None
    wrong = await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD, "o": "000000"})
    assert error(wrong) == {"code": "UNAUTHENTICATED", "reason": "MFA_INVALID"}
    assert code(await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": "wrong password", "o": totp.now()})) == (
        "UNAUTHENTICATED")
    # The next step's code (accepted within one step of drift): the confirmation used the current one, and
    # a code works only once.
    signed = await session(gql, ws.slug, sales["email"], otp=totp.at(time.time() + 30))
    assert signed["user"]["mfaEnabled"] is True
    # A recovery code works once.
    assert (await session(gql, ws.slug, sales["email"], otp=recovery[0]))["token"]
    again = await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD, "o": recovery[0]})
    assert error(again)["reason"] == "MFA_INVALID"
    logins = [r.details for r in await rows(runtime, ws.slug, action="LOGIN", entity_type="user") if r.details]
    assert {"mfa": "totp"} in logins and {"mfa": "recovery_code"} in logins
    failures = [r.details.get("reason") for r in await rows(runtime, ws.slug, action="LOGIN_FAILED")]
    assert failures.count("wrong_otp") == 2
    changes = [r.details.get("change") for r in await rows(runtime, ws.slug, action="UPDATE", entity_type="user")]
    assert "enrollMfa" in changes and "confirmMfa" in changes


async def test_a_totp_code_is_accepted_once(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    totp, _ = await enrol(gql, sales["token"])
    code_now = totp.at(time.time() + 30)
    assert (await session(gql, ws.slug, sales["email"], otp=code_now))["token"]
    replay = await gql.raw(LOGIN, {"w": ws.slug, "e": sales["email"], "p": PASSWORD, "o": code_now})
    assert error(replay)["reason"] == "MFA_INVALID"


async def test_enrolment_refusals(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await ws.user("sales", ["sales"])
    assert code(await gql.raw(CONFIRM, {"c": "123456"}, sales["token"])) == "CONFLICT"  # nothing to confirm
    await gql.ok(ENROLL, token=sales["token"])
    assert error(await gql.raw(CONFIRM, {"c": "12345x"}, sales["token"])) == {"code": "BAD_USER_INPUT", "field": "code"}
    me = await gql.ok('{ users(filter:{search:"sales"}) { edges { node { mfaEnabled } } } }', token=ws.admin_token)
    assert me["users"]["edges"][0]["node"]["mfaEnabled"] is False  # a refused confirmation turned nothing on
    assert (await session(gql, ws.slug, sales["email"]))["token"]  # and login still needs no code
    key = await gql.ok('mutation{ createApiKey(name:"K", role:"sales"){ key } }', token=ws.admin_token)
    assert code(await gql.raw(ENROLL, token=key["createApiKey"]["key"])) == "UNAUTHENTICATED"


async def test_the_workspace_can_require_mfa_of_admins(gql: GraphQLClient, ws: Workspace) -> None:
    other = await ws.user("other-admin", ["admin"])
    sales = await ws.user("sales", ["sales"])
    assert code(await gql.raw(SETTINGS, {"r": True}, sales["token"])) == "FORBIDDEN"
    # An admin without MFA is told to set it up first (they would lock themselves out).
    assert error(await gql.raw(SETTINGS, {"r": True}, ws.admin_token)) == {"code": "CONFLICT", "field": "requireMfa"}
    await enrol(gql, ws.admin_token)
    assert (await gql.ok(SETTINGS, {"r": True}, ws.admin_token)) == {"updateSecuritySettings": {"requireMfa": True}}
    assert (await gql.ok("{ securitySettings { requireMfa } }", token=ws.admin_token))["securitySettings"] == {
        "requireMfa": True}
    assert code(await gql.raw("{ securitySettings { requireMfa } }", token=sales["token"])) == "FORBIDDEN"
    # The other admin's sessions can do nothing but enrol until they have MFA.
    pending = await session(gql, ws.slug, other["email"])
    assert pending["mfaEnrolmentRequired"] is True
    await ws.contact(firstName="Chan", lastName="Tai Man")
    assert (await gql.ok(CONTACTS, token=other["token"]))["contacts"]["totalCount"] == 0  # no record scope
    assert code(await gql.raw("{ users { totalCount } }", token=other["token"])) == "FORBIDDEN"
    await enrol(gql, pending["token"])
    assert (await gql.ok(CONTACTS, token=pending["token"]))["contacts"]["totalCount"] == 1
    assert (await gql.ok(CONTACTS, token=other["token"]))["contacts"]["totalCount"] == 1  # every session of theirs
    # Sales hold neither `policy write` nor `workspace write`: not concerned.
    plain = await session(gql, ws.slug, sales["email"])
    assert plain["mfaEnrolmentRequired"] is False
    assert (await gql.ok("{ users { totalCount } }", token=plain["token"]))["users"]["totalCount"] == 3
