"""Privacy operations: the data-request register (DPP6), the suppression list, retention policies (DPP2),
the direct-marketing opt-out register (Part 6A), and export jobs (their state lives here, not in Redis)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import WorkspaceBase, created_at, uuid_pk


class ExportJob(WorkspaceBase):
    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status", "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(16))  # CONTACT | WORKSPACE
    status: Mapped[str] = mapped_column(String(16), default="QUEUED")  # QUEUED RUNNING SUCCEEDED FAILED EXPIRED
    progress: Mapped[float] = mapped_column(default=0.0)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    data_request_id: Mapped[uuid.UUID | None]
    language: Mapped[str] = mapped_column(String(8), default="EN")
    requested_by: Mapped[uuid.UUID | None]
    requested_by_kind: Mapped[str] = mapped_column(String(16))
    requested_roles: Mapped[list[str]] = mapped_column(JSONB, default=list)
    notify_email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    file_key: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    record_count: Mapped[int | None] = mapped_column(BigInteger)


class DataRequest(WorkspaceBase):
    __tablename__ = "data_requests"
    __table_args__ = (Index("ix_data_requests_status_due_at", "status", "due_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(16))  # ACCESS | CORRECTION | ERASURE
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"), index=True)
    requester_name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="EN")
    received_at: Mapped[datetime]
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="OPEN")  # OPEN | FULFILLED | REFUSED
    refusal_reason: Mapped[str | None] = mapped_column(Text)
    fulfilled_at: Mapped[datetime | None]
    export_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("export_jobs.id"))
    partial_notice_at: Mapped[datetime | None]
    partial_notice: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()


class Suppression(WorkspaceBase):
    """Keyed hashes of erased people's identifiers, so they are not re-imported or marketed to."""

    __tablename__ = "suppressions"

    hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | phone | hkid
    contact_id: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()


class RetentionPolicy(WorkspaceBase):
    __tablename__ = "retention_policies"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    entity: Mapped[str] = mapped_column(String(32))
    condition: Mapped[str] = mapped_column(Text)
    after_days: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))  # ARCHIVE | ANONYMISE | DELETE
    enabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at()
    last_run_at: Mapped[datetime | None]
    last_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class OptOut(WorkspaceBase):
    """The direct-marketing opt-out register: a withdrawal that a later grant cannot silently undo."""

    __tablename__ = "opt_outs"
    __table_args__ = (Index("ix_opt_outs_contact_id_purpose", "contact_id", "purpose"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = created_at()
    recorded_by: Mapped[uuid.UUID | None]
    cleared_at: Mapped[datetime | None]
    cleared_by: Mapped[uuid.UUID | None]
    cleared_reason: Mapped[str | None] = mapped_column(Text)
