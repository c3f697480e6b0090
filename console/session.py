"""The console's cookie session: the bearer token GraphQL would use, signed with CRM_SECRET_KEY, and CSRF tokens.

The cookie holds a random nonce and, once signed in, the session token and workspace. It is HttpOnly,
SameSite=Strict, Secure under TLS, and signed with HMAC-SHA256 so a browser cannot forge or alter it. Each
form carries `csrf`, an HMAC of the nonce: a page of another site can neither read nor compute it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "crm_console"
LANG_COOKIE = "crm_console_lang"
MAX_AGE = 8 * 3600  # the session token's own lifetime
PATH = "/admin"


@dataclass(frozen=True)
class ConsoleSession:
    nonce: str
    token: str | None = None
    workspace: str | None = None

    @classmethod
    def fresh(cls, token: str | None = None, workspace: str | None = None) -> ConsoleSession:
        return cls(secrets.token_urlsafe(18), token, workspace)

    def csrf(self, secret: str) -> str:
        return _sign(secret, f"csrf:{self.nonce}")

    def csrf_ok(self, secret: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(secret), str(presented))


def _sign(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), f"crm-console:{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def encode(session: ConsoleSession, secret: str) -> str:
    body = json.dumps({"n": session.nonce, "t": session.token, "w": session.workspace}, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_sign(secret, payload)}"


def decode(value: str | None, secret: str) -> ConsoleSession | None:
    """The session in a cookie value; None when missing, malformed or not signed by us."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return ConsoleSession(str(data["n"]), data.get("t"), data.get("w"))
    except (ValueError, KeyError, TypeError):
        return None


def read(request: Request, secret: str) -> ConsoleSession | None:
    return decode(request.cookies.get(COOKIE), secret)


def write(response: Response, request: Request, session: ConsoleSession, secret: str) -> None:
    response.set_cookie(
        COOKIE,
        encode(session, secret),
        max_age=MAX_AGE,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict")
