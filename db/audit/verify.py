"""Verification of a workspace's audit log: the sealed chain (links, chain hashes, each batch's rows), the unsealed
batches (rows against their own digest), rows naming no batch."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
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
    checked_batches: int  # batches (sealed: links too) whose content, unless skipped, verified before any break
    first_broken_seq: int | None
    reason: str | None
    content_skipped: int = 0  # batches older than the oldest partition: rows dropped by retention, links only
    unsealed: int = 0  # of checked_batches: not linked into the chain yet, rows checked against their own digest


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


async def _rows_by_batch(session: AsyncSession, seqs: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    result = await session.execute(select(*_ROW_COLUMNS).where(audit_log.c.batch_seq.in_(seqs)))
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


_COLUMNS = (
    AuditBatch.seq,
    AuditBatch.row_count,
    AuditBatch.content_hash,
    AuditBatch.prev_hash,
    AuditBatch.chain_hash,
    AuditBatch.chain_position,
    AuditBatch.first_occurred_at,
)


def _groups(page: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """Consecutive batches of a page whose rows are read with one query (about `_ROWS_PER_FETCH` rows)."""
    start = 0
    while start < len(page):
        end, total = start, 0
        while end < len(page) and (end == start or total + page[end].row_count <= _ROWS_PER_FETCH):
            total += page[end].row_count
            end += 1
        yield page[start:end]
        start = end


class _Walk:
    """One verification: the sealed chain walked in position order (resumable: batches sealed while it runs
    are walked by the next call), the unsealed batches checked against their own digests."""

    def __init__(self, session: AsyncSession, oldest: datetime | None) -> None:
        self.session = session
        self.oldest = oldest
        self.checked = self.skipped = self.unsealed = 0
        self.seen: set[int] = set()  # seqs whose content was checked (a batch sealed mid-run is counted once)
        self.after, self.prev_hash, self.prev_seq = 0, ZERO_HASH, 0

    def _has_rows(self, batch: Any) -> bool:
        return self.oldest is not None and batch.first_occurred_at >= self.oldest

    async def _content(self, group: Sequence[Any]) -> dict[int, list[tuple[Any, ...]]]:
        needs = [b.seq for b in group if self._has_rows(b) and b.seq not in self.seen]
        return await _rows_by_batch(self.session, needs) if needs else {}

    def _check_content(self, batch: Any, rows: dict[int, list[tuple[Any, ...]]], what: str) -> str | None:
        seq = batch.seq
        if seq in self.seen:
            return None
        self.seen.add(seq)
        if not self._has_rows(batch):
            self.skipped += 1
            return None
        found = rows.get(seq, [])
        if len(found) > batch.row_count:
            return f"row inserted in {what} {seq}"
        if len(found) < batch.row_count or content_hash(found) != bytes(batch.content_hash):
            return f"row edited or removed in {what} {seq}"
        return None

    def _broken(self, seq: int, reason: str) -> ChainReport:
        return ChainReport(False, self.checked, seq, reason, self.skipped, self.unsealed)

    async def sealed(self) -> ChainReport | None:
        """Links, chain hashes and content of the sealed batches after `self.after`, up to the chain's end."""
        while True:
            page = (
                await self.session.execute(
                    select(*_COLUMNS)
                    .where(AuditBatch.chain_position > self.after)
                    .order_by(AuditBatch.chain_position)
                    .limit(_BATCH_PAGE)
                )
            ).all()
            if not page:
                return None
            for group in _groups(page):
                rows = await self._content(group)
                for batch in group:
                    seq, position = batch.seq, batch.chain_position
                    if position != self.after + 1:
                        return self._broken(
                            seq, f"chain link broken at batch {seq}: position {position}, expected {self.after + 1}"
                        )
                    if bytes(batch.prev_hash) != self.prev_hash:
                        where = "the chain start" if position == 1 else f"batch {self.prev_seq}"
                        return self._broken(seq, f"chain link broken at batch {seq}: prev_hash does not match {where}")
                    stored_content = bytes(batch.content_hash)
                    if bytes(batch.chain_hash) != link_hash(self.prev_hash, stored_content, position, batch.row_count):
                        return self._broken(seq, f"chain link broken at batch {seq}: chain_hash does not recompute")
                    first = seq not in self.seen  # else checked while it was unsealed
                    problem = self._check_content(batch, rows, "batch")
                    if problem:
                        return self._broken(seq, problem)
                    self.checked += first
                    self.after, self.prev_hash, self.prev_seq = position, bytes(batch.chain_hash), seq

    async def pending(self) -> ChainReport | None:
        """The content of every batch not sealed yet against its own digest."""
        after = 0
        while True:
            page = (
                await self.session.execute(
                    select(*_COLUMNS)
                    .where(AuditBatch.chain_position.is_(None), AuditBatch.seq > after)
                    .order_by(AuditBatch.seq)
                    .limit(_BATCH_PAGE)
                )
            ).all()
            if not page:
                return None
            after = page[-1].seq
            for group in _groups(page):
                rows = await self._content(group)
                for batch in group:
                    if batch.seq in self.seen:
                        continue
                    problem = self._check_content(batch, rows, "unsealed batch")
                    if problem:
                        return self._broken(batch.seq, problem)
                    self.checked += 1
                    self.unsealed += 1


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the sealed batches in chain order (links, chain hashes, the rows' content), check every unsealed
    batch's rows against its own digest, walk what was sealed meanwhile, then look for rows that name no batch.
    Batches that began before the oldest existing partition lost rows to retention: only their links are
    checked. Reports the first problem found."""
    # Rows without a batch, read first in one statement: batches committed later cannot look orphaned.
    orphans = await _orphans(session)
    walk = _Walk(session, await _oldest_partition_start(session))
    # Sealed, then unsealed, then sealed again from where the walk stopped: a batch the sealer links while
    # this runs was unsealed for one pass or is past the end of the other, so it is checked either way.
    for step in (walk.sealed, walk.pending, walk.sealed):
        report = await step()
        if report is not None:
            return report
    if orphans:
        named = [seq for seq, _ in orphans if seq is not None]
        count = sum(n for _, n in orphans)
        where = ", ".join("none" if seq is None else str(seq) for seq, _ in orphans)
        return ChainReport(
            False, walk.checked, min(named) if named else None, f"{count} row(s) name no batch (batch_seq {where})",
            walk.skipped, walk.unsealed,
        )
    return ChainReport(True, walk.checked, None, None, walk.skipped, walk.unsealed)
