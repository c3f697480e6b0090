"""Shared helpers of the workspace tests: the CLI as a process, raw SQL on a workspace database, its audit rows."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select

from db.models.meta import audit_events
from db.sessions import database_url
from db.tenancy import Tenant
from resolvers.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    """`python main.py ...` with this session's settings (its data dir, database prefix and keys)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "main.py",
        *args,
        cwd=ROOT,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_cli(*args: str, timeout: float = 120) -> Run:
    proc = await start_cli(*args)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


async def tenant_of(runtime: Runtime, slug: str) -> Tenant:
    runtime.directory.invalidate(slug)
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    return tenant


async def raw(tenant: Tenant) -> asyncpg.Connection:
    """A plain asyncpg connection to the workspace database (no application code in between)."""
    dsn = database_url(tenant.server_url, tenant.database_name).set(drivername="postgresql")
    return await asyncpg.connect(dsn.render_as_string(hide_password=False))


async def audit_rows(runtime: Runtime, slug: str, **where: Any) -> list[Any]:
    """The workspace's audit rows matching column == value, oldest first."""
    tenant = await tenant_of(runtime, slug)
    stmt = select(audit_events).where(*(audit_events.c[k] == v for k, v in where.items()))
    async with tenant.engine.connect() as conn:
        return list((await conn.execute(stmt.order_by(audit_events.c.occurred_at, audit_events.c.id))).all())


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]
