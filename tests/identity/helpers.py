"""Shared steps of the identity administration tests: sign-in with the whole session, error codes, audit rows."""

from __future__ import annotations

from typing import Any

from tests.factories.workspaces import PASSWORD, GraphQLClient

LOGIN = """mutation($w:String!,$e:String!,$p:String!,$o:String){
  login(workspace:$w,email:$e,password:$p,otp:$o){ token refreshToken expiresAt mfaEnrolmentRequired
    user { id email active mfaEnabled lastLoginAt } }
}"""
ME = "{ me { id email active } }"
REFRESH = "mutation($r:String!){ refreshSession(refreshToken:$r){ token refreshToken user { email roles } } }"


async def session(gql: GraphQLClient, slug: str, email: str, password: str = PASSWORD, otp: str | None = None
                  ) -> dict[str, Any]:
    return (await gql.ok(LOGIN, {"w": slug, "e": email, "p": password, "o": otp}))["login"]  # type: ignore[no-any-return]


def error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]["extensions"]  # type: ignore[no-any-return]


def code(body: dict[str, Any]) -> str:
    return str(error(body)["code"])


async def signed_in(gql: GraphQLClient, token: str) -> bool:
    """True when the token still works; False when it is refused as UNAUTHENTICATED (anything else fails)."""
    body = await gql.raw(ME, token=token)
    if body.get("errors"):
        assert code(body) == "UNAUTHENTICATED", body
        return False
    return True
