"""A partner's client of the CRM API, in one file (httpx): sign in, page through contacts, refresh the session,
and check a webhook delivery's signature.

    python examples/python/crm_client.py --url http://127.0.0.1:8000 --workspace demo \
        --email admin@demo.example.com --password demo-password-2026

prints every contact the user may see, one page at a time. An integration with an API key skips `login` and
sends `Authorization: Bearer <key>` instead. `verify_webhook` is what a receiver runs on each delivery, on the
raw body, before trusting it; `serve_webhooks` is a minimal receiver that does so.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import http.server
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

LOGIN = """
mutation Login($workspace: String!, $email: String!, $password: String!, $otp: String) {
  login(workspace: $workspace, email: $email, password: $password, otp: $otp) { token refreshToken expiresAt }
}"""
REFRESH = """
mutation Refresh($refreshToken: String!) {
  refreshSession(refreshToken: $refreshToken) { token refreshToken expiresAt }
}"""
CONTACTS = """
query Contacts($first: Int!, $after: String) {
  contacts(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id firstName lastName email phone } }
  }
}"""


class CrmError(Exception):
    """The API answered with errors: `code` is `extensions.code` of the first (UNAUTHENTICATED, FORBIDDEN, ...)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.code = (errors[0].get("extensions") or {}).get("code", "UNKNOWN")
        super().__init__(f"{self.code}: {errors[0].get('message')}")


@dataclass
class Session:
    token: str
    refresh_token: str
    expires_at: str


async def graphql(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
                  token: str | None = None) -> dict[str, Any]:
    """One request to `POST /graphql`; the data, or CrmError with the API's typed error."""
    headers = {"Accept": "application/graphql-response+json, application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    if response.status_code == 429:  # RATE_LIMITED: wait as told, then the caller retries
        raise CrmError([{"message": "rate limited", "extensions": {"code": "RATE_LIMITED",
                                                                   "retryAfter": response.headers.get("Retry-After")}}])
    body = response.json()
    if body.get("errors"):
        raise CrmError(body["errors"])
    return body["data"]


async def login(client: httpx.AsyncClient, workspace: str, email: str, password: str,
                otp: str | None = None) -> Session:
    data = await graphql(client, LOGIN, {"workspace": workspace, "email": email, "password": password, "otp": otp})
    s = data["login"]
    return Session(s["token"], s["refreshToken"], s["expiresAt"])


async def refresh(client: httpx.AsyncClient, session: Session) -> Session:
    """A new session for the refresh token; the old refresh token stops working (reusing it ends the session)."""
    s = (await graphql(client, REFRESH, {"refreshToken": session.refresh_token}))["refreshSession"]
    return Session(s["token"], s["refreshToken"], s["expiresAt"])


async def contacts(client: httpx.AsyncClient, token: str, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
    """Every contact the caller may see, following `endCursor` (fields the caller may not read come back masked
    or null, as the API decides)."""
    after: str | None = None
    while True:
        page = (await graphql(client, CONTACTS, {"first": page_size, "after": after}, token))["contacts"]
        for edge in page["edges"]:
            yield edge["node"]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def verify_webhook(header: str, body: bytes, secret: str, tolerance: int = 300, now: float | None = None) -> bool:
    """`X-CRM-Signature: t=<unix>,v1=<hex>[,v1=...]`: true when one v1 is HMAC-SHA256(secret, "<t>.<body>") and t is
    within `tolerance` seconds (a replay outside the window is refused)."""
    pairs = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in pairs if k == "t"]
    now = time.time() if now is None else now
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in pairs)


def serve_webhooks(port: int, secret: str) -> None:
    """A receiver on 127.0.0.1:port printing each verified event; a bad signature gets 401 (the CRM retries).
    De-duplicate on the event's `id`: delivery is at least once."""
    seen: set[str] = set()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not verify_webhook(self.headers.get("X-CRM-Signature", ""), body, secret):
                self.send_response(401)
                self.end_headers()
                return
            event = json.loads(body)
            if event["id"] not in seen:
                seen.add(event["id"])
                print(event["type"], event["data"].get("id"), event["data"].get("changedFields"))
            self.send_response(204)
            self.end_headers()

    http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--email", default="admin@demo.example.com")
    parser.add_argument("--password", default="demo-password-2026")
    parser.add_argument("--otp", help="the one-time code, for a user with MFA")
    parser.add_argument("--webhooks", type=int, metavar="PORT", help="receive webhooks on this port instead")
    parser.add_argument("--secret", help="the webhook's signing secret (with --webhooks)")
    args = parser.parse_args()
    if args.webhooks:
        serve_webhooks(args.webhooks, args.secret or "")
        return
    async with httpx.AsyncClient(base_url=args.url, timeout=30) as client:
        session = await login(client, args.workspace, args.email, args.password, args.otp)
        count = 0
        async for contact in contacts(client, session.token):
            count += 1
            print(contact["id"], contact["firstName"], contact["lastName"], contact["email"], contact["phone"])
        print(f"{count} contacts")


if __name__ == "__main__":
    asyncio.run(_main())
