"""Tests for db.audit: buffer merging, COPY flush, the hash chain and its verification, partition upkeep.

Every database test runs on its own throwaway workspace database, cloned from a migrated template on the
PostgreSQL server named by `DATABASE_URL` (default: postgres on 127.0.0.1, trust auth).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from db.audit import (
    AUDIT_COLUMNS,
    AuditActor,
    AuditBuffer,
    ChainReport,
    flush,
    maintain_partitions,
    seal,
    verify_chain,
)
from db.migrate import upgrade
from db.models.meta import AuditBatch, LogBookEntry, WorkspaceMeta, audit_events, audit_log

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ACTOR = AuditActor(uuid.uuid4(), "user", request_id="req-1", client_ip="203.0.113.7", user_agent="pytest")


def _server_url(database: str) -> URL:
    return make_url(os.environ.get("DATABASE_URL") or DEFAULT_SERVER).set(
        drivername="postgresql+asyncpg", database=database
    )


def _admin_engine() -> AsyncEngine:
    server = make_url(os.environ.get("DATABASE_URL") or DEFAULT_SERVER)
    return create_async_engine(
        _server_url(server.database or "postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def add_months(ts: datetime, months: int) -> datetime:
    index = ts.year * 12 + ts.month - 1 + months
    return datetime(index // 12, index % 12 + 1, 15, 12, 0, tzinfo=UTC)


def partition_of(ts: datetime) -> str:
    return f"audit_log_{ts.year:04d}_{ts.month:02d}"


def fixed_clock(ts: datetime) -> Callable[[], datetime]:
    def clock() -> datetime:
        return ts

    return clock


NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
async def template_db() -> AsyncIterator[str]:
    """A migrated workspace database, cloned by every test (CREATE DATABASE ... TEMPLATE)."""
    name = f"crm_test_audit_{secrets.token_hex(6)}_tpl"
    admin = _admin_engine()
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_async_engine(_server_url(name), poolclass=NullPool)
    try:
        await upgrade(engine, "workspace")
    finally:
        await engine.dispose()
    try:
        yield name
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
async def engine(template_db: str) -> AsyncIterator[AsyncEngine]:
    name = f"crm_test_audit_{secrets.token_hex(8)}"
    admin = _admin_engine()
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"'))
    eng = create_async_engine(_server_url(name), pool_size=12, max_overflow=4)
    try:
        yield eng
    finally:
        await eng.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def reads(n: int, *, clock: Callable[[], datetime] | None = None, tag: str = "c") -> AuditBuffer:
    buffer = AuditBuffer(ACTOR) if clock is None else AuditBuffer(ACTOR, clock)
    for i in range(n):
        buffer.read("contact", f"{tag}-{i}", ["contact.email", "contact.phone"], ["contact_details"])
    return buffer


async def write(sessions: async_sessionmaker[AsyncSession], buffer: AuditBuffer) -> int:
    async with sessions() as session:
        count = await flush(session, buffer)
        await session.commit()
    return count


async def seal_all(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        sealed = await seal(session)
        await session.commit()
    assert sealed is not None
    return sealed


async def check(sessions: async_sessionmaker[AsyncSession], *, sealed: bool = True) -> ChainReport:
    """The verification report, after a sealer run unless `sealed=False`."""
    if sealed:
        await seal_all(sessions)
    async with sessions() as session:
        return await verify_chain(session)


async def three_batches(sessions: async_sessionmaker[AsyncSession], *, sealed: bool = True) -> None:
    """Three batches (seq 1, 2, 3), sealed at positions 1, 2, 3 unless `sealed=False`."""
    for tag, n in (("a", 3), ("b", 4), ("c", 2)):
        await write(sessions, reads(n, tag=tag))
    if sealed:
        assert await seal_all(sessions) == 3


async def a_row_of_batch(session: AsyncSession, seq: int) -> uuid.UUID:
    return (
        await session.execute(select(audit_log.c.id).where(audit_log.c.batch_seq == seq).limit(1))
    ).scalar_one()


# --- the buffer ---------------------------------------------------------------------------------------


def test_read_merges_per_record() -> None:
    buffer = AuditBuffer(ACTOR)
    buffer.read("contact", "1", ["contact.email", "contact.phone"], ["contact_details"])
    buffer.read("contact", "2", ["contact.email"], ["contact_details"])
    buffer.read("contact", "1", ["contact.phone", "contact.hkid"], ["identity", "contact_details"])
    rows = buffer.rows()
    assert len(buffer) == len(rows) == 2
    first = dict(zip(AUDIT_COLUMNS, rows[0], strict=True))
    assert first["action"] == "READ"
    assert (first["entity_type"], first["entity_id"]) == ("contact", "1")
    assert first["fields"] == ["contact.email", "contact.phone", "contact.hkid"]
    assert first["categories"] == ["contact_details", "identity"]
    assert first["batch_seq"] is None


def test_denied_merges_per_record_and_operations_do_not() -> None:
    buffer = AuditBuffer(ACTOR)
    buffer.denied("contact", "1", ["contact.salary"], {"rule": "r1"})
    buffer.denied("contact", "1", ["contact.hkid", "contact.salary"], {"policy": 7})
    buffer.read("contact", "1", ["contact.email"], ["contact_details"])
    buffer.denied("policy", None, [], {"operation": "addPolicy"})
    buffer.denied("policy", None, [], {"operation": "addPolicy"})
    rows = [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in buffer.rows()]
    assert [r["action"] for r in rows] == ["DENIED", "READ", "DENIED", "DENIED"]
    assert rows[0]["fields"] == ["contact.salary", "contact.hkid"]
    assert rows[0]["categories"] == []
    assert rows[0]["details"] == {"rule": "r1", "policy": 7}
    assert rows[2]["entity_id"] is None and rows[2]["fields"] == []
    assert rows[2]["details"] == {"operation": "addPolicy"}


def test_events_actor_and_clock() -> None:
    times = iter([datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)])
    buffer = AuditBuffer(AuditActor(None, "system"), lambda: next(times))
    buffer.event("UPDATE", entity_type="contact", entity_id="9", fields=["contact.phone"], categories=["c"])
    buffer.event("UPDATE", entity_type="contact", entity_id="9", fields=["contact.phone"], categories=["c"])
    buffer.actor = AuditActor(ACTOR.actor_id, "user", request_id="r" * 100, user_agent="u" * 1000, policy_version=4)
    rows = [dict(zip(AUDIT_COLUMNS, r, strict=True)) for r in buffer.rows()]
    assert len(rows) == 2 and rows[0]["id"] != rows[1]["id"]
    assert [r["occurred_at"].day for r in rows] == [1, 2]
    # The actor in place at rows() (flush) time applies; header values are clipped to the column sizes.
    assert rows[0]["actor_id"] == ACTOR.actor_id and rows[0]["policy_version"] == 4
    assert len(rows[0]["request_id"]) == 64 and len(rows[0]["user_agent"]) == 300
    buffer.clear()
    assert len(buffer) == 0 and buffer.rows() == []


def test_buffer_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        AuditActor(None, "robot")
    buffer = AuditBuffer(ACTOR, lambda: datetime(2026, 1, 1))  # naive
    with pytest.raises(ValueError):
        buffer.event("LOGIN")
    buffer = AuditBuffer(ACTOR)
    with pytest.raises(ValueError):
        buffer.event("login")
    with pytest.raises(ValueError):
        buffer.read("contact", "x" * 65, [], [])


# --- flush ---------------------------------------------------------------------------------------------


async def test_flush_writes_rows_and_batch(sessions: async_sessionmaker[AsyncSession]) -> None:
    buffer = reads(5)
    buffer.event("EXPORT", details={"format": "csv", "n": 1e16, "ratio": 0.1, "id": uuid.UUID(int=7)})
    async with sessions() as session:
        assert await flush(session, buffer) == 6
        assert len(buffer) == 0
        assert await flush(session, buffer) == 0  # nothing buffered: no batch
        await session.commit()
    async with sessions() as session:
        rows = (await session.execute(select(audit_events).order_by(audit_events.c.action))).all()
        batches = (await session.execute(select(AuditBatch))).scalars().all()
    assert len(rows) == 6 and {r.batch_seq for r in rows} == {1}
    assert rows[0].action == "EXPORT" and rows[0].details == {
        "format": "csv",
        "n": 10**16,
        "ratio": 0.1,
        "id": str(uuid.UUID(int=7)),
    }
    assert rows[1].fields == ["contact.email", "contact.phone"] and rows[1].actor_kind == "user"
    # the five reads name the same fields: one physical row, plus the export's; not chained until sealed
    assert [(b.seq, b.row_count, b.prev_hash, b.chain_position) for b in batches] == [(1, 2, None, None)]
    assert batches[0].first_occurred_at <= batches[0].last_occurred_at
    assert await check(sessions, sealed=False) == ChainReport(True, 1, None, None, unsealed=1)
    assert await check(sessions) == ChainReport(True, 1, None, None)
    async with sessions() as session:
        sealed = (await session.execute(select(AuditBatch))).scalar_one()
    assert (sealed.seq, sealed.chain_position, sealed.prev_hash) == (1, 1, bytes(32))


async def test_flush_is_part_of_the_callers_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        assert await flush(session, reads(3)) == 3
        await session.rollback()
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(audit_events))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(AuditBatch))).scalar_one() == 0


async def test_chain_across_flushes_verifies(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await check(sessions) == ChainReport(True, 0, None, None)  # an empty chain
    await three_batches(sessions)
    # A clock in Hong Kong time: hashed as UTC, as the rows read back.
    buffer = AuditBuffer(ACTOR, lambda: datetime.now(ZoneInfo("Asia/Hong_Kong")))
    buffer.event("POLICY_CHANGE", details={"nested": {"b": [1, 2.5, None, True], "a": "中文"}, "big": 10**30})
    buffer.denied("contact", "1", ["contact.salary"])
    await write(sessions, buffer)
    report = await check(sessions)
    assert report == ChainReport(True, 4, None, None)


async def test_concurrent_flushes_make_one_chain(sessions: async_sessionmaker[AsyncSession]) -> None:
    async def one(i: int) -> int:
        return await write(sessions, reads(20, tag=f"s{i}"))

    assert await asyncio.gather(*(one(i) for i in range(10))) == [20] * 10
    async with sessions() as session:
        seqs = (await session.execute(select(AuditBatch.seq).order_by(AuditBatch.seq))).scalars().all()
    assert seqs == list(range(1, 11))
    assert await check(sessions) == ChainReport(True, 10, None, None)


async def test_flush_creates_a_missing_partition(sessions: async_sessionmaker[AsyncSession]) -> None:
    later = add_months(NOW, 5)
    async with sessions() as session:
        exists = await session.execute(text("SELECT to_regclass(:p)"), {"p": partition_of(later)})
        assert exists.scalar() is None
    assert await write(sessions, reads(3, clock=fixed_clock(later))) == 3
    async with sessions() as session:
        exists = await session.execute(text("SELECT to_regclass(:p)"), {"p": partition_of(later)})
        assert exists.scalar() is not None
    assert (await check(sessions)).ok


async def test_failed_insert_raises_and_keeps_the_buffer(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        await session.execute(text(
            "ALTER TABLE audit_log ADD CONSTRAINT no_reads_here CHECK (action <> 'READ') NOT VALID"))
        await session.commit()
    buffer = reads(2, tag="refused")
    try:
        async with sessions() as session:
            with pytest.raises(Exception, match="no_reads_here"):
                await flush(session, buffer)
            await session.rollback()
        assert len(buffer) == 2  # kept: nothing was written
    finally:
        async with sessions() as session:
            await session.execute(text("ALTER TABLE audit_log DROP CONSTRAINT no_reads_here"))
            await session.commit()
    assert await write(sessions, buffer) == 2
    assert (await check(sessions)).ok


async def test_a_dropped_partition_is_created_again_by_the_next_write(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    later = add_months(NOW, 7)
    clock = fixed_clock(later)
    assert await write(sessions, reads(2, clock=clock)) == 2
    async with sessions() as session:
        await session.execute(text(f"DROP TABLE {partition_of(later)}"))
        await session.commit()
    assert await write(sessions, reads(2, clock=clock, tag="again")) == 2


# --- tampering -------------------------------------------------------------------------------------------


async def test_edited_row_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        row_id = await a_row_of_batch(session, 2)
        await session.execute(update(audit_log).where(audit_log.c.id == row_id).values(fields=["contact.notes"]))
        await session.commit()
    assert await check(sessions) == ChainReport(False, 1, 2, "row edited or removed in batch 2")


async def test_deleted_row_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        row_id = await a_row_of_batch(session, 3)
        await session.execute(delete(audit_log).where(audit_log.c.id == row_id))
        await session.commit()
    assert await check(sessions) == ChainReport(False, 2, 3, "row edited or removed in batch 3")


async def test_a_record_taken_out_of_a_grouped_row_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        await session.execute(text("UPDATE audit_log SET entity_ids = entity_ids[2:] WHERE batch_seq = 2"))
        await session.commit()
    assert await check(sessions) == ChainReport(False, 1, 2, "row edited or removed in batch 2")


async def test_reads_of_one_request_are_one_row_and_many_events(sessions: async_sessionmaker[AsyncSession]) -> None:
    assert await write(sessions, reads(5, tag="g")) == 5
    async with sessions() as session:
        physical = (await session.execute(select(audit_log.c.entity_ids))).scalars().all()
        logical = (await session.execute(select(audit_events.c.id, audit_events.c.entity_id))).all()
    assert [sorted(ids) for ids in physical] == [[f"g-{i}" for i in range(5)]]
    assert sorted(e for _, e in logical) == [f"g-{i}" for i in range(5)]
    assert len({i for i, _ in logical}) == 5  # each event keeps an id of its own


async def test_inserted_row_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        await session.execute(
            text(
                "INSERT INTO audit_log (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, "
                "fields, categories, request_id, client_ip, user_agent, policy_version, details, batch_seq) "
                "SELECT gen_random_uuid(), occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, "
                "fields, categories, request_id, client_ip, user_agent, policy_version, details, batch_seq "
                "FROM audit_log WHERE batch_seq = 1 LIMIT 1"
            )
        )
        await session.commit()
    assert await check(sessions) == ChainReport(False, 0, 1, "row inserted in batch 1")


async def test_forged_batch_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        await session.execute(
            insert(AuditBatch.__table__).values(
                seq=4,
                chain_position=4,
                sealed_at=NOW,
                created_at=NOW,
                row_count=0,
                content_hash=bytes(32),
                prev_hash=secrets.token_bytes(32),
                chain_hash=secrets.token_bytes(32),
                first_occurred_at=NOW,
                last_occurred_at=NOW,
            )
        )
        await session.commit()
    report = await check(sessions)
    assert (report.ok, report.checked_batches, report.first_broken_seq) == (False, 3, 4)
    assert report.reason is not None and report.reason.startswith("chain link broken at batch 4")


async def test_altered_batch_hash_is_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        await session.execute(
            update(AuditBatch).where(AuditBatch.seq == 2).values(content_hash=secrets.token_bytes(32))
        )
        await session.commit()
    report = await check(sessions)
    assert (report.ok, report.first_broken_seq) == (False, 2)
    assert report.reason == "chain link broken at batch 2: chain_hash does not recompute"


async def test_rows_without_a_batch_are_caught(sessions: async_sessionmaker[AsyncSession]) -> None:
    await three_batches(sessions)
    async with sessions() as session:
        await session.execute(
            insert(audit_log).values(
                id=uuid.uuid4(),
                occurred_at=NOW,
                actor_kind="user",
                action="READ",
                entity_ids=[],
                fields=[],
                categories=[],
                batch_seq=99,
            )
        )
        await session.commit()
    report = await check(sessions)
    assert (report.ok, report.checked_batches, report.first_broken_seq) == (False, 3, 99)
    assert report.reason == "1 row(s) name no batch (batch_seq 99)"


# --- partitions and retention ------------------------------------------------------------------------------


async def test_maintain_partitions_creates_ahead_and_drops_old(sessions: async_sessionmaker[AsyncSession]) -> None:
    old = add_months(NOW, -15)
    await write(sessions, reads(4, clock=fixed_clock(old)))  # creates the old month's partition
    await write(sessions, reads(3))
    async with sessions() as session:
        created = await maintain_partitions(session, now=add_months(NOW, 2))
        await session.commit()
    assert created == [
        ("created", partition_of(add_months(NOW, 4))),
        ("created", partition_of(add_months(NOW, 5))),
        ("dropped", partition_of(old)),
    ]
    async with sessions() as session:
        assert await maintain_partitions(session, now=add_months(NOW, 2)) == []  # idempotent
        await session.commit()
    # The old batch's rows went with their partition: its content is skipped, its links still checked.
    assert await check(sessions) == ChainReport(True, 2, None, None, content_skipped=1)


async def test_retention_comes_from_workspace_meta_and_is_at_least_12(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for months in (-11, -20):
        await write(sessions, reads(1, clock=fixed_clock(add_months(NOW, months))))
    async with sessions() as session:
        # Asked for 3 months: raised to 12, so the partition 11 months back stays.
        assert await maintain_partitions(session, now=NOW, retention_months=3) == [
            ("dropped", partition_of(add_months(NOW, -20)))
        ]
        await session.rollback()
    async with sessions() as session:
        await session.execute(update(WorkspaceMeta).values(audit_retention_months=24))
        assert await maintain_partitions(session, now=NOW) == []  # 24 months: nothing is old enough
        await session.execute(update(WorkspaceMeta).values(audit_retention_months=6))
        assert await maintain_partitions(session, now=NOW) == [("dropped", partition_of(add_months(NOW, -20)))]
        await session.commit()
    assert (await check(sessions)).ok


async def test_log_book_survives_partition_drops(sessions: async_sessionmaker[AsyncSession]) -> None:
    await write(sessions, reads(2))
    entry_id = uuid.uuid4()
    async with sessions() as session:
        session.add(
            LogBookEntry(id=entry_id, kind="access", reason="s.20(1)(b)", keep_until=NOW + timedelta(days=4 * 365))
        )
        await session.commit()
    async with sessions() as session:
        changes = await maintain_partitions(session, now=add_months(NOW, 120))
        await session.commit()
    assert ("dropped", partition_of(NOW)) in changes
    async with sessions() as session:
        assert (await session.get(LogBookEntry, entry_id)) is not None
        assert (await session.execute(select(func.count()).select_from(audit_events))).scalar_one() == 0
    assert await check(sessions) == ChainReport(True, 1, None, None, content_skipped=1)
