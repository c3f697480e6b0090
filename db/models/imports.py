"""Bulk contact imports: uploaded files (bytes in the file store), import jobs (state, counts, checkpoint) and one
report row per input row (what happened and why; never a value from the file)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import WorkspaceBase, created_at, uuid_pk


class ImportUpload(WorkspaceBase):
    __tablename__ = "import_uploads"

    id: Mapped[uuid.UUID] = uuid_pk()
    file_key: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[uuid.UUID | None]
    uploaded_by_kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = created_at()


class ImportJob(WorkspaceBase):
    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = uuid_pk()
    upload_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_uploads.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="QUEUED")  # QUEUED RUNNING SUCCEEDED FAILED
    dry_run: Mapped[bool]
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dedupe_by: Mapped[list[str]] = mapped_column(JSONB, default=list)
    progress: Mapped[float] = mapped_column(default=0.0)
    rows_done: Mapped[int] = mapped_column(default=0)  # the checkpoint: rows committed so far (real runs)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    encoding: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[uuid.UUID | None]
    requested_by_kind: Mapped[str] = mapped_column(String(16))
    requested_roles: Mapped[list[str]] = mapped_column(JSONB, default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ImportRow(WorkspaceBase):
    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_job_id_row", "job_id", "row", unique=True),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    row: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))  # created | updated | skipped | failed
    contact_id: Mapped[uuid.UUID | None]
    field: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
