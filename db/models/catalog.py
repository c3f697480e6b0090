"""Catalog tables: where each workspace's database lives, its wrapped keys, its life cycle, support grants."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import CatalogBase, created_at, uuid_pk


class WorkspaceStatus(enum.StrEnum):
    CREATING = "CREATING"  # registered, its database not ready yet: `workspace create` again finishes it
    ACTIVE = "ACTIVE"
    CLOSING = "CLOSING"
    PURGED = "PURGED"


class Workspace(CatalogBase):
    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(16))
    database_name: Mapped[str] = mapped_column(String(63), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=WorkspaceStatus.ACTIVE)
    current_key_version: Mapped[int] = mapped_column(default=1)
    wrapped_index_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at()
    close_requested_at: Mapped[datetime | None]
    purge_after: Mapped[datetime | None]
    purge_reminded_at: Mapped[datetime | None]  # the "purge in 7 days" e-mail went out
    purged_at: Mapped[datetime | None]


class DataKey(CatalogBase):
    """A workspace's data key of one version, wrapped by the master key."""

    __tablename__ = "data_keys"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = created_at()
    # When a rotation to this version had re-encrypted every value; NULL while one is unfinished.
    reencrypted_at: Mapped[datetime | None]


class SupportGrant(CatalogBase):
    __tablename__ = "support_grants"

    id: Mapped[uuid.UUID] = uuid_pk()
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id"), index=True)
    granted_by: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
