"""Canonical rows and hashes of the audit chain: column order, JSON canonical form, grouping, SHA-256 links.

    content_hash = sha256(CONTENT_VERSION || JSON [canonical rows sorted by (id, occurred_at)])  (Python)
    chain_hash   = sha256(prev_hash || content_hash || seq (8 bytes BE) || row_count (8 bytes BE))  (SQL)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from db.models.meta import audit_events

# The column order of `audit_events`, which is also the order of the tuples `AuditBuffer.rows()` returns.
AUDIT_COLUMNS: tuple[str, ...] = tuple(c.name for c in audit_events.columns)
ZERO_HASH = bytes(32)
CONTENT_VERSION = b"crm-audit-content-v2\n"

IDX_ID = AUDIT_COLUMNS.index("id")
IDX_OCCURRED_AT = AUDIT_COLUMNS.index("occurred_at")
IDX_ACTOR_ID = AUDIT_COLUMNS.index("actor_id")
IDX_ENTITY = AUDIT_COLUMNS.index("entity_id")  # in `audit_log`: entity_ids, at the same position
IDX_FIELDS = AUDIT_COLUMNS.index("fields")
IDX_ACTION = AUDIT_COLUMNS.index("action")
IDX_ENTITY_TYPE = AUDIT_COLUMNS.index("entity_type")
IDX_CATEGORIES = AUDIT_COLUMNS.index("categories")
IDX_DETAILS = AUDIT_COLUMNS.index("details")
IDX_BATCH_SEQ = AUDIT_COLUMNS.index("batch_seq")

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
    values = list(row[:IDX_BATCH_SEQ])
    values[IDX_ID] = str(row[IDX_ID])
    values[IDX_OCCURRED_AT] = _iso(row[IDX_OCCURRED_AT])
    values[IDX_ACTOR_ID] = None if row[IDX_ACTOR_ID] is None else str(row[IDX_ACTOR_ID])
    values[IDX_ENTITY] = _entities(row[IDX_ENTITY])
    values[IDX_FIELDS] = list(row[IDX_FIELDS])
    values[IDX_CATEGORIES] = list(row[IDX_CATEGORIES])
    values[IDX_DETAILS] = None if row[IDX_DETAILS] is None else _canon_json(row[IDX_DETAILS])
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
        if row[IDX_ACTION] not in _GROUPED or row[IDX_DETAILS] is not None or row[IDX_ENTITY] is None:
            out.append(row)
            continue
        key = (row[IDX_ACTION], row[IDX_ENTITY_TYPE], tuple(row[IDX_FIELDS]), tuple(row[IDX_CATEGORIES]))
        at = groups.get(key)
        if at is None:
            groups[key] = len(out)
            out.append((*row[:IDX_ENTITY], [row[IDX_ENTITY]], *row[IDX_ENTITY + 1 :]))
            continue
        first = out[at]
        first[IDX_ENTITY].append(row[IDX_ENTITY])
        if row[IDX_OCCURRED_AT] < first[IDX_OCCURRED_AT]:
            out[at] = (*first[:IDX_OCCURRED_AT], row[IDX_OCCURRED_AT], *first[IDX_OCCURRED_AT + 1 :])
    return out


def canonical_body(rows: Iterable[Sequence[Any]]) -> str:
    """The compact JSON array of the canonical rows (batch_seq left out), sorted by (id, occurred_at). It is
    both what the batch's content hash covers and what `audit_append` inserts, so it is built once."""
    ordered = sorted(rows, key=lambda r: (r[IDX_ID].int, r[IDX_OCCURRED_AT]))
    return _ENCODER.encode([_canonical_values(row) for row in ordered])


def content_hash(rows: Iterable[Sequence[Any]], body: str | None = None) -> bytes:
    """SHA-256 of one batch's rows (in `audit_events` column order): CONTENT_VERSION, then `canonical_body`."""
    return hashlib.sha256(CONTENT_VERSION + (body if body is not None else canonical_body(rows)).encode()).digest()


def link_hash(prev_hash: bytes, content: bytes, seq: int, row_count: int) -> bytes:
    """chain_hash = sha256(prev_hash || content_hash || seq || row_count), integers as 8 bytes big-endian."""
    return hashlib.sha256(
        prev_hash + content + seq.to_bytes(8, "big", signed=True) + row_count.to_bytes(8, "big", signed=True)
    ).digest()
