"""One file row through the contact rules: the same validation, field write rules and suppression list as
`createContact` / `updateContact` (resolvers/contacts), in a SAVEPOINT so a refused row leaves nothing behind.

    created   no contact matched a dedupe key: `contacts.create`
    updated   a contact the importer may change matched: `contacts.update_contact` (the suppression list is
              checked for the values written, as for a new contact)
    skipped   a value is on the suppression list (an erased person is not brought back)
    failed    invalid or not allowed: the field and the reason, as the API would answer
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from resolvers.contacts import contacts
from resolvers.contacts.input import build_patch
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.privacy import suppression
from resolvers.runtime import Caller


@dataclass(frozen=True)
class Outcome:
    row: int
    action: str
    contact_id: uuid.UUID | None = None
    field: str | None = None
    reason: str | None = None


async def apply(session: AsyncSession, caller: Caller, plan: mapping.Plan, number: int,
                raw: dict[str, Any] | str) -> Outcome:
    if isinstance(raw, str):
        return Outcome(number, "failed", field="file", reason=raw)
    registry = caller.access.table.registry
    audit_mark, jobs_mark = caller.audit.savepoint(), len(caller.jobs)
    try:
        given = mapping.to_input(raw, plan, registry)
        if not given:
            return Outcome(number, "failed", reason="no mapped column has a value")
        async with session.begin_nested():
            existing = await mapping.find_existing(session, caller, given, plan)
            if existing is None:
                return Outcome(number, "created", await contacts.create(session, caller, given))
            await suppression.check(session, caller, existing, build_patch(given, registry, creating=False).values,
                                    None)
            return Outcome(number, "updated", await contacts.update_contact(session, caller, existing, given))
    except (DomainError, AccessDenied) as exc:
        caller.audit.rollback_to(audit_mark)
        del caller.jobs[jobs_mark:]
        action = "skipped" if getattr(exc, "detail", None) == "SUPPRESSED" else "failed"
        return Outcome(number, action, field=getattr(exc, "field", None), reason=str(exc))
    except DBAPIError:
        caller.audit.rollback_to(audit_mark)
        del caller.jobs[jobs_mark:]
        return Outcome(number, "failed", reason="the database refused the row")
