"""A contact's change history with old and new values (decrypted), for admins and data-access exports.

Values are personal data: reading them is audited as a READ of `history.<field>` on the contact.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.permissions import Action, Resource
from db.crypto import FieldLocation, WorkspaceCipher
from db.models import Contact, ContactHistory
from resolvers.errors import NotFound
from resolvers.runtime import Caller


@dataclass(frozen=True)
class Change:
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_kind: str
    field: str
    old_value: Any
    new_value: Any


def _open(cipher: WorkspaceCipher, row: ContactHistory, column: str) -> Any:
    blob = getattr(row, column)
    if blob is None:
        return None
    return json.loads(cipher.decrypt_str(FieldLocation("contact_history", column, str(row.id)), blob))


async def changes(session: AsyncSession, caller: Caller, contact_id: uuid.UUID, *, audit: bool = True) -> list[Change]:
    """Every recorded change of the contact, oldest first. Needs `audit` `read` and the contact visible."""
    visible = await session.scalar(
        select(Contact.id).where(Contact.id == contact_id, caller.access.record_filter("contact"))
    )
    if visible is None:
        raise NotFound("no such contact")
    if not caller.access.can(Resource.AUDIT, Action.READ):
        raise AccessDenied("reading the change history needs audit read access")
    rows = (
        (
            await session.execute(
                select(ContactHistory)
                .where(ContactHistory.contact_id == contact_id)
                .order_by(ContactHistory.occurred_at, ContactHistory.id)
            )
        )
        .scalars()
        .all()
    )
    cipher = caller.tenant.cipher
    out = [
        Change(
            r.id,
            r.occurred_at,
            r.actor_id,
            r.actor_kind,
            r.field,
            _open(cipher, r, "old_enc"),
            _open(cipher, r, "new_enc"),
        )
        for r in rows
    ]
    if audit and out:
        fields = list(dict.fromkeys(f"history.{c.field}" for c in out))
        caller.audit.read("contact", str(contact_id), fields, ["history"])
    return out
