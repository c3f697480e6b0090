"""Privacy operations: the data-request register (DPP6), the suppression list, retention policies (DPP2),
the direct-marketing opt-out register (Part 6A), and export jobs (their state lives here, not in Redis)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, SmallInteger, String, Text
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
    # A person's copy: names the operator chose to replace besides those the workspace knows (s.20(2)).
    redact_names: Mapped[list[str] | None] = mapped_column(JSONB)


class DataRequest(WorkspaceBase):
    __tablename__ = "data_requests"
    __table_args__ = (Index("ix_data_requests_status_due_at", "status", "due_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(16))  # ACCESS | CORRECTION | ERASURE
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"), index=True)  # the first named
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
    requester_email: Mapped[str | None] = mapped_column(String(320))
    identity_verified_at: Mapped[datetime | None]
    identity_verified_by: Mapped[uuid.UUID | None]
    identity_check: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None]
    delivery_method: Mapped[str | None] = mapped_column(String(200))
    correction: Mapped[str | None] = mapped_column(Text)
    refusal_ground: Mapped[str | None] = mapped_column(String(64))
    letters: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)  # reply letters (resolvers.privacy.letters)
    correction_notices: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    requester_pseudonymised_at: Mapped[datetime | None]


class DataRequestContact(WorkspaceBase):
    """The records a data request names: several when the person is held twice, none when not held at all."""

    __tablename__ = "data_request_contacts"

    data_request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_requests.id", ondelete="CASCADE"),
                                                       primary_key=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True,
                                                  index=True)
    position: Mapped[int] = mapped_column(default=0)


class WorkspaceSettings(WorkspaceBase):
    """One row: who the business is and how to reach its data protection officer, and its time zone."""

    __tablename__ = "workspace_settings"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=1)
    business_name: Mapped[str | None] = mapped_column(String(200))
    dpo_name: Mapped[str | None] = mapped_column(String(200))
    dpo_email: Mapped[str | None] = mapped_column(String(320))
    dpo_phone: Mapped[str | None] = mapped_column(String(32))
    dpo_address: Mapped[str | None] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Hong_Kong")
    updated_at: Mapped[datetime | None]


class RetentionMinimum(WorkspaceBase):
    """The shortest period a category of records must be kept (finance: 7 years); no policy may undercut it."""

    __tablename__ = "retention_minimums"

    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    min_days: Mapped[int]
    updated_at: Mapped[datetime | None]


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
    fields: Mapped[list[str] | None] = mapped_column(JSONB)  # CLEAR_FIELDS: the fields it clears


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
