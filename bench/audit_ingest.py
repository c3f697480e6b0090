"""Audit ingestion benchmark on a throwaway workspace database: field-reads per second (target >= 50k/s).

Run with `.venv/bin/python bench/audit_ingest.py` (on `DATABASE_URL` when set, else embedded servers, like
every benchmark here: see bench/harness.py). Each batch is 1,000 READ events of 5 fields, flushed as one
chained batch (one round trip: `audit_append`) and committed, in two shapes measured side by side:

- "list read": the events of one contact list (same fields, one record each), which the writer stores as one
  grouped physical row naming all 1,000 records (what a `contacts(first:...)` request writes);
- "distinct": 1,000 events that cannot be grouped (each names a different field set and carries details), so
  1,000 physical rows are written (what a batch of updates or single-record reads writes).

Prints events/s, physical rows/s and field-reads/s for each, then the chain verification speed over the
physical rows actually stored (counted in the database, not derived).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import uuid

from harness import bench_app
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from db.audit import AuditActor, AuditBuffer, flush, verify_chain
from db.models.meta import audit_log

BATCHES = 50
EVENTS_PER_BATCH = 1_000
FIELDS = ("firstName", "lastName", "email", "phone", "company")
CATEGORIES = ("name", "contact")


def list_read(actor: AuditActor, batch: int) -> AuditBuffer:
    """One list request's reads: they group into a single physical row."""
    buffer = AuditBuffer(actor)
    for i in range(EVENTS_PER_BATCH):
        buffer.read("contact", f"{batch}-{i}", FIELDS, CATEGORIES)
    return buffer


def distinct(actor: AuditActor, batch: int) -> AuditBuffer:
    """Events that cannot group: each has its own field set and details, so each is its own row."""
    buffer = AuditBuffer(actor)
    for i in range(EVENTS_PER_BATCH):
        fields = (*FIELDS, f"custom.f{i}")
        buffer.event(
            "UPDATE",
            entity_type="contact",
            entity_id=f"{batch}-{i}",
            fields=fields,
            categories=CATEGORIES,
            details={"n": i},
        )
    return buffer


async def timed_flush(sessions: async_sessionmaker[AsyncSession], buffer: AuditBuffer) -> float:
    gc.collect()  # start every batch from the same heap
    async with sessions() as session:
        started = time.perf_counter()
        await flush(session, buffer)
        await session.commit()
        return time.perf_counter() - started


async def stored_rows(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(audit_log)) or 0)


async def run(engine: AsyncEngine) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    actor = AuditActor(uuid.uuid4(), "user", request_id="bench", client_ip="203.0.113.1", user_agent="bench")
    await timed_flush(sessions, list_read(actor, -1))  # warm-up: pool, plans
    await timed_flush(sessions, distinct(actor, -1))
    spent = {"list read": 0.0, "distinct": 0.0}
    written = {"list read": 0, "distinct": 0}
    for batch in range(BATCHES):  # interleaved, so machine load hits both shapes alike
        for label, make in (("list read", list_read), ("distinct", distinct))[:: 1 if batch % 2 else -1]:
            before = await stored_rows(sessions)
            spent[label] += await timed_flush(sessions, make(actor, batch))
            written[label] += await stored_rows(sessions) - before
    events = BATCHES * EVENTS_PER_BATCH
    for label in spent:
        seconds = spent[label]
        print(
            f"audit ingest, {label} (one round trip per batch, incl. commit): {events / seconds:,.0f} events/s, "
            f"{written[label] / seconds:,.0f} physical rows/s ({written[label]:,} rows), "
            f"{events * len(FIELDS) / seconds:,.0f} field-reads/s",
            flush=True,
        )
    total = await stored_rows(sessions)
    async with sessions() as session:
        started = time.perf_counter()
        report = await verify_chain(session)
        elapsed = time.perf_counter() - started
    print(
        f"verify_chain: ok={report.ok}, {report.checked_batches} batches, {total:,} stored rows, "
        f"{total / elapsed:,.0f} stored rows/s"
    )


async def main() -> int:
    async with bench_app() as b:
        tenant, _ = await b.workspace()
        await run(tenant.engine)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
