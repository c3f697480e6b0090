"""Console test helpers: sign in through the console's own form (CSRF token and cookie), read a form's token."""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def console_client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client of its own (its own cookie jar) on the same app as `http`."""
    return httpx.AsyncClient(transport=http._transport, base_url="http://testserver")


async def sign_in(client: httpx.AsyncClient, workspace: str, email: str, password: str) -> httpx.Response:
    page = await client.get("/admin/login")
    return await client.post(
        "/admin/login",
        data={"csrf": csrf_of(page.text), "workspace": workspace, "email": email, "password": password,
              "next": "/admin/"},
    )
