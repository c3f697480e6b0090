"""The developer kit in `examples/` works against the real API: the Python client signs in, pages through
contacts and refreshes its session, its webhook verifier accepts our signature and refuses tampering and
replays; the TypeScript client's types are generated from the checked-in SDL and compile (when npm is here)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from resolvers.webhooks import signing
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def python_client() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crm_client", EXAMPLES / "python" / "crm_client.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_python_client_signs_in_pages_and_refreshes(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    client = python_client()
    ws = await workspaces.create()
    made = {await ws.contact(firstName=f"Person{i}", lastName="Lee", email=f"p{i}@example.com") for i in range(5)}
    session = await client.login(http, ws.slug, ws.admin_email, PASSWORD)
    seen = [c async for c in client.contacts(http, session.token, page_size=2)]
    assert {c["id"] for c in seen} == made and len(seen) == 5
    assert {c["email"] for c in seen} == {f"p{i}@example.com" for i in range(5)}

    renewed = await client.refresh(http, session)
    assert renewed.refresh_token != session.refresh_token  # rotated (the access token may equal within a second)
    assert [c async for c in client.contacts(http, renewed.token, page_size=50)]
    with pytest.raises(client.CrmError) as refused:  # the old refresh token stops working
        await client.refresh(http, session)
    assert refused.value.code == "UNAUTHENTICATED"
    with pytest.raises(client.CrmError) as wrong:
        await client.login(http, ws.slug, ws.admin_email, "not the password")
    assert wrong.value.code == "UNAUTHENTICATED"


def test_python_webhook_verifier_agrees_with_our_signature() -> None:
    verify = python_client().verify_webhook
    body = b'{"id":"evt_1","type":"contact.created"}'
    now = int(time.time())
    header = signing.header(["new-secret", "old-secret"], now, body)  # a rotation: both secrets sign
    assert verify(header, body, "new-secret") and verify(header, body, "old-secret")
    assert not verify(header, body, "another-secret")
    assert not verify(header, body + b" ", "new-secret")  # a changed body
    stale = signing.header(["new-secret"], now - 301, body)
    assert not verify(stale, body, "new-secret")  # a replay outside the 5-minute window
    assert not verify("v1=" + signing.signature("new-secret", now, body), body, "new-secret")  # no timestamp


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_typescript_client_types_generate_and_compile() -> None:
    project = EXAMPLES / "typescript"
    if not (project / "node_modules" / ".bin" / "graphql-codegen").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=project, check=True,
                       timeout=900, capture_output=True)
    result = subprocess.run(["npm", "run", "--silent", "check"], cwd=project, timeout=600, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    generated = (project / "src" / "generated" / "graphql.ts").read_text()
    assert "export type ContactsQuery" in generated and "LoginDocument" in generated
