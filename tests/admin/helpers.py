"""Console test helpers: sign in through the console's own form (CSRF token and cookie), read a form's token."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx

from tests.factories.workspaces import PASSWORD, Workspace

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


@contextlib.asynccontextmanager
async def signed_in(
    http: httpx.AsyncClient, ws: Workspace, email: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A console client signed in to `ws` as `email` (the workspace's admin by default)."""
    async with await console_client(http) as client:
        response = await sign_in(client, ws.slug, email or ws.admin_email, PASSWORD)
        assert response.status_code == 303, response.text[:2000]
        yield client


async def submit(client: httpx.AsyncClient, page: httpx.Response, path: str, **data: str) -> httpx.Response:
    """Post a form to `path` with the CSRF token of `page` (the page the form is on)."""
    return await client.post(path, data={"csrf": csrf_of(page.text), **data})
