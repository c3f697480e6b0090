"""Idempotent mutations for API keys (`Idempotency-Key` header).

The key is claimed with an INSERT in the request's own transaction, before the mutation runs, and the answer
is written to that row just before the unit of work commits. So the row exists exactly when the mutation's
changes do: a failed or cancelled request rolls both back and a retry runs again. A concurrent duplicate's
INSERT waits on the primary key until the first transaction ends, then finds the committed row and replays its
answer: one executes. Rows older than 24 hours no longer count (the key may be used again).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import IdempotencyKey
from resolvers.errors import BadInput, Conflict

WINDOW = timedelta(hours=24)
MAX_KEY = 255


def request_hash(query: str, variables: dict[str, Any] | None, operation_name: str | None) -> bytes:
    body = json.dumps([query, variables or {}, operation_name], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).digest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise BadInput(f"Idempotency-Key must be 1 to {MAX_KEY} printable characters", field="Idempotency-Key")
    return key


async def claim(
    session: AsyncSession, api_key_id: uuid.UUID, key: str, digest: bytes, *, now: datetime | None = None
) -> dict[str, Any] | None:
    """None: this request runs (the key is claimed). Otherwise the first answer to replay. CONFLICT
    (`IDEMPOTENCY_KEY_REUSED`) when the key was used with another request body."""
    now = now or datetime.now(UTC)
    where = (IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
    await session.execute(delete(IdempotencyKey).where(*where, IdempotencyKey.created_at < now - WINDOW))
    claimed = await session.scalar(
        insert(IdempotencyKey)
        .values(api_key_id=api_key_id, key=key, request_hash=digest, created_at=now)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if claimed is not None:
        return None
    row = (await session.execute(select(IdempotencyKey.request_hash, IdempotencyKey.response).where(*where))).one()
    if row.request_hash != digest:
        raise Conflict("this Idempotency-Key was used for a different request", detail="IDEMPOTENCY_KEY_REUSED")
    return dict(row.response or {"data": None, "errors": []})


async def store(session: AsyncSession, api_key_id: uuid.UUID, key: str, response: dict[str, Any]) -> None:
    """The first answer, in the same transaction as the mutation it answers."""
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
        .values(response=response)
    )
