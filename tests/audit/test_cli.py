"""`main.py audit verify` and `main.py audit maintain`, run as the operator would (a separate process attached
to the same servers), and the auditChain query on a tampered log."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx

from resolvers.runtime import Runtime
from tests.audit.helpers import execute, ok, rows
from tests.factories.workspaces import WorkspaceFactory

ROOT = Path(__file__).resolve().parents[2]


async def cli(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "main.py"),
        *args,
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_verify_passes_then_names_the_tampered_batch(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    for i in range(3):
        await ws.contact(firstName=f"Chan{i}", email=f"c{i}@example.com")
    code, out, err = await cli("audit", "verify", "--workspace", ws.slug)
    assert code == 0, (out, err)
    assert "ok" in out and ws.slug in out

    [victim] = [r for r in await rows(runtime, ws.slug, action="CREATE", entity_type="contact")][1:2]
    await execute(
        runtime,
        ws.slug,
        "UPDATE audit_log SET fields = ARRAY['company'] WHERE id = :id",
        {"id": victim.id},
    )
    code, out, err = await cli("audit", "verify", "--workspace", ws.slug)
    assert code == 1, (out, err)
    assert f"batch {victim.batch_seq}" in out and "BROKEN" in out

    query = "query{auditChain{ok checkedBatches firstBrokenSeq reason}}"
    report = (await ok(http, query, token=ws.admin_token))["auditChain"]
    assert report["ok"] is False and report["firstBrokenSeq"] == victim.batch_seq
    assert report["checkedBatches"] == victim.batch_seq - 1
    assert f"batch {victim.batch_seq}" in report["reason"]

    code, out, err = await cli("audit", "verify", "--workspace", "no-such-workspace")
    assert code == 2 and "no-such-workspace" in err


async def test_maintain_one_or_every_workspace(workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    code, out, err = await cli("audit", "maintain", "--workspace", ws.slug)
    assert code == 0, (out, err)
    assert f"workspace {ws.slug}:" in out and "maintained 1 workspace(s)" in out
    code, out, err = await cli("audit", "maintain")
    assert code == 0, (out, err)
    assert f"workspace {ws.slug}: partitions up to date" in out
