"""Data-key rotation: a new data key version, then every encrypted value re-encrypted with it, in batches.

`rotate` first makes version N+1 (wrapped by the master key, in the catalog) the current one, waits until
every process has reloaded the workspace's keys (the directory cache's TTL, plus a margin), then walks
`contacts` (the `*_enc` columns and custom fields' `{"$enc": hex}` values) and `contact_history`
(`old_enc`, `new_enc`) by id, one short transaction per batch with the rows locked (a concurrent update is
never lost). Values already on the current version are skipped (`crypto.key_version_of`), so a run that
was killed is finished by the next one: while the current version's `reencrypted_at` is NULL, `rotate`
resumes it instead of making yet another key. Old versions stay loaded, so no value is ever unreadable.
The blind indexes use the workspace's separate, never-rotated index key and are left alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from db import crypto, tenancy
from db.models import Contact, ContactHistory, DataKey, User, Workspace, WorkspaceStatus
from db.queries import contacts as contact_q
from db.units import Units
from resolvers.errors import BadInput, NotFound

DEFAULT_BATCH = 500
SETTLE_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    version: int
    done: int  # rows visited
    total: int  # rows to visit (counted at the start)
    reencrypted: int  # values re-encrypted so far


@dataclass(frozen=True)
class Rotation:
    version: int
    resumed: bool
    rows: int
    reencrypted: int


@dataclass(frozen=True)
class _Table:
    table: Table
    columns: tuple[str, ...]  # bytea ciphertext columns
    custom: bool  # also the custom_fields JSON ({"$enc": hex} values)


TABLES = (
    _Table(cast(Table, Contact.__table__), tuple(spec[0] for spec in contact_q.ENCRYPTED_COLUMNS.values()), True),
    _Table(cast(Table, ContactHistory.__table__), ("old_enc", "new_enc"), False),
    _Table(cast(Table, User.__table__), ("mfa_secret",), False),
)


async def rotate(
    directory: tenancy.TenantDirectory,
    slug: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    pause_seconds: float = 0.0,
    progress: Callable[[Progress], None] = lambda p: None,
    settle_seconds: float | None = None,
) -> Rotation:
    if batch_size < 1:
        raise BadInput("the batch size is at least 1", field="batchSize")
    units = Units(directory)
    version, resumed, key_created = await _start(units, slug)
    # API processes keep the old key set for up to the cache TTL: none may meet a value it cannot decrypt yet
    # (a resumed run that follows a fresh key closely waits too).
    settle = directory.ttl_seconds + SETTLE_MARGIN_SECONDS if settle_seconds is None else settle_seconds
    wait = settle - (datetime.now(UTC) - key_created).total_seconds()
    if wait > 0:
        await asyncio.sleep(wait)
    directory.invalidate(slug)
    tenant = await directory.get(slug)
    if tenant is None:
        raise NotFound(f"no workspace {slug!r}")
    cipher = tenant.cipher
    if cipher.current_version != version:
        raise RuntimeError(f"the current key of {slug!r} changed during the rotation")
    async with tenant.engine.connect() as conn:
        total = 0
        for table in TABLES:
            total += int(await conn.scalar(select(func.count()).select_from(table.table)) or 0)
    done = reencrypted = 0
    progress(Progress(version, done, total, reencrypted))
    for table in TABLES:
        after: uuid.UUID | None = None
        while True:
            async with units.workspace(tenant.engine) as unit:  # one short transaction per batch
                rows, changed = await _batch(await unit.session.connection(), table, cipher, after, batch_size)
            if not rows:
                break
            after = rows[-1]
            done, reencrypted = done + len(rows), reencrypted + changed
            progress(Progress(version, done, max(total, done), reencrypted))  # rows may come in meanwhile
            if pause_seconds:
                await asyncio.sleep(pause_seconds)
    await _finish(units, tenant, version, resumed, reencrypted)
    return Rotation(version, resumed, done, reencrypted)


async def _start(units: Units, slug: str) -> tuple[int, bool, datetime]:
    """(target version, resumed, its key's creation): the unfinished rotation's, or a new key made current."""
    directory = units.directory
    async with units.catalog() as conn:
        ws = (await conn.execute(select(Workspace).where(Workspace.slug == slug).with_for_update())).one_or_none()
        if ws is None or ws.status == WorkspaceStatus.PURGED:
            raise NotFound(f"no workspace {slug!r}")
        keys = {k.version: k for k in (await conn.execute(select(DataKey).where(DataKey.workspace_id == ws.id))).all()}
        current = keys.get(ws.current_key_version)
        if ws.current_key_version > 1 and current is not None and current.reencrypted_at is None:
            return ws.current_key_version, True, current.created_at
        version = max(keys) + 1
        key = crypto.generate_data_key()
        wrapped = crypto.wrap_data_key(directory.master_key, slug, key, version)
        created = datetime.now(UTC)
        await conn.execute(
            insert(DataKey).values(workspace_id=ws.id, version=version, wrapped=wrapped, created_at=created)
        )
        await conn.execute(update(Workspace).where(Workspace.id == ws.id).values(current_key_version=version))
    directory.invalidate(slug)
    return version, False, created


async def _batch(
    conn: AsyncConnection, spec: _Table, cipher: crypto.WorkspaceCipher, after: uuid.UUID | None, size: int
) -> tuple[list[uuid.UUID], int]:
    """Re-encrypt one batch of rows (locked until the transaction ends); returns their ids and the count of
    values re-encrypted."""
    t = spec.table
    cols = [t.c.id, *(t.c[c] for c in spec.columns)] + ([t.c.custom_fields] if spec.custom else [])
    stmt = select(*cols).order_by(t.c.id).limit(size).with_for_update()
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    rows = (await conn.execute(stmt)).mappings().all()
    changed = 0
    for row in rows:
        values: dict[str, Any] = {}
        for column in spec.columns:
            blob = row[column]
            if blob is not None and crypto.key_version_of(blob) != cipher.current_version:
                values[column] = cipher.reencrypt(crypto.FieldLocation(t.name, column, str(row["id"])), blob)
        changed += len(values)
        if spec.custom:
            custom, count = _reencrypt_custom(row["custom_fields"] or {}, row["id"], cipher)
            if count:
                values["custom_fields"] = custom
                changed += count
        if values:
            if "updated_at" in t.c:
                values["updated_at"] = t.c.updated_at  # a rotation is not a change of the record
            await conn.execute(update(t).where(t.c.id == row["id"]).values(**values))
    return [r["id"] for r in rows], changed


def _reencrypt_custom(
    custom: dict[str, Any], row_id: uuid.UUID, cipher: crypto.WorkspaceCipher
) -> tuple[dict[str, Any], int]:
    out, count = dict(custom), 0
    for name, stored in custom.items():
        if isinstance(stored, dict) and "$enc" in stored:
            blob = bytes.fromhex(stored["$enc"])
            if crypto.key_version_of(blob) != cipher.current_version:
                loc = contact_q.location(f"custom_fields.{name}", row_id)
                out[name] = {**stored, "$enc": cipher.reencrypt(loc, blob).hex()}
                count += 1
    return out, count


async def _finish(units: Units, tenant: tenancy.Tenant, version: int, resumed: bool, reencrypted: int) -> None:
    """Audit the rotation in the workspace, then mark the key done in the catalog (a crash in between: the next
    run resumes, finds nothing left to re-encrypt, and finishes)."""
    now = datetime.now(UTC)
    async with units.workspace(tenant.engine) as unit:
        unit.audit.event(
            "UPDATE",
            entity_type="workspace",
            entity_id=str(tenant.id),
            details={"change": "rotateKeys", "keyVersion": version, "resumed": resumed, "reencrypted": reencrypted},
        )
    async with units.catalog() as conn:
        await conn.execute(
            update(DataKey)
            .where(DataKey.workspace_id == tenant.id, DataKey.version == version)
            .values(reencrypted_at=now)
        )


def render(p: Progress, width: int = 30) -> str:
    """`[#########.....................]  30%  300/1000 rows, 812 values re-encrypted (key v2)`"""
    share = p.done / p.total if p.total else 1.0
    filled = round(width * share)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share:4.0%}  {p.done}/{p.total} rows, "
        f"{p.reencrypted} values re-encrypted (key v{p.version})"
    )
