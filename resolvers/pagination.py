"""Relay pagination: opaque keyset cursors over (sort value, id), page size limits, the page shape.

A cursor carries its sort value. When that value can be personal data (a contact list ordered by a name or
the company), pass the workspace's `cipher`: the cursor is then sealed (AES-256-GCM with the workspace's
data key, bound to the ordering), so a client sees an opaque string and cannot forge one. Cursors over
times and ids need no sealing.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.crypto import DecryptionError, FieldLocation, WorkspaceCipher
from resolvers.errors import BadInput

T = TypeVar("T")
MAX_PAGE = 200
NESTED_MAX_PAGE = 50  # a connection below the root (Contact.activities): one page per parent row


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next: bool
    total: int | None = None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None


def page_size(first: int | None, default: int = 50, maximum: int = MAX_PAGE) -> int:
    size = default if first is None else first
    if size < 0 or size > maximum:
        raise BadInput(f"first must be between 0 and {maximum}", field="first")
    return size


def _sealed_at(kind: str) -> FieldLocation:
    return FieldLocation(table="cursor", column=kind, row_id="page")


def encode_cursor(sort_value: Any, row_id: uuid.UUID, kind: str, *, cipher: WorkspaceCipher | None = None) -> str:
    """A page of nested activities encodes thousands at once, in one step of the loop: orjson writes the
    datetime (its `isoformat()`) as `decode_cursor` reads it, several times faster than `json`."""
    payload = orjson.dumps([kind, sort_value, str(row_id)])  # asyncpg hands out its own UUID subclass
    if cipher is not None:
        payload = cipher.encrypt(_sealed_at(kind), payload)
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, *, cipher: WorkspaceCipher | None = None) -> tuple[Any, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = base64.urlsafe_b64decode(padded.encode())
        if cipher is not None:
            payload = cipher.decrypt(_sealed_at(kind), payload)
        cursor_kind, raw, row_id = json.loads(payload)
        if cursor_kind != kind:
            raise ValueError("cursor of another ordering")
        value = datetime.fromisoformat(raw) if kind.endswith("datetime") else raw
        if kind.endswith(".str") and not isinstance(value, str):  # a tampered cursor must not reach SQL
            raise ValueError("cursor value of the wrong type")
        return value, uuid.UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError, DecryptionError) as exc:
        raise BadInput("invalid cursor", field="after") from exc


async def newest_first(
    session: AsyncSession,
    stmt: Select[Any],
    created: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    *,
    kind: str,
    first: int | None,
    after: str | None,
    want_total: bool = False,
) -> Page[Any]:
    """One keyset page of a single-entity select, newest first on (created, id); the WHERE is the caller's."""
    size = page_size(first)
    total = None
    if want_total:
        total = int(await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)
    if after:
        value, after_id = decode_cursor(after, kind)
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise BadInput("invalid cursor", field="after")
        stmt = stmt.where(tuple_(created, row_id) < tuple_(value, after_id))
    rows = list((await session.scalars(stmt.order_by(created.desc(), row_id.desc()).limit(size + 1))).all())
    items = rows[:size]
    cursors = [encode_cursor(getattr(r, created.key), getattr(r, row_id.key), kind) for r in items]
    return Page(items, cursors, len(rows) > size, total)
