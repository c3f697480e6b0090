"""Trusted (persisted) documents and idempotent mutations.

* `trusted_documents`: registered GraphQL documents, keyed by the hex SHA-256 of their text; a request may name
  one with `{"documentId": "sha256:<hex>"}` instead of sending the text.
* `api_key_documents`: an API key's allow-list; a key with at least one row runs only those documents.
* `idempotency_keys`: the first answer to a mutation sent by an API key with an `Idempotency-Key` header,
  written in the request's own transaction (so it exists exactly when the mutation's changes do).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import WorkspaceBase, created_at


class TrustedDocument(WorkspaceBase):
    __tablename__ = "trusted_documents"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = created_at()


class ApiKeyDocument(WorkspaceBase):
    __tablename__ = "api_key_documents"

    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    sha256: Mapped[str] = mapped_column(ForeignKey("trusted_documents.sha256", ondelete="CASCADE"), primary_key=True)


class IdempotencyKey(WorkspaceBase):
    __tablename__ = "idempotency_keys"

    api_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = created_at()
