"""The command line, run as a separate process with the test session's settings.

Without DATABASE_URL / REDIS_URL the command attaches to the embedded servers this session runs under
CRM_DATA_DIR (it must neither start second ones nor stop them); with them it uses the same servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import secrets
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import main
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


async def run_cli(*args: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "main.py",
        *args,
        cwd=ROOT,
        env=dict(os.environ),  # CRM_DB_PREFIX, CRM_DATA_DIR and the keys set by conftest
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def create_args(slug: str, *, region: str | None = None, email: str | None = None) -> list[str]:
    args = ["workspace", "create", "--slug", slug, "--name", f"Shop {slug}"]
    args += ["--admin-email", email or f"owner-{secrets.token_hex(3)}@example.com", "--admin-password", PASSWORD]
    return [*args, "--region", region] if region else args


async def test_workspace_create_prints_the_slug_and_the_admin_can_sign_in(
    endpoints: main.Endpoints, gql: GraphQLClient
) -> None:
    slug = f"cli-{secrets.token_hex(4)}"
    email = f"owner-{secrets.token_hex(3)}@example.com"
    run = await run_cli(*create_args(slug, region="hk", email=email))
    assert run.code == 0, run.err
    assert run.out.strip().splitlines() == [slug]
    assert "Traceback" not in run.err

    # The command wrote to this session's catalog with this session's keys.
    token = await gql.login(slug, email)
    me = await gql.ok("{ me { email roles } }", token=token)
    assert me["me"] == {"email": email, "roles": ["admin"]}
    # And it left the session's servers running.
    assert (await gql.http.get("/readyz")).status_code == 200

    again = await run_cli(*create_args(slug))
    assert again.code != 0
    assert again.out.strip() == ""
    assert len(again.err_lines) == 1, again.err
    assert again.err_lines[0].startswith("error: ") and slug in again.err_lines[0] and "exists" in again.err_lines[0]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (create_args("Bad Slug!"), "slug"),
        (create_args(f"cli-{secrets.token_hex(3)}", region="mars"), "region"),
        (create_args(f"cli-{secrets.token_hex(3)}", email="not-an-email"), "e-mail"),
    ],
    ids=["bad-slug", "unknown-region", "bad-admin-email"],
)
async def test_workspace_create_refuses_bad_input_with_a_one_line_reason(
    endpoints: main.Endpoints, args: list[str], reason: str
) -> None:
    run = await run_cli(*args)
    assert run.code != 0
    assert run.out.strip() == ""
    assert len(run.err_lines) == 1, run.err
    assert run.err_lines[0].startswith("error: ")
    assert reason in run.err_lines[0]


async def test_migrate_reports_every_workspace(endpoints: main.Endpoints, workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    slugs = await workspaces.runtime.directory.all_slugs()
    run = await run_cli("migrate")
    assert run.code == 0, run.err
    lines = run.out.strip().splitlines()
    assert lines[0] == "catalog: up to date"
    assert lines[-1] == f"migrated {len(slugs)} workspace(s), 0 failed"
    # Every workspace was migrated when it was created: running it again changes nothing.
    assert len(lines[1:-1]) == len(slugs)
    assert all(line.startswith("workspace ") and ": up to date (" in line for line in lines[1:-1]), lines
    assert sum(line.startswith(f"workspace {ws.slug}: ") for line in lines) == 1


async def test_export_workspace_writes_the_archive_and_prints_its_path_size_and_digest(
    endpoints: main.Endpoints, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    await ws.contact(firstName="Chan", lastName="Tai Man", email="chan@example.com", hkid="A123456(3)")
    run = await run_cli("export", "workspace", "--slug", ws.slug)
    assert run.code == 0, run.err
    assert "Traceback" not in run.err and run.err_lines[-1].endswith("100%"), run.err
    path, summary = run.out.strip().splitlines()
    data = Path(path).read_bytes()
    assert summary == f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        contacts = [json.loads(line) for line in archive.read("contacts.jsonl").splitlines()]
    assert [(c["firstName"], c["hkid"]) for c in contacts] == [("Chan", "A123456(3)")]  # the operator's copy: in clear

    missing = await run_cli("export", "workspace", "--slug", f"no-{secrets.token_hex(3)}")
    assert missing.code != 0 and missing.out.strip() == ""
    assert len(missing.err_lines) == 1 and missing.err_lines[0].startswith("error: "), missing.err
