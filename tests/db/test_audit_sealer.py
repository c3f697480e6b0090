"""The sealer (`db.audit.seal`, SQL `audit_seal`): requests append unsealed batches with no chain lock, the sealer
links committed ones at dense chain positions, and `verify_chain` checks the sealed chain and the unsealed
batches' own digests. Concurrent writers and sealers, in-flight and rolled-back transactions, tampering on
either side of the seal, retention, and an in-place upgrade of a chain written before the sealer existed.

Runs on throwaway databases cloned from a migrated template (the fixtures of `test_audit`).
"""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from alembic import command
from sqlalchemy import Connection, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from db.audit import (
    CHAIN_LOCK_KEY,
    ChainReport,
    SealNudge,
    canonical_body,
    content_hash,
    flush,
    group_rows,
    maintain_partitions,
    seal,
    unsealed,
)
from db.migrate import alembic_config, upgrade
from db.models.meta import AuditBatch, audit_log
from tests.db import test_audit as base
from tests.db.test_audit import NOW, a_row_of_batch, add_months, check, fixed_clock, reads, seal_all, write

# The throwaway databases of `test_audit`: a migrated template, a clone per test, its sessions.
template_db, engine, sessions = base.template_db, base.engine, base.sessions

Sessions = async_sessionmaker[AsyncSession]


async def chain(sessions: Sessions) -> list[tuple[int, int | None]]:
    """(seq, chain_position) of every batch, in seq order."""
    async with sessions() as session:
        result = await session.execute(select(AuditBatch.seq, AuditBatch.chain_position).order_by(AuditBatch.seq))
        return [(row.seq, row.chain_position) for row in result]


async def hashes(sessions: Sessions) -> list[tuple[int, int | None, bytes | None]]:
    async with sessions() as session:
        result = await session.execute(
            select(AuditBatch.seq, AuditBatch.chain_position, AuditBatch.chain_hash).order_by(AuditBatch.seq)
        )
        return [(r.seq, r.chain_position, None if r.chain_hash is None else bytes(r.chain_hash)) for r in result]


# --- writers and sealers at once -----------------------------------------------------------------------------


async def test_concurrent_writers_on_several_connections_while_sealers_run(sessions: Sessions) -> None:
    writers, each = 8, 6
    done = asyncio.Event()
    runs: list[int | None] = []

    async def writer(w: int) -> None:
        for i in range(each):
            await write(sessions, reads(3, tag=f"w{w}-{i}"))

    async def sealer() -> None:
        while not done.is_set():
            async with sessions() as session:
                runs.append(await seal(session))
                await session.commit()
            await asyncio.sleep(0.005)

    sealers = [asyncio.create_task(sealer()) for _ in range(3)]
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await asyncio.gather(*sealers)
    last = await seal_all(sessions)
    batches = await chain(sessions)
    assert [seq for seq, _ in batches] == list(range(1, writers * each + 1))
    assert sorted(p for _, p in batches if p is not None) == list(range(1, writers * each + 1))  # dense, once each
    assert sum(r or 0 for r in runs) + last == writers * each  # every batch sealed by exactly one run
    assert await check(sessions, sealed=False) == ChainReport(True, writers * each, None, None)


async def test_a_second_sealer_returns_at_once_while_the_first_holds_the_lock(sessions: Sessions) -> None:
    for i in range(3):
        await write(sessions, reads(2, tag=f"b{i}"))
    async with sessions() as first, sessions() as second:
        assert await seal(first) == 3  # not committed yet: it holds the workspace's seal lock
        assert await asyncio.wait_for(seal(second), timeout=5) is None
        await second.commit()
        await first.commit()
    async with sessions() as session:
        assert await seal(session) == 0  # idempotent: nothing left
        await session.commit()
    assert await chain(sessions) == [(1, 1), (2, 2), (3, 3)]


async def test_sealing_again_changes_nothing(sessions: Sessions) -> None:
    for i in range(4):
        await write(sessions, reads(2, tag=f"i{i}"))
    assert await seal_all(sessions) == 4
    before = await hashes(sessions)
    assert await seal_all(sessions) == 0
    assert await seal_all(sessions) == 0
    assert await hashes(sessions) == before
    await write(sessions, reads(1, tag="late"))
    assert await seal_all(sessions) == 1
    assert (await hashes(sessions))[:4] == before
    assert await check(sessions) == ChainReport(True, 5, None, None)


async def test_seal_rejects_a_limit_below_one(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="at least 1"):
            await seal(session, limit=0)


# --- sealing order -------------------------------------------------------------------------------------------


async def test_a_batch_in_flight_is_sealed_after_one_committed_later(sessions: Sessions) -> None:
    async with sessions() as slow:
        await flush(slow, reads(2, tag="slow"))  # seq 1, its transaction still open
        await write(sessions, reads(3, tag="fast"))  # seq 2, committed
        assert await asyncio.wait_for(seal_all(sessions), timeout=5) == 1  # not held up by the open transaction
        assert await chain(sessions) == [(2, 1)]
        assert await check(sessions, sealed=False) == ChainReport(True, 1, None, None)
        await slow.commit()
    assert await check(sessions, sealed=False) == ChainReport(True, 2, None, None, unsealed=1)
    assert await seal_all(sessions) == 1
    assert await chain(sessions) == [(1, 2), (2, 1)]  # chain order is the order the sealer saw them in
    assert await check(sessions) == ChainReport(True, 2, None, None)


async def test_a_rolled_back_request_leaves_a_seq_gap_and_no_digest(sessions: Sessions) -> None:
    await write(sessions, reads(2, tag="a"))
    async with sessions() as session:
        await flush(session, reads(2, tag="rolled-back"))
        await session.rollback()
    await write(sessions, reads(2, tag="c"))
    assert await chain(sessions) == [(1, None), (3, None)]  # seq 2 was taken and given back with the rollback
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(audit_log).where(
            audit_log.c.batch_seq == 2))).scalar_one() == 0
    assert await seal_all(sessions) == 2
    assert await chain(sessions) == [(1, 1), (3, 2)]
    assert await check(sessions) == ChainReport(True, 2, None, None)


async def test_a_killed_request_leaves_no_orphan_digest_or_rows(sessions: Sessions) -> None:
    await write(sessions, reads(2, tag="before"))
    async with sessions() as victim:
        await flush(victim, reads(5, tag="killed"))
        pid = (await victim.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with sessions() as killer:
            assert (await killer.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})).scalar_one()
        with pytest.raises(Exception):  # noqa: B017  (the connection is gone; the driver's error type varies)
            await victim.commit()
    await write(sessions, reads(2, tag="after"))
    assert [seq for seq, _ in await chain(sessions)] == [1, 3]
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(audit_log))).scalar_one() == 2
        assert await unsealed(session) == 2
    assert await check(sessions) == ChainReport(True, 2, None, None)


# --- tampering on either side of the seal ----------------------------------------------------------------------


async def two_sealed_one_not(sessions: Sessions) -> None:
    await write(sessions, reads(2, tag="s1"))
    await write(sessions, reads(3, tag="s2"))
    assert await seal_all(sessions) == 2
    await write(sessions, reads(4, tag="u3"))


async def test_an_edited_unsealed_row_is_caught(sessions: Sessions) -> None:
    await two_sealed_one_not(sessions)
    assert await check(sessions, sealed=False) == ChainReport(True, 3, None, None, unsealed=1)
    async with sessions() as session:
        row_id = await a_row_of_batch(session, 3)
        await session.execute(update(audit_log).where(audit_log.c.id == row_id).values(fields=["contact.notes"]))
        await session.commit()
    assert await check(sessions, sealed=False) == ChainReport(
        False, 2, 3, "row edited or removed in unsealed batch 3", 0, 0
    )
    # Sealing does not launder it: the sealed batch's content still does not match its digest.
    assert await check(sessions) == ChainReport(False, 2, 3, "row edited or removed in batch 3")


async def test_a_deleted_or_added_unsealed_row_is_caught(sessions: Sessions) -> None:
    await two_sealed_one_not(sessions)
    async with sessions() as session:
        await session.execute(delete(audit_log).where(audit_log.c.id == await a_row_of_batch(session, 3)))
        await session.commit()
    report = await check(sessions, sealed=False)
    assert (report.ok, report.first_broken_seq) == (False, 3)
    assert report.reason == "row edited or removed in unsealed batch 3"
    async with sessions() as session:
        await session.execute(
            text(
                "INSERT INTO audit_log (id, occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, "
                "fields, categories, request_id, client_ip, user_agent, policy_version, details, batch_seq) "
                "SELECT gen_random_uuid(), occurred_at, actor_id, actor_kind, action, entity_type, entity_ids, "
                "fields, categories, request_id, client_ip, user_agent, policy_version, details, 3 "
                "FROM audit_log, generate_series(1, 2) WHERE batch_seq = 1"  # 2 rows where there was 1
            )
        )
        await session.commit()
    report = await check(sessions, sealed=False)
    assert (report.ok, report.first_broken_seq, report.reason) == (False, 3, "row inserted in unsealed batch 3")


async def test_an_edited_sealed_row_is_caught_beside_unsealed_batches(sessions: Sessions) -> None:
    await two_sealed_one_not(sessions)
    async with sessions() as session:
        await session.execute(text("UPDATE audit_log SET client_ip = '198.51.100.9' WHERE batch_seq = 2"))
        await session.commit()
    assert await check(sessions, sealed=False) == ChainReport(False, 1, 2, "row edited or removed in batch 2")


async def test_a_rewritten_unsealed_digest_with_forged_seal_breaks_the_chain(sessions: Sessions) -> None:
    await two_sealed_one_not(sessions)
    async with sessions() as session:  # a forger "seals" batch 3 without the previous chain hash
        await session.execute(
            update(AuditBatch).where(AuditBatch.seq == 3).values(
                chain_position=3, prev_hash=secrets.token_bytes(32), chain_hash=secrets.token_bytes(32), sealed_at=NOW
            )
        )
        await session.commit()
    report = await check(sessions, sealed=False)
    assert (report.ok, report.first_broken_seq) == (False, 3)
    assert report.reason == "chain link broken at batch 3: prev_hash does not match batch 2"


async def test_a_position_gap_in_the_chain_is_caught(sessions: Sessions) -> None:
    await two_sealed_one_not(sessions)
    await seal_all(sessions)
    async with sessions() as session:
        await session.execute(update(AuditBatch).where(AuditBatch.seq == 3).values(chain_position=7))
        await session.commit()
    report = await check(sessions, sealed=False)
    assert (report.ok, report.checked_batches, report.first_broken_seq) == (False, 2, 3)
    assert report.reason == "chain link broken at batch 3: position 7, expected 3"


async def test_a_half_sealed_batch_is_refused_by_the_database(sessions: Sessions) -> None:
    await write(sessions, reads(1))
    async with sessions() as session:
        with pytest.raises(Exception, match="ck_audit_batches_sealed"):
            await session.execute(update(AuditBatch).where(AuditBatch.seq == 1).values(chain_position=1))
        await session.rollback()


# --- retention ------------------------------------------------------------------------------------------------


async def test_partition_drops_leave_sealed_and_unsealed_batches_verifiable(sessions: Sessions) -> None:
    old = add_months(NOW, -15)
    await write(sessions, reads(4, clock=fixed_clock(old)))
    await write(sessions, reads(3, tag="sealed"))
    assert await seal_all(sessions) == 2
    await write(sessions, reads(2, clock=fixed_clock(old), tag="old-unsealed"))
    await write(sessions, reads(2, tag="new-unsealed"))
    async with sessions() as session:
        dropped = [p for action, p in await maintain_partitions(session, now=NOW) if action == "dropped"]
        await session.commit()
    assert dropped == [f"audit_log_{old.year:04d}_{old.month:02d}"]
    assert await check(sessions, sealed=False) == ChainReport(True, 4, None, None, content_skipped=2, unsealed=2)
    assert await check(sessions) == ChainReport(True, 4, None, None, content_skipped=2)


# --- upgrading a workspace whose chain was written before the sealer -----------------------------------------


def _to(connection: Connection, revision: str) -> None:
    cfg = alembic_config("workspace")
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def test_a_chain_written_before_the_sealer_stays_valid_after_the_upgrade() -> None:
    name = f"crm_test_audit_{secrets.token_hex(6)}_up"
    admin = base._admin_engine()
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = create_async_engine(base._server_url(name), poolclass=NullPool)
    try:
        async with eng.connect() as conn:
            await conn.run_sync(_to, "c09e00000001")
            await conn.commit()
        legacy = async_sessionmaker(eng, expire_on_commit=False)
        for i in range(3):  # the previous release's writer: chain lock, chained at once (seq = position)
            rows = group_rows(reads(2, tag=f"legacy{i}").rows())
            body = canonical_body(rows)
            async with legacy() as session:
                await session.execute(
                    text("SELECT audit_append(:lock, :content, CAST(:rows AS jsonb))"),
                    {"lock": CHAIN_LOCK_KEY, "content": content_hash(rows, body), "rows": body},
                )
                await session.commit()
        await upgrade(eng, "workspace")
        sessions_ = async_sessionmaker(eng, expire_on_commit=False, autoflush=False)
        assert await chain(sessions_) == [(1, 1), (2, 2), (3, 3)]
        assert await check(sessions_, sealed=False) == ChainReport(True, 3, None, None)
        await write(sessions_, reads(2, tag="new"))
        async with sessions_() as session:  # a process of the previous release, during a rolling upgrade
            rows = group_rows(reads(1, tag="old-process").rows())
            body = canonical_body(rows)
            await session.execute(
                text("SELECT audit_append(:lock, :content, CAST(:rows AS jsonb))"),
                {"lock": CHAIN_LOCK_KEY, "content": content_hash(rows, body), "rows": body},
            )
            await session.commit()
        assert await chain(sessions_) == [(1, 1), (2, 2), (3, 3), (4, None), (5, None)]
        assert await check(sessions_) == ChainReport(True, 5, None, None)
        assert await chain(sessions_) == [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]
    finally:
        await eng.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


# --- asking for sealer runs ----------------------------------------------------------------------------------


async def test_the_nudge_sends_at_once_then_one_trailing_message_per_window() -> None:
    sent: list[str] = []

    async def send(actor_name: str, kwargs: dict[str, str]) -> None:
        assert actor_name == "audit.seal"
        sent.append(kwargs["slug"])

    nudge = SealNudge(send, interval=0.2)
    nudge.written("a")
    for _ in range(5):
        nudge.written("a")
    nudge.written("b")
    await asyncio.sleep(0.05)
    assert sorted(sent) == ["a", "b"]  # the first commit of each workspace: at once
    await asyncio.sleep(0.25)
    assert sorted(sent) == ["a", "a", "b"]  # one trailing message for a's five later commits
    await asyncio.sleep(0.25)
    assert len(sent) == 3
    # A trailing message whose loop went away (long overdue) does not silence the workspace for good.
    stale = asyncio.get_running_loop().call_later(3600, lambda: None)
    stale.cancel()
    nudge._pending["a"] = (stale, time.monotonic() - 10)
    nudge.written("a")
    await asyncio.sleep(0.05)
    assert len(sent) == 4
