"""Audit ingestion benchmark on a throwaway workspace database: field-reads per second (target >= 50k/s).

Run with `.venv/bin/python bench/audit_ingest.py` (on `DATABASE_URL` when set, else embedded servers, like
every benchmark here: see bench/harness.py). Each batch is 1,000 READ events
of 5 fields, flushed as one chained batch (one round trip: `audit_append`) and committed. Prints rows/s and
field-reads/s (rows x fields), then the chain verification speed.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import uuid

from harness import bench_app
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.audit import AuditActor, AuditBuffer, flush, verify_chain

BATCHES = 50
EVENTS_PER_BATCH = 1_000
FIELDS = ("firstName", "lastName", "email", "phone", "company")
CATEGORIES = ("name", "contact")


def make_buffer(actor: AuditActor, batch: int) -> AuditBuffer:
    buffer = AuditBuffer(actor)
    for i in range(EVENTS_PER_BATCH):
        buffer.read("contact", f"{batch}-{i}", FIELDS, CATEGORIES)
    return buffer


async def timed_flush(sessions: async_sessionmaker[AsyncSession], buffer: AuditBuffer) -> float:
    gc.collect()  # start every batch from the same heap
    async with sessions() as session:
        started = time.perf_counter()
        await flush(session, buffer)
        await session.commit()
        return time.perf_counter() - started


def line(label: str, rows: int, seconds: float) -> str:
    return f"{label}: {rows / seconds:,.0f} rows/s, {rows * len(FIELDS) / seconds:,.0f} field-reads/s"


async def run(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    actor = AuditActor(uuid.uuid4(), "user", request_id="bench", client_ip="203.0.113.1", user_agent="bench")
    await timed_flush(sessions, make_buffer(actor, -1))  # warm-up: pool, plans
    spent = 0.0
    for batch in range(BATCHES):
        spent += await timed_flush(sessions, make_buffer(actor, batch))
    rows = BATCHES * EVENTS_PER_BATCH
    print(line("audit ingest (one round trip per batch, incl. commit)", rows, spent))
    async with sessions() as session:
        started = time.perf_counter()
        report = await verify_chain(session)
        elapsed = time.perf_counter() - started
    total = rows * 2 + EVENTS_PER_BATCH
    print(f"verify_chain: ok={report.ok}, {report.checked_batches} batches, {total / elapsed:,.0f} rows/s")


async def main() -> int:
    async with bench_app() as b:
        tenant, _ = await b.workspace()
        await run(tenant.engine)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
