"""Verification of a workspace's audit chain: links, chain hashes, each batch's rows, rows naming no batch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.audit.canonical import AUDIT_COLUMNS, IDX_BATCH_SEQ, ZERO_HASH, content_hash, link_hash
from db.models.meta import AuditBatch, audit_log

_PARTITION_RE = re.compile(r"^audit_log_(\d{4})_(\d{2})$")
_BATCH_PAGE = 1000  # audit_batches rows read per query by verify_chain
_ROWS_PER_FETCH = 20_000  # audit_log rows (about) read per query by verify_chain

@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked_batches: int  # batches whose links (and content, unless skipped) verified before any break
    first_broken_seq: int | None
    reason: str | None
    content_skipped: int = 0  # batches older than the oldest partition: rows dropped by retention, links only


async def _oldest_partition_start(session: AsyncSession) -> datetime | None:
    names = (
        await session.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'audit_log'::regclass"
            )
        )
    ).scalars()
    months = sorted((int(m[1]), int(m[2])) for m in map(_PARTITION_RE.match, names) if m)
    if not months:
        return None
    return datetime(months[0][0], months[0][1], 1, tzinfo=UTC)


_ROW_COLUMNS = [audit_log.c["entity_ids" if name == "entity_id" else name] for name in AUDIT_COLUMNS]


async def _rows_by_batch(session: AsyncSession, lo: int, hi: int) -> dict[int, list[tuple[Any, ...]]]:
    result = await session.execute(select(*_ROW_COLUMNS).where(audit_log.c.batch_seq.between(lo, hi)))
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in result:
        grouped.setdefault(row[IDX_BATCH_SEQ], []).append(tuple(row))
    return grouped


async def _orphans(session: AsyncSession) -> list[tuple[int | None, int]]:
    result = await session.execute(
        text(
            "SELECT e.batch_seq, count(*) FROM audit_log e LEFT JOIN audit_batches b ON b.seq = e.batch_seq "
            "WHERE b.seq IS NULL GROUP BY e.batch_seq ORDER BY e.batch_seq NULLS FIRST"
        )
    )
    return [(row[0], row[1]) for row in result]


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk `audit_batches` in seq order: links, chain hashes and the rows' content; then look for rows that
    name no batch. Batches that began before the oldest existing partition lost rows to retention: only their
    links are checked. Reports the first problem found."""
    # Rows without a batch, read first in one statement: batches committed later cannot look orphaned.
    orphans = await _orphans(session)
    oldest = await _oldest_partition_start(session)
    checked = skipped = 0
    expected_seq, prev_hash = 1, ZERO_HASH
    columns = (
        AuditBatch.seq,
        AuditBatch.row_count,
        AuditBatch.content_hash,
        AuditBatch.prev_hash,
        AuditBatch.chain_hash,
        AuditBatch.first_occurred_at,
    )
    after = 0
    while True:
        page = (
            await session.execute(
                select(*columns).where(AuditBatch.seq > after).order_by(AuditBatch.seq).limit(_BATCH_PAGE)
            )
        ).all()
        if not page:
            break
        after = page[-1].seq
        start = 0
        while start < len(page):
            # A group of consecutive batches whose rows are read with one query.
            end, total = start, 0
            while end < len(page) and (end == start or total + page[end].row_count <= _ROWS_PER_FETCH):
                total += page[end].row_count
                end += 1
            group = page[start:end]
            start = end
            needs_rows = [b.seq for b in group if oldest is not None and b.first_occurred_at >= oldest]
            rows = await _rows_by_batch(session, needs_rows[0], needs_rows[-1]) if needs_rows else {}
            for batch in group:
                seq = batch.seq
                if seq != expected_seq:
                    reason = f"chain link broken at batch {seq}: expected batch {expected_seq} next"
                    return ChainReport(False, checked, seq, reason, skipped)
                if bytes(batch.prev_hash) != prev_hash:
                    where = "the chain start" if seq == 1 else f"batch {seq - 1}"
                    reason = f"chain link broken at batch {seq}: prev_hash does not match {where}"
                    return ChainReport(False, checked, seq, reason, skipped)
                stored_content = bytes(batch.content_hash)
                if bytes(batch.chain_hash) != link_hash(prev_hash, stored_content, seq, batch.row_count):
                    reason = f"chain link broken at batch {seq}: chain_hash does not recompute"
                    return ChainReport(False, checked, seq, reason, skipped)
                if oldest is None or batch.first_occurred_at < oldest:
                    skipped += 1
                else:
                    found = rows.get(seq, [])
                    if len(found) > batch.row_count:
                        return ChainReport(False, checked, seq, f"row inserted in batch {seq}", skipped)
                    if len(found) < batch.row_count or content_hash(found) != stored_content:
                        return ChainReport(False, checked, seq, f"row edited or removed in batch {seq}", skipped)
                checked += 1
                expected_seq, prev_hash = seq + 1, bytes(batch.chain_hash)
    if orphans:
        named = [seq for seq, _ in orphans if seq is not None]
        count = sum(n for _, n in orphans)
        where = ", ".join("none" if seq is None else str(seq) for seq, _ in orphans)
        return ChainReport(
            False, checked, min(named) if named else None, f"{count} row(s) name no batch (batch_seq {where})", skipped
        )
    return ChainReport(True, checked, None, None, skipped)
