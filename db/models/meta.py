"""Workspace bookkeeping: policies (Casbin), field definitions, the audit log and its hash chain, the log book."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from db.models.base import WorkspaceBase, created_at, uuid_pk


class WorkspaceMeta(WorkspaceBase):
    """A single row: the workspace's policy version and its settings."""

    __tablename__ = "workspace_meta"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    policy_version: Mapped[int] = mapped_column(BigInteger, default=1)
    audit_retention_months: Mapped[int] = mapped_column(default=13)
    require_mfa: Mapped[bool] = mapped_column(default=False, server_default="false")


class CasbinRule(WorkspaceBase):
    __tablename__ = "casbin_rule"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ptype: Mapped[str] = mapped_column(String(8))
    v0: Mapped[str] = mapped_column(String(255), default="")
    v1: Mapped[str] = mapped_column(String(255), default="")
    v2: Mapped[str] = mapped_column(String(255), default="")
    v3: Mapped[str] = mapped_column(String(255), default="")
    v4: Mapped[str] = mapped_column(String(255), default="")
    v5: Mapped[str] = mapped_column(String(255), default="")


class RoleDefinition(WorkspaceBase):
    """A role an admin created: its description and owner. Its rules are `casbin_rule` p lines."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500), default="", server_default="")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    template: Mapped[str | None] = mapped_column(String(64))  # the template its first rules were copied from
    created_at: Mapped[datetime] = created_at()


class FieldDefinition(WorkspaceBase):
    __tablename__ = "field_definitions"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    custom: Mapped[bool] = mapped_column(default=False)
    pii_category: Mapped[str | None] = mapped_column(String(32))
    purpose: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at()


def _audit_columns(entity: Column[Any]) -> list[Column[Any]]:
    return [
        Column("id", Uuid, primary_key=True),
        Column("occurred_at", DateTime(timezone=True), primary_key=True),
        Column("actor_id", Uuid),
        Column("actor_kind", String(16), nullable=False),
        Column("action", String(16), nullable=False),
        Column("entity_type", String(32)),
        entity,
        Column("fields", ARRAY(Text), nullable=False),
        Column("categories", ARRAY(Text), nullable=False),
        Column("request_id", String(64)),
        Column("client_ip", String(64)),
        Column("user_agent", String(300)),
        Column("policy_version", BigInteger),
        Column("details", JSONB),
        Column("batch_seq", BigInteger),
    ]


# Both are created by hand-written SQL in the migrations (no ORM class): `audit_log` is the physical table,
# partitioned by month, written only by the SQL function `audit_append`; a READ or DENIED row may name many
# records of one request (`entity_ids`). `audit_events` is a view with one row per (event, record): what
# every reader uses.
audit_log = Table(
    "audit_log",
    WorkspaceBase.metadata,
    *_audit_columns(Column("entity_ids", ARRAY(Text), nullable=False)),
    postgresql_partition_by="RANGE (occurred_at)",
)
audit_events = Table("audit_events", WorkspaceBase.metadata, *_audit_columns(Column("entity_id", String(64))))


class AuditBatch(WorkspaceBase):
    """One flushed batch of audit rows (one request's), with its own content digest; the sealer later links it
    into the hash chain at `chain_position` (tamper evidence). Unsealed: the chain columns are null."""

    __tablename__ = "audit_batches"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # audit_batch_seq
    created_at: Mapped[datetime] = created_at()
    row_count: Mapped[int]
    content_hash: Mapped[bytes] = mapped_column(LargeBinary)
    prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    chain_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    chain_position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_occurred_at: Mapped[datetime]
    last_occurred_at: Mapped[datetime]


class LogBookEntry(WorkspaceBase):
    """PDPO s.27 log book: refused access and correction requests, kept 4 years outside audit rotation."""

    __tablename__ = "log_book"

    id: Mapped[uuid.UUID] = uuid_pk()
    data_request_id: Mapped[uuid.UUID | None]
    contact_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(String(16))
    requester_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    refused_at: Mapped[datetime] = created_at()
    actor_id: Mapped[uuid.UUID | None]
    keep_until: Mapped[datetime]
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class CatalogChange(WorkspaceBase):
    """The outbox of catalog changes decided here (a close): written with the change's audit event, applied to
    the catalog after that commit (`applied_at`), by the request or, after a crash, by the next run."""

    __tablename__ = "catalog_outbox"

    id: Mapped[uuid.UUID] = uuid_pk()
    change: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = created_at()
    applied_at: Mapped[datetime | None]
