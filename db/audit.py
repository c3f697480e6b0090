"""The audit writer: a request-scoped buffer of audit events, flushed as one hash-chained batch per flush.

Audit rows name *what* was touched (entity, field paths, PII categories) and never hold field values.
Each `flush` is one batch and one database round trip: the SQL function `audit_append` (see the
migrations) takes the workspace's chain lock, ensures the months' partitions of `audit_log`, inserts
the rows and a row in `audit_batches` that chains the batch to the previous one by SHA-256:

    content_hash = sha256(CONTENT_VERSION || JSON [canonical rows sorted by (id, occurred_at)])  (Python)
    chain_hash   = sha256(prev_hash || content_hash || seq (8 bytes BE) || row_count (8 bytes BE))  (SQL)

`verify_chain` walks the chain and recomputes both; `maintain_partitions` runs the monthly partition job.
The chain is not keyed: it detects edits by anyone who does not recompute every later batch, so the newest
`chain_hash` should also be anchored outside the workspace database to detect wholesale rewrites or a
truncated tail (batch rows and their events both deleted).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.base import utcnow
from db.models.meta import AuditBatch, WorkspaceMeta, audit_events, audit_log

__all__ = [
    "ACTOR_KINDS",
    "AUDIT_COLUMNS",
    "CHAIN_LOCK_KEY",
    "CHANGE_ACTIONS",
    "DEFAULT_RETENTION_MONTHS",
    "MIN_RETENTION_MONTHS",
    "AuditActor",
    "AuditBuffer",
    "AuditSavepoint",
    "ChainReport",
    "content_hash",
    "flush",
    "link_hash",
    "maintain_partitions",
    "verify_chain",
]

# The column order of `audit_events`, which is also the order of the tuples `AuditBuffer.rows()` returns.
AUDIT_COLUMNS: tuple[str, ...] = tuple(c.name for c in audit_events.columns)
# `link`: whoever holds a signed export download link (no sign-in); the row's address and user agent say who.
# Events that describe a change to the database: gone with it when the request's transaction is rolled back.
CHANGE_ACTIONS = frozenset({"CREATE", "UPDATE", "DELETE", "ERASE", "EXPORT", "POLICY_CHANGE"})
ACTOR_KINDS = frozenset({"user", "api_key", "support", "system", "link"})
# pg_advisory_xact_lock key that serialises the writers of one workspace's chain ("AUDITCHN").
CHAIN_LOCK_KEY = 0x4155444954434E
DEFAULT_RETENTION_MONTHS = 13
# PDPO practice: audit trails are kept at least a year; a smaller configured retention is raised to this.
MIN_RETENTION_MONTHS = 12
MONTHS_AHEAD = 3
ZERO_HASH = bytes(32)
CONTENT_VERSION = b"crm-audit-content-v2\n"

_ACTION_RE = re.compile(r"^[A-Z][A-Z_]{0,15}$")
_PARTITION_RE = re.compile(r"^audit_log_(\d{4})_(\d{2})$")
_MAX_ENTITY_TYPE = 32
_MAX_ENTITY_ID = 64
_MAX_REQUEST_ID = 64
_MAX_CLIENT_IP = 64
_MAX_USER_AGENT = 300
_BATCH_PAGE = 1000  # audit_batches rows read per query by verify_chain
_ROWS_PER_FETCH = 20_000  # audit_log rows (about) read per query by verify_chain

_IDX_ID = AUDIT_COLUMNS.index("id")
_IDX_OCCURRED_AT = AUDIT_COLUMNS.index("occurred_at")
_IDX_ACTOR_ID = AUDIT_COLUMNS.index("actor_id")
_IDX_ENTITY = AUDIT_COLUMNS.index("entity_id")  # in `audit_log`: entity_ids, at the same position
_IDX_FIELDS = AUDIT_COLUMNS.index("fields")
_IDX_ACTION = AUDIT_COLUMNS.index("action")
_IDX_ENTITY_TYPE = AUDIT_COLUMNS.index("entity_type")
_IDX_CATEGORIES = AUDIT_COLUMNS.index("categories")
_IDX_DETAILS = AUDIT_COLUMNS.index("details")
_IDX_BATCH_SEQ = AUDIT_COLUMNS.index("batch_seq")

Month = tuple[int, int]


# ---------------------------------------------------------------------------------------------------------
# Canonical serialisation and hashes
# ---------------------------------------------------------------------------------------------------------


def _canon_number(value: int | float) -> str:
    # Exact and representation-independent: 1e16, 10000000000000000 and 1.0e16 are all "1e16". JSONB keeps
    # numbers as exact decimals, so a float written as repr() reads back as the same decimal value.
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError("audit details cannot hold NaN or infinite numbers")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if kept == [0]:
        return "0"
    return ("-" if sign else "") + "".join(map(str, kept)) + "e" + str(exponent)


def _canon_json(value: Any) -> str:
    """Canonical JSON of a JSON value: sorted keys, no spaces, normalised numbers."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return _canon_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_canon_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _canon_json(v) for k, v in items) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _iso(ts: datetime) -> str:
    return (ts if ts.tzinfo is UTC else ts.astimezone(UTC)).isoformat(timespec="microseconds")


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _canonical_values(row: Sequence[Any]) -> list[Any]:
    """One row, every column in table order but batch_seq (the chain names the batch): uuids as text,
    timestamps ISO UTC with microseconds, details as canonical JSON text."""
    values = list(row[:_IDX_BATCH_SEQ])
    values[_IDX_ID] = str(row[_IDX_ID])
    values[_IDX_OCCURRED_AT] = _iso(row[_IDX_OCCURRED_AT])
    values[_IDX_ACTOR_ID] = None if row[_IDX_ACTOR_ID] is None else str(row[_IDX_ACTOR_ID])
    values[_IDX_ENTITY] = _entities(row[_IDX_ENTITY])
    values[_IDX_FIELDS] = list(row[_IDX_FIELDS])
    values[_IDX_CATEGORIES] = list(row[_IDX_CATEGORIES])
    values[_IDX_DETAILS] = None if row[_IDX_DETAILS] is None else _canon_json(row[_IDX_DETAILS])
    return values


def _entities(value: str | Sequence[str] | None) -> str | list[str] | None:
    """A row's records: none (null), one (a string: rows written before grouping look the same), or a list."""
    if value is None or isinstance(value, str):
        return value
    items = list(value)
    if not items:
        return None
    return items[0] if len(items) == 1 else items


_GROUPED = frozenset({"READ", "DENIED"})


def group_rows(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The physical rows of a batch: READ and DENIED events of one record each, with no details, that name the
    same fields and categories become one row naming all their records (the earliest time, the first id)."""
    out: list[tuple[Any, ...]] = []
    groups: dict[tuple[Any, ...], int] = {}
    for row in rows:
        if row[_IDX_ACTION] not in _GROUPED or row[_IDX_DETAILS] is not None or row[_IDX_ENTITY] is None:
            out.append(row)
            continue
        key = (row[_IDX_ACTION], row[_IDX_ENTITY_TYPE], tuple(row[_IDX_FIELDS]), tuple(row[_IDX_CATEGORIES]))
        at = groups.get(key)
        if at is None:
            groups[key] = len(out)
            out.append((*row[:_IDX_ENTITY], [row[_IDX_ENTITY]], *row[_IDX_ENTITY + 1 :]))
            continue
        first = out[at]
        first[_IDX_ENTITY].append(row[_IDX_ENTITY])
        if row[_IDX_OCCURRED_AT] < first[_IDX_OCCURRED_AT]:
            out[at] = (*first[:_IDX_OCCURRED_AT], row[_IDX_OCCURRED_AT], *first[_IDX_OCCURRED_AT + 1 :])
    return out


def canonical_body(rows: Iterable[Sequence[Any]]) -> str:
    """The compact JSON array of the canonical rows (batch_seq left out), sorted by (id, occurred_at). It is
    both what the batch's content hash covers and what `audit_append` inserts, so it is built once."""
    ordered = sorted(rows, key=lambda r: (r[_IDX_ID].int, r[_IDX_OCCURRED_AT]))
    return _ENCODER.encode([_canonical_values(row) for row in ordered])


def content_hash(rows: Iterable[Sequence[Any]], body: str | None = None) -> bytes:
    """SHA-256 of one batch's rows (in `audit_events` column order): CONTENT_VERSION, then `canonical_body`."""
    return hashlib.sha256(CONTENT_VERSION + (body if body is not None else canonical_body(rows)).encode()).digest()


def link_hash(prev_hash: bytes, content: bytes, seq: int, row_count: int) -> bytes:
    """chain_hash = sha256(prev_hash || content_hash || seq || row_count), integers as 8 bytes big-endian."""
    return hashlib.sha256(
        prev_hash + content + seq.to_bytes(8, "big", signed=True) + row_count.to_bytes(8, "big", signed=True)
    ).digest()


# ---------------------------------------------------------------------------------------------------------
# The buffer
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditActor:
    """Who and where: the same for a whole request."""

    actor_id: uuid.UUID | None
    actor_kind: str  # user | api_key | support | system | link
    request_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    policy_version: int | None = None

    def __post_init__(self) -> None:
        if self.actor_kind not in ACTOR_KINDS:
            raise ValueError(f"unknown actor kind {self.actor_kind!r}")


@dataclass
class _Event:
    id: uuid.UUID
    occurred_at: datetime
    action: str
    entity_type: str | None
    entity_id: str | None
    fields: dict[str, None]  # an ordered set
    categories: dict[str, None]
    details: dict[str, Any] | None


def _names(values: Iterable[str]) -> Iterable[str]:
    # A bare string is one name, not a sequence of one-letter names.
    return (values,) if isinstance(values, str) else values


def _clip(value: str | None, limit: int) -> str | None:
    return value if value is None or len(value) <= limit else value[:limit]


def _details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    # A JSON copy: later changes to the caller's dict do not leak in, and what is hashed at flush time is
    # exactly what JSONB gives back (string keys, lists, no NaN). Uuids and datetimes become strings.
    if details is None:
        return None
    return json.loads(json.dumps(details, default=str, allow_nan=False))


@dataclass(frozen=True)
class AuditSavepoint:
    count: int
    reads: list[tuple[_Event, dict[str, None], dict[str, None]]]


class AuditBuffer:
    """Request-scoped: collects events; READ and DENIED events merge per (entity_type, entity_id).

    `actor` may be replaced while the request runs (it learns its actor or policy version late): the actor
    in place when `rows()` is called (at flush) applies to every event. `occurred_at` is the clock's time of
    the first call that created the event.
    """

    def __init__(self, actor: AuditActor, clock: Callable[[], datetime] = utcnow) -> None:
        self.actor = actor
        self._clock = clock
        self._events: list[_Event] = []
        self._reads: dict[tuple[str, str], _Event] = {}
        self._denials: dict[tuple[str, str], _Event] = {}

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the audit clock must return timezone-aware datetimes")
        return now

    def _new(
        self,
        action: str,
        entity_type: str | None,
        entity_id: str | None,
        fields: Iterable[str],
        categories: Iterable[str],
        details: dict[str, Any] | None,
    ) -> _Event:
        if not _ACTION_RE.match(action):
            raise ValueError(f"audit action must be an upper-case name of at most 16 characters: {action!r}")
        if entity_type is not None and len(entity_type) > _MAX_ENTITY_TYPE:
            raise ValueError(f"entity_type longer than {_MAX_ENTITY_TYPE} characters: {entity_type!r}")
        if entity_id is not None and len(entity_id) > _MAX_ENTITY_ID:
            raise ValueError(f"entity_id longer than {_MAX_ENTITY_ID} characters: {entity_id!r}")
        event = _Event(
            id=uuid.uuid4(),
            occurred_at=self._now(),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            fields=dict.fromkeys(str(f) for f in _names(fields)),
            categories=dict.fromkeys(str(c) for c in _names(categories)),
            details=_details(details),
        )
        self._events.append(event)
        return event

    def read(self, entity_type: str, entity_id: str, fields: Iterable[str], categories: Iterable[str]) -> None:
        """Record that fields of one record were read; one READ event per record, fields/categories unioned."""
        key = (entity_type, str(entity_id))
        existing = self._reads.get(key)
        if existing is None:
            if len(key[1]) > _MAX_ENTITY_ID or len(entity_type) > _MAX_ENTITY_TYPE:
                raise ValueError(f"entity type or id too long: {entity_type!r} {key[1]!r}")
            # The hot path (one call per record returned): no generic validation, names taken as given.
            event = _Event(uuid.uuid4(), self._now(), "READ", entity_type, key[1], dict.fromkeys(_names(fields)),
                           dict.fromkeys(_names(categories)), None)
            self._events.append(event)
            self._reads[key] = event
            return
        existing.fields.update(dict.fromkeys(str(f) for f in _names(fields)))
        existing.categories.update(dict.fromkeys(str(c) for c in _names(categories)))

    def denied(
        self,
        entity_type: str,
        entity_id: str | None,
        fields: Iterable[str],
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record refused access: one DENIED event per record naming the denied fields (merged like `read`,
        details shallow-merged, later keys win). `entity_id=None` records a refused operation: one event per
        call, `fields` may be empty and `details` says what was refused (e.g. {"operation": "addPolicy"})."""
        if entity_id is None:
            self._new("DENIED", entity_type, None, fields, (), details)
            return
        key = (entity_type, str(entity_id))
        existing = self._denials.get(key)
        if existing is None:
            self._denials[key] = self._new("DENIED", entity_type, key[1], fields, (), details)
            return
        existing.fields.update(dict.fromkeys(str(f) for f in _names(fields)))
        more = _details(details)
        if more:
            existing.details = {**(existing.details or {}), **more}

    def event(
        self,
        action: str,
        *,
        entity_type: str | None = None,
        entity_id: str | None = None,
        fields: Iterable[str] = (),
        categories: Iterable[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Any other action (CREATE, UPDATE, DELETE, ERASE, EXPORT, POLICY_CHANGE, LOGIN, LOGIN_FAILED, ...):
        one row per call. `details` is for identifiers and reasons, never for field values."""
        self._new(action, entity_type, None if entity_id is None else str(entity_id), fields, categories, details)

    def savepoint(self) -> AuditSavepoint:
        """The buffer's state, to restore with `rollback_to` when the work that follows is rolled back."""
        return AuditSavepoint(
            len(self._events), [(e, dict(e.fields), dict(e.categories)) for e in self._reads.values()]
        )

    def rollback_to(self, mark: AuditSavepoint) -> None:
        """Forget what was recorded since `mark` (its changes were rolled back, its reads returned nothing),
        except DENIED events: refused attempts stay recorded."""
        later = self._events[mark.count :]
        del self._events[mark.count :]
        for event in later:
            if event.action == "DENIED":
                self._events.append(event)
            elif event.action == "READ":
                self._reads.pop((event.entity_type or "", event.entity_id or ""), None)
        for event, fields, categories in mark.reads:
            event.fields, event.categories = fields, categories

    def discard(self, actions: Collection[str]) -> None:
        """Forget every event of these actions: the changes they describe were rolled back (`CHANGE_ACTIONS`),
        or the values they name never left (READ, when the response carries no data)."""
        self._events = [e for e in self._events if e.action not in actions]
        if "READ" in actions:
            self._reads.clear()
        if "DENIED" in actions:
            self._denials.clear()

    def __len__(self) -> int:
        return len(self._events)

    def clear(self) -> None:
        self._events.clear()
        self._reads.clear()
        self._denials.clear()

    def rows(self) -> list[tuple[Any, ...]]:
        """The buffered events as `audit_events` rows (column order of `AUDIT_COLUMNS`, batch_seq None)."""
        actor = self.actor
        request_id = _clip(actor.request_id, _MAX_REQUEST_ID)
        client_ip = _clip(actor.client_ip, _MAX_CLIENT_IP)
        user_agent = _clip(actor.user_agent, _MAX_USER_AGENT)
        return [
            (
                e.id,
                e.occurred_at,
                actor.actor_id,
                actor.actor_kind,
                e.action,
                e.entity_type,
                e.entity_id,
                list(e.fields),
                list(e.categories),
                request_id,
                client_ip,
                user_agent,
                actor.policy_version,
                None if e.details is None else dict(e.details),
                None,
            )
            for e in self._events
        ]


# ---------------------------------------------------------------------------------------------------------
# Flush
# ---------------------------------------------------------------------------------------------------------

_APPEND = text("SELECT audit_append(:lock, :content, CAST(:rows AS jsonb))")


async def flush(session: AsyncSession, buffer: AuditBuffer) -> int:
    """Write the buffered events as one chained batch inside the session's transaction; returns the event count.

    One round trip (`audit_append`). Never commits: the caller commits, and the chain lock is held until
    then, so flush last, just before the commit. The buffer is cleared only on success; any error
    propagates (the request must then fail).
    """
    if not len(buffer):
        return 0
    events = len(buffer)
    rows = group_rows(buffer.rows())
    body = canonical_body(rows)
    await session.execute(_APPEND, {"lock": CHAIN_LOCK_KEY, "content": content_hash(rows, body), "rows": body})
    buffer.clear()
    return events


# ---------------------------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------------------------


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
        grouped.setdefault(row[_IDX_BATCH_SEQ], []).append(tuple(row))
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


# ---------------------------------------------------------------------------------------------------------
# Partition maintenance
# ---------------------------------------------------------------------------------------------------------


async def maintain_partitions(
    session: AsyncSession, *, now: datetime, retention_months: int | None = None
) -> list[tuple[str, str]]:
    """Create the partitions of `now`'s month and 3 months ahead; drop those wholly older than the retention.

    Retention comes from `workspace_meta.audit_retention_months` (default 13) unless given, and is never
    less than `MIN_RETENTION_MONTHS` (12): a smaller value, configured or passed, is raised to 12.
    Returns [(action, partition)], action "created" or "dropped"; runs in the caller's transaction.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if retention_months is None:
        configured = (
            await session.execute(select(WorkspaceMeta.audit_retention_months).order_by(WorkspaceMeta.id).limit(1))
        ).scalar_one_or_none()
        retention_months = DEFAULT_RETENTION_MONTHS if configured is None else configured
    retention = max(MIN_RETENTION_MONTHS, retention_months)
    result = await session.execute(
        text("SELECT action, partition_name FROM audit_maintain(:now, :retention, :ahead)"),
        {"now": now, "retention": retention, "ahead": MONTHS_AHEAD},
    )
    return [(str(action), str(name)) for action, name in result]
