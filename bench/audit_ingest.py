"""Audit ingestion benchmark on a throwaway workspace database: field-reads per second (target >= 50k/s).

Run with `.venv/bin/python bench/audit_ingest.py`. The server is `DATABASE_URL` (any postgresql:// URL; its
database part is replaced), default postgres on 127.0.0.1 with trust auth. Each batch is 1,000 READ events
of 5 fields, flushed as one chained batch (one round trip: `audit_append`) and committed. Prints rows/s and
field-reads/s (rows x fields), then the chain verification speed.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import sys
import time
import uuid

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from db.audit import AuditActor, AuditBuffer, flush, verify_chain
from db.migrate import upgrade

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BATCHES = 50
EVENTS_PER_BATCH = 1_000
FIELDS = ("contact.first_name", "contact.last_name", "contact.email", "contact.phone", "contact.company")
CATEGORIES = ("identity", "contact_details")


def server_url(database: str) -> URL:
    return make_url(os.environ.get("DATABASE_URL") or DEFAULT_SERVER).set(
        drivername="postgresql+asyncpg", database=database
    )


def admin_engine() -> AsyncEngine:
    server = make_url(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    return create_async_engine(
        server_url(server.database or "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


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
    name = f"crm_bench_audit_{secrets.token_hex(6)}"
    admin = admin_engine()
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_async_engine(server_url(name), pool_size=2, max_overflow=0)
    try:
        await upgrade(engine, "workspace")
        await run(engine)
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
