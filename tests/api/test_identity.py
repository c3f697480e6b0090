"""Identity over HTTP: signing in, who am I, users, teams, roles and partner API keys."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from resolvers.identity import credentials
from tests.factories.workspaces import PASSWORD, GraphQLClient, Workspace, WorkspaceFactory

LOGIN = """mutation($w:String!,$e:String!,$p:String!){
  login(workspace:$w,email:$e,password:$p){ token expiresAt user { id email roles } }
}"""
ME = "{ me { id email displayName roles isActive team { id name } } }"
CREATE_USER = "mutation($i:UserInput!){ createUser(input:$i){ id email displayName roles isActive team { name } } }"
CREATE_KEY = """mutation($n:String!,$r:String!,$x:DateTime){
  createApiKey(name:$n, role:$r, expiresAt:$x){ key apiKey { id name prefix role expiresAt revokedAt } }
}"""
REVOKE_KEY = "mutation($id:ID!){ revokeApiKey(id:$id){ id revokedAt } }"
CONTACTS = "{ contacts(first: 5) { totalCount edges { node { id } } } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    return await workspaces.create()


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


def code_of(body: dict[str, Any]) -> str:
    return str(only_error(body)["extensions"]["code"])


def new_email(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}@example.com"


async def make_user(gql: GraphQLClient, ws: Workspace, roles: list[str], **extra: Any) -> dict[str, Any]:
    email = new_email("user")
    data = await gql.ok(
        CREATE_USER,
        {"i": {"email": email, "password": PASSWORD, "displayName": "Wong Siu Ming", "roles": roles, **extra}},
        ws.admin_token,
    )
    return {**data["createUser"], "email": email}


# ---------------------------------------------------------------- signing in


async def test_admin_signs_in_and_sees_who_they_are(gql: GraphQLClient, ws: Workspace) -> None:
    body = await gql.ok(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": PASSWORD})
    session = body["login"]
    assert session["token"]
    assert session["user"]["email"] == ws.admin_email
    assert "admin" in session["user"]["roles"]
    expires = datetime.fromisoformat(session["expiresAt"])
    assert expires.tzinfo is not None and expires > datetime.now(UTC)

    me = (await gql.ok(ME, token=session["token"]))["me"]
    assert me["id"] == session["user"]["id"]
    assert me["email"] == ws.admin_email
    assert me["isActive"] is True


async def test_email_is_matched_without_regard_to_case(gql: GraphQLClient, ws: Workspace) -> None:
    token = await gql.login(ws.slug, ws.admin_email.upper())
    assert (await gql.ok(ME, token=token))["me"]["email"] == ws.admin_email


async def test_a_wrong_password_and_an_unknown_workspace_fail_alike(gql: GraphQLClient, ws: Workspace) -> None:
    wrong_password = only_error(await gql.raw(LOGIN, {"w": ws.slug, "e": ws.admin_email, "p": "not the password"}))
    unknown_email = only_error(await gql.raw(LOGIN, {"w": ws.slug, "e": new_email("nobody"), "p": PASSWORD}))
    unknown_ws = only_error(
        await gql.raw(LOGIN, {"w": f"nope-{secrets.token_hex(3)}", "e": ws.admin_email, "p": PASSWORD})
    )
    for error in (wrong_password, unknown_email, unknown_ws):
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    # Nothing tells an attacker which of workspace, email or password was wrong.
    assert wrong_password["message"] == unknown_ws["message"] == unknown_email["message"]


async def test_logins_are_throttled_after_ten_failures(gql: GraphQLClient, ws: Workspace) -> None:
    user = await make_user(gql, ws, ["sales"])
    for _ in range(10):
        body = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": "guessing-wrong-again"})
        assert code_of(body) == "UNAUTHENTICATED"
    throttled = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": "guessing-wrong-again"})
    assert code_of(throttled) == "RATE_LIMITED"
    # Even the right password is refused while throttled, so guessing cannot continue.
    right = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": PASSWORD})
    assert code_of(right) == "RATE_LIMITED"
    assert right.get("data") is None
    # Other accounts of the workspace are not locked out by it.
    await gql.login(ws.slug, ws.admin_email)


async def test_a_successful_login_resets_the_failure_count(gql: GraphQLClient, ws: Workspace) -> None:
    user = await make_user(gql, ws, ["sales"])
    assert code_of(await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": "a typo"})) == "UNAUTHENTICATED"
    await gql.login(ws.slug, user["email"])
    # Without the reset, the ninth failure below would be the tenth in the window.
    for _ in range(9):
        body = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": "a typo"})
        assert code_of(body) == "UNAUTHENTICATED"
    await gql.login(ws.slug, user["email"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer not-a-token",
        "Basic YWRtaW46cGFzc3dvcmQ=",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ3cyI6ImEifQ.c2lnbmF0dXJl",
    ],
    ids=["no-header", "empty-bearer", "garbage", "basic-auth", "garbage-jwt"],
)
async def test_me_without_a_valid_credential_is_unauthenticated(
    gql: GraphQLClient, ws: Workspace, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await gql.http.post("/graphql", json={"query": ME}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert code_of(body) == "UNAUTHENTICATED"
    assert body.get("data") is None


async def test_an_expired_token_is_unauthenticated(gql: GraphQLClient, ws: Workspace) -> None:
    user_id = await _user_uuid(gql, ws)
    secret = os.environ["CRM_SECRET_KEY"]
    live = credentials.read_token(secret, ws.admin_token)
    assert live is not None and live.session_id is not None  # tokens name their server-side session
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = credentials.issue_token(
        secret, credentials.TokenClaims(ws.slug, user_id, "user", past, session_id=live.session_id)
    )
    assert code_of(await gql.raw(ME, token=expired)) == "UNAUTHENTICATED"
    # The same claims, still valid, do work: it is the expiry that is refused.
    future = datetime.now(UTC) + timedelta(minutes=5)
    valid = credentials.issue_token(
        secret, credentials.TokenClaims(ws.slug, user_id, "user", future, session_id=live.session_id)
    )
    # Without a session the same signed claims are refused: a token is only as live as its session.
    sessionless = credentials.issue_token(secret, credentials.TokenClaims(ws.slug, user_id, "user", future))
    assert code_of(await gql.raw(ME, token=sessionless)) == "UNAUTHENTICATED"
    assert (await gql.ok(ME, token=valid))["me"]["email"] == ws.admin_email


async def test_a_token_signed_with_another_key_is_unauthenticated(gql: GraphQLClient, ws: Workspace) -> None:
    user_id = await _user_uuid(gql, ws)
    future = datetime.now(UTC) + timedelta(minutes=5)
    forged = credentials.issue_token(
        "not-the-server-secret-" + secrets.token_hex(16), credentials.TokenClaims(ws.slug, user_id, "user", future)
    )
    assert code_of(await gql.raw(ME, token=forged)) == "UNAUTHENTICATED"


async def _user_uuid(gql: GraphQLClient, ws: Workspace) -> uuid.UUID:
    from schema.ids import from_global

    me = (await gql.ok(ME, token=ws.admin_token))["me"]
    return from_global(me["id"], expect="User")[1]


# ---------------------------------------------------------------- users


async def test_admin_creates_a_user_in_a_team_who_can_sign_in(gql: GraphQLClient, ws: Workspace) -> None:
    team = (await gql.ok('mutation{ createTeam(name: "Kowloon Sales"){ id name createdAt } }', token=ws.admin_token))[
        "createTeam"
    ]
    assert team["name"] == "Kowloon Sales"
    email = new_email("Chan.Tai.Man")
    created = (
        await gql.ok(
            CREATE_USER,
            {
                "i": {
                    "email": email,
                    "password": PASSWORD,
                    "displayName": "  Chan Tai Man ",
                    "roles": ["sales"],
                    "teamId": team["id"],
                }
            },
            ws.admin_token,
        )
    )["createUser"]
    assert created["displayName"] == "Chan Tai Man"
    assert created["roles"] == ["sales"]
    assert created["isActive"] is True
    assert created["team"] == {"name": "Kowloon Sales"}

    token = await gql.login(ws.slug, email)
    me = (await gql.ok(ME, token=token))["me"]
    assert me["id"] == created["id"]
    assert me["roles"] == ["sales"]
    assert me["team"] == {"id": team["id"], "name": "Kowloon Sales"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "chan@"}, "email"),
        ({"password": "short"}, "password"),
        ({"roles": ["astronaut"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"displayName": "   "}, "displayName"),
    ],
    ids=["email-syntax", "email-no-domain", "short-password", "unknown-role", "no-role", "blank-name"],
)
async def test_create_user_rejects_bad_input_naming_the_field(
    gql: GraphQLClient, ws: Workspace, change: dict[str, Any], field: str
) -> None:
    email = new_email("rejected")
    user = {"email": email, "password": PASSWORD, "displayName": "Rejected", "roles": ["sales"], **change}
    body = await gql.raw(CREATE_USER, {"i": user}, ws.admin_token)
    error = only_error(body)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert body["data"] is None
    # Nothing was created: the address can still sign in to nothing, and be used for a real user.
    if field != "email":
        assert code_of(await gql.raw(LOGIN, {"w": ws.slug, "e": email, "p": PASSWORD})) == "UNAUTHENTICATED"
        await gql.ok(CREATE_USER, {"i": {**user, **_valid_user(email)}}, ws.admin_token)


def _valid_user(email: str) -> dict[str, Any]:
    return {"email": email, "password": PASSWORD, "displayName": "Valid", "roles": ["sales"]}


async def test_a_second_user_with_the_same_email_is_a_conflict(gql: GraphQLClient, ws: Workspace) -> None:
    user = await make_user(gql, ws, ["sales"])
    body = await gql.raw(CREATE_USER, {"i": _valid_user(user["email"].upper())}, ws.admin_token)
    error = only_error(body)
    assert error["extensions"]["code"] == "CONFLICT"
    assert error["extensions"]["field"] == "email"


async def test_a_user_with_an_unknown_team_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    from schema.ids import to_global

    email = new_email("teamless")
    body = await gql.raw(
        CREATE_USER, {"i": {**_valid_user(email), "teamId": to_global("Team", uuid.uuid4())}}, ws.admin_token
    )
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": "teamId"}


async def test_a_sales_user_may_not_create_users_or_teams(gql: GraphQLClient, ws: Workspace) -> None:
    sales = await make_user(gql, ws, ["sales"])
    token = await gql.login(ws.slug, sales["email"])
    body = await gql.raw(CREATE_USER, {"i": _valid_user(new_email("sneaky"))}, token)
    assert code_of(body) == "FORBIDDEN"
    body = await gql.raw('mutation{ createTeam(name: "Shadow team"){ id } }', token=token)
    assert code_of(body) == "FORBIDDEN"


async def test_team_names_are_unique_and_not_blank(gql: GraphQLClient, ws: Workspace) -> None:
    name = f"Team {secrets.token_hex(3)}"
    await gql.ok("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": name}, ws.admin_token)
    again = await gql.raw("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": name}, ws.admin_token)
    assert only_error(again)["extensions"]["code"] == "CONFLICT"
    blank = await gql.raw("mutation($n:String!){ createTeam(name:$n){ id } }", {"n": "  "}, ws.admin_token)
    assert only_error(blank)["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}


# ---------------------------------------------------------------- roles


ASSIGN = "mutation($u:ID!,$r:String!){ assignRole(userId:$u, role:$r){ id roles } }"
REVOKE = "mutation($u:ID!,$r:String!){ revokeRole(userId:$u, role:$r){ id roles } }"


async def test_admin_assigns_and_revokes_a_role(gql: GraphQLClient, ws: Workspace) -> None:
    user = await make_user(gql, ws, ["sales"])
    token = await gql.login(ws.slug, user["email"])
    # As sales, they may not add users.
    assert code_of(await gql.raw(CREATE_USER, {"i": _valid_user(new_email("x"))}, token)) == "FORBIDDEN"

    assigned = (await gql.ok(ASSIGN, {"u": user["id"], "r": "admin"}, ws.admin_token))["assignRole"]
    assert assigned == {"id": user["id"], "roles": ["admin", "sales"]}
    assert (await gql.ok(ME, token=token))["me"]["roles"] == ["admin", "sales"]
    # The same token now carries the new role's permissions.
    await gql.ok(CREATE_USER, {"i": _valid_user(new_email("made-by-new-admin"))}, token)

    revoked = (await gql.ok(REVOKE, {"u": user["id"], "r": "admin"}, ws.admin_token))["revokeRole"]
    assert revoked == {"id": user["id"], "roles": ["sales"]}
    assert (await gql.ok(ME, token=token))["me"]["roles"] == ["sales"]
    assert code_of(await gql.raw(CREATE_USER, {"i": _valid_user(new_email("y"))}, token)) == "FORBIDDEN"


async def test_role_changes_are_checked(gql: GraphQLClient, ws: Workspace) -> None:
    from schema.ids import to_global

    user = await make_user(gql, ws, ["sales"])
    unknown_role = only_error(await gql.raw(ASSIGN, {"u": user["id"], "r": "astronaut"}, ws.admin_token))
    assert unknown_role["extensions"] == {"code": "BAD_USER_INPUT", "field": "role"}
    not_held = only_error(await gql.raw(REVOKE, {"u": user["id"], "r": "manager"}, ws.admin_token))
    assert not_held["extensions"]["code"] == "NOT_FOUND"
    no_user = only_error(await gql.raw(ASSIGN, {"u": to_global("User", uuid.uuid4()), "r": "sales"}, ws.admin_token))
    assert no_user["extensions"]["code"] == "NOT_FOUND"
    me = (await gql.ok(ME, token=await gql.login(ws.slug, user["email"])))["me"]
    assert me["roles"] == ["sales"]


# ---------------------------------------------------------------- API keys


async def test_an_api_key_is_shown_once_works_as_bearer_and_stops_when_revoked(
    gql: GraphQLClient, ws: Workspace
) -> None:
    await ws.contact(firstName="Key", lastName="Holder")
    created = (await gql.ok(CREATE_KEY, {"n": "Partner sync", "r": "manager"}, ws.admin_token))["createApiKey"]
    key, api_key = created["key"], created["apiKey"]
    assert api_key["name"] == "Partner sync"
    assert api_key["role"] == "manager"
    assert api_key["revokedAt"] is None
    # Without an expiry the key gets the default one: CRM_API_KEY_DEFAULT_DAYS (365) from now.
    expires = datetime.fromisoformat(api_key["expiresAt"])
    assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)
    # Only a short prefix is kept for recognition; the secret part is never shown again.
    assert key.startswith(api_key["prefix"]) and len(api_key["prefix"]) < len(key) - 20
    api_key_fields = await gql.ok('{ __type(name: "ApiKey") { fields { name } } }', token=ws.admin_token)
    assert "key" not in {f["name"] for f in api_key_fields["__type"]["fields"]}

    listed = (await gql.ok(CONTACTS, token=key))["contacts"]
    assert listed["totalCount"] >= 1
    # A key is not a user.
    assert code_of(await gql.raw(ME, token=key)) == "NOT_FOUND"
    # A key acts with its role only: a manager may not create users.
    assert code_of(await gql.raw(CREATE_USER, {"i": _valid_user(new_email("via-key"))}, key)) == "FORBIDDEN"

    revoked = (await gql.ok(REVOKE_KEY, {"id": api_key["id"]}, ws.admin_token))["revokeApiKey"]
    assert revoked["id"] == api_key["id"] and revoked["revokedAt"] is not None
    body = await gql.raw(CONTACTS, token=key)
    assert code_of(body) == "UNAUTHENTICATED"
    assert body.get("data") is None


async def test_an_expired_api_key_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    created = (
        await gql.ok(CREATE_KEY, {"n": "Short-lived", "r": "support", "x": expires.isoformat()}, ws.admin_token)
    )["createApiKey"]
    assert datetime.fromisoformat(created["apiKey"]["expiresAt"]) == expires
    await gql.ok(CONTACTS, token=created["key"])
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    assert code_of(await gql.raw(CONTACTS, token=created["key"])) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"n": "Bad role", "r": "astronaut"}, "role"),
        ({"n": "  ", "r": "manager"}, "name"),
        ({"n": "In the past", "r": "manager", "x": "2020-01-01T00:00:00Z"}, "expiresAt"),
    ],
    ids=["unknown-role", "blank-name", "expiry-in-the-past"],
)
async def test_create_api_key_rejects_bad_input(
    gql: GraphQLClient, ws: Workspace, variables: dict[str, Any], field: str
) -> None:
    body = await gql.raw(CREATE_KEY, variables, ws.admin_token)
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert body["data"] is None


async def test_a_forged_key_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    forged = credentials.new_api_key(ws.slug)
    assert code_of(await gql.raw(CONTACTS, token=forged)) == "UNAUTHENTICATED"


async def test_revoking_an_unknown_key_is_not_found(gql: GraphQLClient, ws: Workspace) -> None:
    from schema.ids import to_global

    body = await gql.raw(REVOKE_KEY, {"id": to_global("ApiKey", uuid.uuid4())}, ws.admin_token)
    assert code_of(body) == "NOT_FOUND"


async def test_an_expiry_without_a_time_zone_is_refused(gql: GraphQLClient, ws: Workspace) -> None:
    # "2030-01-01T00:00:00" could be Hong Kong or UTC time: the API does not guess.
    body = await gql.raw(CREATE_KEY, {"n": "Ambiguous", "r": "manager", "x": "2030-01-01T00:00:00"}, ws.admin_token)
    assert only_error(body)["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["data"] is None
    hk = (await gql.ok(CREATE_KEY, {"n": "HK time", "r": "manager", "x": "2030-01-01T08:00:00+08:00"}, ws.admin_token))[
        "createApiKey"
    ]
    assert datetime.fromisoformat(hk["apiKey"]["expiresAt"]) == datetime(2030, 1, 1, tzinfo=UTC)


async def test_api_keys_work_in_a_workspace_with_the_longest_slug(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    long = await workspaces.create(slug=f"w{secrets.token_hex(15)}z")
    assert len(long.slug) == 32
    created = (await gql.ok(CREATE_KEY, {"n": "Long slug", "r": "manager"}, long.admin_token))["createApiKey"]
    assert created["key"].startswith(created["apiKey"]["prefix"])
    assert (await gql.ok(CONTACTS, token=created["key"]))["contacts"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("workspace", "email"),
    [("W" * 300, "a@example.com"), ("", "")],
    ids=["overlong-workspace", "empty"],
)
async def test_strange_login_input_is_just_a_failed_login(
    gql: GraphQLClient, ws: Workspace, workspace: str | None, email: str
) -> None:
    body = await gql.raw(LOGIN, {"w": workspace or ws.slug, "e": email, "p": PASSWORD})
    assert only_error(body)["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    ("workspace", "email", "argument"),
    [("x\u0000y", "a@example.com", "workspace"), (None, "admin\u0000@example.com", "email")],
    ids=["nul-in-workspace", "nul-in-email"],
)
async def test_a_nul_in_login_input_is_bad_input_naming_the_argument(
    gql: GraphQLClient, ws: Workspace, workspace: str | None, email: str, argument: str
) -> None:
    body = await gql.raw(LOGIN, {"w": workspace or ws.slug, "e": email, "p": PASSWORD})
    assert only_error(body)["extensions"] == {"code": "BAD_USER_INPUT", "field": argument}
