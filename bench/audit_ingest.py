"""Audit ingestion benchmark on throwaway workspace databases: field-reads per second, and commit rates of
concurrent writers on one workspace against a plain INSERT of the same rows (target >= 80% at 16 writers).

Run with `.venv/bin/python bench/audit_ingest.py` (on `DATABASE_URL` when set, else embedded servers, like
every benchmark here: see bench/harness.py).

1. Ingestion. Each batch is 1,000 READ events of 5 fields, flushed as one unsealed batch (one round trip:
   `audit_append`) and committed, in two shapes measured side by side:
   - "list read": the events of one contact list (same fields, one record each), which the writer stores as one
     grouped physical row naming all 1,000 records (what a `contacts(first:...)` request writes);
   - "distinct": 1,000 events that cannot be grouped (each names a different field set and carries details), so
     1,000 physical rows are written (what a batch of updates or single-record reads writes).
   Prints events/s, physical rows/s and field-reads/s for each (rows counted in the database), then the sealer's
   time for those batches and the verification speed over the physical rows actually stored.

2. Concurrent commits on one workspace. 1, 4 and 16 writers, each on its own connection, each commit one
   request's audit (a list read of 20 contacts: build the buffer, flush, commit), in three arms interleaved in
   short slices (`SLICES` x `SLICE_SECONDS` each, the order rotating, so machine load hits every arm alike):
   - "append": the product's path (`db.audit.flush`: canonical rows, digest, `audit_append`, no lock);
   - "plain insert": the same physical rows INSERTed into `audit_log` by SQLAlchemy, no digest, no batch row;
   - "old chain lock": the product's path plus the per-workspace `pg_advisory_xact_lock` held until COMMIT that
     `audit_append` took before the sealer (emulated here: what the issue measured).
   A sealer runs once a second throughout (as the `audit.seal` nudges do). Prints commits/s per arm (all slices'
   commits over their time), append / plain insert as a ratio (and the per-slice ratios' median and quartiles),
   then how long the sealer takes to catch up: what is left when the slices end, and a 16-writer burst written
   with no sealer running, sealed from cold.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from harness import bench_app
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from db.audit import AUDIT_COLUMNS, CHAIN_LOCK_KEY, AuditActor, AuditBuffer, flush, group_rows, seal, verify_chain
from db.models.meta import audit_log

BATCHES = 50
EVENTS_PER_BATCH = 1_000
FIELDS = ("firstName", "lastName", "email", "phone", "company")
CATEGORIES = ("name", "contact")
WRITERS = (1, 4, 16)
SLICES = 12  # per writer count: each arm runs once per slice, in rotating order
SLICE_SECONDS = 0.75  # short slices, so that the machine's load changes hit every arm alike
BURST_SECONDS = 3.0  # the cold-sealer burst
REQUEST_RECORDS = 20  # the records one request reads (one grouped audit row)


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
    started = time.perf_counter()
    sealed = await seal_everything(sessions)
    print(f"sealer: {sealed} batches linked in {time.perf_counter() - started:.3f} s")
    async with sessions() as session:
        started = time.perf_counter()
        report = await verify_chain(session)
        elapsed = time.perf_counter() - started
    print(
        f"verify_chain: ok={report.ok}, {report.checked_batches} batches, {total:,} stored rows, "
        f"{total / elapsed:,.0f} stored rows/s"
    )


async def seal_everything(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Run the sealer until nothing is left unsealed; returns the batches it linked."""
    total = 0
    while True:
        async with sessions() as session:
            sealed = await seal(session)
            await session.commit()
        if sealed is None:
            await asyncio.sleep(0.01)
            continue
        total += sealed
        async with sessions() as session:
            left = await session.scalar(text("SELECT count(*) FROM audit_batches WHERE chain_position IS NULL"))
        if not left:
            return total


def request_reads(actor: AuditActor, tag: str) -> AuditBuffer:
    buffer = AuditBuffer(actor)
    for i in range(REQUEST_RECORDS):
        buffer.read("contact", f"{tag}-{i}", FIELDS, CATEGORIES)
    return buffer


def plain_values(buffer: AuditBuffer) -> list[dict[str, Any]]:
    """The physical rows `flush` writes, as `audit_log` values (no batch)."""
    out = []
    for row in group_rows(buffer.rows()):
        values = dict(zip(AUDIT_COLUMNS, row, strict=True))
        entity = values.pop("entity_id")
        values["entity_ids"] = [] if entity is None else [entity] if isinstance(entity, str) else list(entity)
        out.append(values)
    return out


Commit = Callable[[AsyncSession, AuditBuffer], Awaitable[None]]


async def commit_append(session: AsyncSession, buffer: AuditBuffer) -> None:
    await flush(session, buffer)
    await session.commit()


async def commit_plain(session: AsyncSession, buffer: AuditBuffer) -> None:
    await session.execute(insert(audit_log), plain_values(buffer))
    await session.commit()


async def commit_locked(session: AsyncSession, buffer: AuditBuffer) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
    await flush(session, buffer)
    await session.commit()


ARMS: dict[str, Commit] = {"append": commit_append, "plain insert": commit_plain, "old chain lock": commit_locked}


async def burst(sessions: async_sessionmaker[AsyncSession], actor: AuditActor, commit: Commit, writers: int,
                seconds: float) -> tuple[int, float]:
    """`writers` tasks, each on its own connection, committing one request's audit after another for `seconds`;
    returns (commits, seconds elapsed)."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * writers

    async def writer(w: int) -> None:
        async with sessions() as session:
            await session.connection()  # its own connection for the whole round
            while time.perf_counter() < stop_at:
                await commit(session, request_reads(actor, f"w{w}-{counts[w]}"))
                counts[w] += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return sum(counts), time.perf_counter() - started


async def periodic_sealer(sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event) -> None:
    while not stop.is_set():
        async with sessions() as session:
            await seal(session)
            await session.commit()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def concurrency(tenant_engine: AsyncEngine, owner: AsyncEngine) -> None:
    engine = create_async_engine(tenant_engine.url, pool_size=max(WRITERS) + 2, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    actor = AuditActor(uuid.uuid4(), "user", request_id="bench", client_ip="203.0.113.1", user_agent="bench")
    try:
        for commit in ARMS.values():  # warm-up: connections, plans, the month's partition
            await burst(sessions, actor, commit, max(WRITERS), 0.3)
        stop = asyncio.Event()
        sealer = asyncio.create_task(periodic_sealer(sessions, stop))
        totals: dict[tuple[str, int], list[float]] = {}  # (arm, writers): [commits, seconds]
        slice_ratios: dict[int, list[float]] = {}
        names = list(ARMS)
        for writers in WRITERS:
            for slice_ in range(SLICES):
                order = names[slice_ % len(names):] + names[: slice_ % len(names)]
                rate = {}
                for name in order:
                    gc.collect()
                    commits, seconds = await burst(sessions, actor, ARMS[name], writers, SLICE_SECONDS)
                    total = totals.setdefault((name, writers), [0.0, 0.0])
                    total[0] += commits
                    total[1] += seconds
                    rate[name] = commits / seconds
                slice_ratios.setdefault(writers, []).append(rate["append"] / max(rate["plain insert"], 1e-9))
        stop.set()
        await sealer
        print(f"concurrent commits on one workspace ({REQUEST_RECORDS}-record list read per commit; {SLICES} slices "
              f"of {SLICE_SECONDS} s per arm, arms interleaved):")
        for writers in WRITERS:
            rates = {name: totals[(name, writers)][0] / totals[(name, writers)][1] for name in names}
            cells = ", ".join(f"{name} {rates[name]:,.0f}/s" for name in names)
            quartiles = statistics.quantiles(slice_ratios[writers], n=4)
            print(f"  {writers:>2} writer(s): {cells}; append / plain insert = "
                  f"{rates['append'] / rates['plain insert']:.2f} (per slice: median "
                  f"{statistics.median(slice_ratios[writers]):.2f}, quartiles {quartiles[0]:.2f}-{quartiles[2]:.2f}); "
                  f"append / old chain lock = {rates['append'] / rates['old chain lock']:.2f}", flush=True)

        started = time.perf_counter()
        async with sessions() as session:
            left = int(await session.scalar(
                text("SELECT count(*) FROM audit_batches WHERE chain_position IS NULL")) or 0)
        sealed = await seal_everything(sessions)
        print(f"sealer catch-up after the slices (sealer running once a second): {left} batches left unsealed, "
              f"{sealed} sealed in {time.perf_counter() - started:.3f} s")

        commits, seconds = await burst(sessions, actor, commit_append, max(WRITERS), BURST_SECONDS)
        async with sessions() as session:
            left = int(await session.scalar(
                text("SELECT count(*) FROM audit_batches WHERE chain_position IS NULL")) or 0)
        started = time.perf_counter()
        sealed = await seal_everything(sessions)
        elapsed = time.perf_counter() - started
        print(f"sealer catch-up from cold: a {BURST_SECONDS:.0f} s burst of {max(WRITERS)} writers with no sealer "
              f"({commits / seconds:,.0f} commits/s) left {left} batches; sealed {sealed} in {elapsed:.3f} s "
              f"({sealed / elapsed:,.0f} batches/s)")

        async with owner.begin() as conn:  # the plain-insert arm's rows name no batch: not part of the log
            await conn.execute(text("DELETE FROM audit_log WHERE batch_seq IS NULL"))
        async with sessions() as session:
            started = time.perf_counter()
            report = await verify_chain(session)
        print(f"verify_chain after the concurrent writers: ok={report.ok}, {report.checked_batches} batches, "
              f"{report.unsealed} unsealed, {time.perf_counter() - started:.2f} s")
    finally:
        await engine.dispose()


async def main() -> int:
    async with bench_app() as b:
        tenant, _ = await b.workspace()
        await run(tenant.engine)
        other, _ = await b.workspace()
        await concurrency(other.engine, other.owner_engine)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
