"""Audit overhead benchmark, in one run: a sales rep's contact lists with the audit flush on vs. off.

The rep reads 100 and 1,000 of their contacts (pages of at most 200, the contract's cap), selecting 9 fields
of which 6 are PII (HKID and salary masked), so every request audits one READ event per contact. "Off"
replaces both the collection (`AuditBuffer.read`) and `db.audit.flush` with no-ops *in this process only*, so
the off arm neither collects nor writes events: the product has no switch for it. Samples are interleaved;
prints medians and the ratio (target <= 1.10x).

    .venv/bin/python bench/audit_overhead.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from harness import Bench, bench_app, bulk_contacts, paired
from sqlalchemy import func, select

import db.audit
from db.models.meta import audit_events
from db.sessions import session_factory
from schema.ids import from_global

FIELDS = "id firstName lastName email phone hkid salaryMasked company stage"
LIST = "query($n:Int!,$a:String){contacts(first:$n,after:$a){pageInfo{endCursor}edges{node{" + FIELDS + "}}}}"
REPEAT = 15
REAL_FLUSH = db.audit.flush
REAL_READ = db.audit.AuditBuffer.read


async def no_flush(session: Any, buffer: db.audit.AuditBuffer) -> int:
    """The "off" side: drop the buffered events instead of writing them (benchmark only)."""
    count = len(buffer)
    buffer.clear()
    return count


def no_read(self: db.audit.AuditBuffer, *args: Any, **kwargs: Any) -> None:
    """The "off" side: collect nothing (benchmark only)."""


def audit_off(on: bool) -> None:
    db.audit.flush = no_flush if on else REAL_FLUSH  # type: ignore[assignment]
    db.audit.AuditBuffer.read = no_read if on else REAL_READ  # type: ignore[method-assign]


async def read(b: Bench, token: str, total: int) -> int:
    seen, after = 0, None
    while seen < total:
        page = (await b.gql(LIST, {"n": min(200, total - seen), "a": after}, token))["data"]["contacts"]
        seen += len(page["edges"])
        after = page["pageInfo"]["endCursor"]
    return seen


async def run() -> None:
    async with bench_app() as b:
        tenant, admin = await b.workspace()
        team = (await b.gql('mutation{createTeam(name:"East"){id}}', None, admin))["data"]["createTeam"]["id"]
        rep_id, token = await b.user(tenant, admin, ["sales"], team)
        await bulk_contacts(tenant, 1000, owner=from_global(rep_id)[1], team=from_global(team)[1])
        for n in (100, 1000):
            assert await read(b, token, n) == n
            on, off = await paired(
                lambda n=n: read(b, token, n), lambda n=n: read(b, token, n), REPEAT, around=audit_off
            )
            print(
                f"audit on/off, {n} contacts: {on:.1f} ms / {off:.1f} ms = {on / off:.2f}x (target <= 1.10x)",
                flush=True,
            )
        async with session_factory(tenant.engine)() as session:
            before = await session.scalar(
                select(func.count()).select_from(audit_events).where(audit_events.c.action == "READ")
            )
        await read(b, token, 100)
        async with session_factory(tenant.engine)() as session:
            after = await session.scalar(
                select(func.count()).select_from(audit_events).where(audit_events.c.action == "READ")
            )
            chain = await db.audit.verify_chain(session)
        print(f"check: one request of 100 contacts wrote {after - before} READ events; chain ok={chain.ok}", flush=True)


if __name__ == "__main__":
    asyncio.run(run())
