"""Workspace CRM tables: contacts, activities, attachments, consents, and the encrypted change history.

High-risk PII (government ids, date of birth, salary) is stored only as AES-256-GCM ciphertext
(`*_enc`), with keyed blind indexes (`*_bidx`) for exact-match lookups.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import WorkspaceBase, created_at, utcnow, uuid_pk


class Contact(WorkspaceBase):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_created_at_id", "created_at", "id"),
        Index("ix_contacts_owner_id", "owner_id"),
        Index("ix_contacts_team_id", "team_id"),
        Index("ix_contacts_email", "email"),
        Index("ix_contacts_email_lower", text("lower(email)")),  # dedupe by e-mail (imports), the e-mail filter
        Index("ix_contacts_phone", "phone"),
        Index("ix_contacts_hkid_bidx", "hkid_bidx"),
        Index("ix_contacts_tax_id_bidx", "tax_id_bidx"),
        Index("ix_contacts_merged_into_id", "merged_into_id", postgresql_where=text("merged_into_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    hkid_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    hkid_bidx: Mapped[bytes | None] = mapped_column(LargeBinary)
    tax_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    tax_id_bidx: Mapped[bytes | None] = mapped_column(LargeBinary)
    date_of_birth_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    salary_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    linkedin_url: Mapped[str | None] = mapped_column(String(500))
    bio: Mapped[str | None] = mapped_column(Text)
    company: Mapped[str | None] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(16), default="LEAD")
    vip: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    legal_hold: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime | None]
    anonymised_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # Set when the contact was merged into another (and erased): a data access request follows it.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))


class Activity(WorkspaceBase):
    __tablename__ = "activities"
    __table_args__ = (
        Index("ix_activities_contact_id_created_at_id", "contact_id", "created_at", "id"),
        Index("ix_activities_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = created_at()


class Attachment(WorkspaceBase):
    __tablename__ = "attachments"

    id: Mapped[uuid.UUID] = uuid_pk()
    activity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("activities.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    deleted_at: Mapped[datetime | None]


class Consent(WorkspaceBase):
    """The current consent of one contact for one direct-marketing purpose."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("contact_id", "purpose"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool]
    source: Mapped[str] = mapped_column(String(200))
    notice_version: Mapped[str | None] = mapped_column(String(64))
    granted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    recorded_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContactHistory(WorkspaceBase):
    """Old and new values of each changed contact field, encrypted; destroyed by erasure."""

    __tablename__ = "contact_history"
    __table_args__ = (Index("ix_contact_history_contact_id_occurred_at", "contact_id", "occurred_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    occurred_at: Mapped[datetime] = created_at()
    actor_id: Mapped[uuid.UUID | None]
    actor_kind: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(String(100))
    old_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    new_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    request_id: Mapped[str | None] = mapped_column(String(64))
