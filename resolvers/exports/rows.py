"""What an export may read, and the rows it reads: the requester's record scopes and field decisions, the same
`Access` predicates, `readable_*` builders and `project()` as the API, streamed in batches.

An export is audited as one EXPORT event naming the PII fields and categories that left and how many records,
not as one READ event per record: `Tally` stands in for the audit buffer that `project()` writes to.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import Access, FieldPlan
from authz.masking import mask_value
from authz.permissions import Action, Resource
from authz.rules import Effect
from db.audit import AuditActor, AuditBuffer
from db.crypto import WorkspaceCipher
from db.models import Activity, Contact
from db.queries import activities as activity_q
from db.queries import contacts as contact_q
from resolvers.projection import DENIED, Record, project

RENAMED = {"owner": "ownerId", "team": "teamId", "author": "authorId"}
LINKS = frozenset({"consents", "attachments"})  # relations exported as files of their own


class Tally(AuditBuffer):
    """Collects what `project()` would have audited: PII fields and categories read, records, denials."""

    def __init__(self, actor: AuditActor) -> None:
        super().__init__(actor)
        self.fields: dict[str, None] = {}
        self.categories: dict[str, None] = {}
        self.withheld: dict[str, None] = {}
        self._seen: set[tuple[str, tuple[str, ...], tuple[str, ...]]] = set()  # reads already tallied

    def read(self, entity_type: str, entity_id: str, fields: Any, categories: Any, at: Any = None) -> None:
        key = (entity_type, tuple(fields), tuple(categories))
        if key in self._seen:  # most rows read the same fields as the row before: nothing new to add
            return
        self._seen.add(key)
        prefix = "" if entity_type == "contact" else f"{entity_type}."
        self.fields.update(dict.fromkeys(prefix + f for f in fields))
        self.categories.update(dict.fromkeys(categories))

    def denied(self, entity_type: str | None, entity_id: str | None, fields: Any, details: Any = None) -> None:
        self.withheld.update(dict.fromkeys(f"{entity_type}.{f}" for f in fields))


@dataclass(frozen=True)
class Scope:
    access: Access
    contacts: ColumnElement[bool]  # visible to the requester AND in their `export` record scope
    activities: ColumnElement[bool]

    def contact_ids(self) -> Select[Any]:
        return select(Contact.id).where(self.contacts)

    def activity_ids(self) -> Select[Any]:
        return activity_q.readable_activities(self.activities, self.contacts, [Activity.id])


def scope_of(access: Access) -> Scope:
    contacts = and_(access.record_filter(Resource.CONTACT), access.record_filter(Resource.CONTACT, Action.EXPORT))
    return Scope(access, contacts, access.record_filter("activity"))


def _plan(access: Access, entity: str) -> FieldPlan:
    return access.plan(entity, list(access.table.registry.of(entity)))


def _scoped(stmt: Select[Any], access: Access, entity: str, plan: FieldPlan) -> Select[Any]:
    return stmt.add_columns(*access.flag_columns(plan))


async def _partitions(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], batch: int
) -> AsyncIterator[Sequence[Any]]:
    result = await session.stream(stmt.execution_options(yield_per=batch))
    try:
        async for rows in result.partitions(batch):
            yield rows
    finally:
        await result.close()


async def contacts(
    session: AsyncSession,
    scope: Scope,
    cipher: WorkspaceCipher,
    tally: Tally,
    batch: int,
    where: Sequence[ColumnElement[bool]] = (),
) -> AsyncIterator[list[Record]]:
    """Contacts in scope, oldest first, every field the requester may read (masked where their rules mask)."""
    access = scope.access
    plan = _plan(access, "contact")
    stored = contact_q.storage_columns(r.spec for r in plan.rulings)
    stmt = _scoped(contact_q.readable_contacts(scope.contacts, stored), access, "contact", plan)
    stmt = stmt.where(*where).order_by(contact_q.T.created_at, contact_q.T.id)
    not_text = [r.spec.name for r in plan.rulings if r.spec.masked_as_text]
    async for rows in _partitions(session, stmt, batch):
        yield project(
            entity="contact",
            rows=rows,
            plan=plan,
            flags=plan.read_flags,
            row_id=lambda row: row.id,
            read=lambda row, spec: contact_q.value(row, spec, cipher),
            audit=tally,
            want_masked=not_text,
        )


async def activities(
    session: AsyncSession, scope: Scope, tally: Tally, batch: int, where: Sequence[ColumnElement[bool]] = ()
) -> AsyncIterator[list[Record]]:
    """Activities in scope (their own scope, and their contact in the export scope), oldest first."""
    access = scope.access
    plan = _plan(access, "activity")
    stored = activity_q.storage_columns(r.spec for r in plan.rulings)
    stmt = _scoped(activity_q.readable_activities(scope.activities, scope.contacts, stored), access, "activity", plan)
    stmt = stmt.where(*where).order_by(activity_q.T.created_at, activity_q.T.id)
    async for rows in _partitions(session, stmt, batch):
        yield project(
            entity="activity",
            rows=rows,
            plan=plan,
            flags=plan.read_flags,
            row_id=lambda row: row.id,
            read=activity_q.value,
            audit=tally,
        )


async def rows(session: AsyncSession, stmt: Select[*tuple[Any, ...]], batch: int) -> AsyncIterator[Sequence[Any]]:
    """Plain rows of a statement already limited to the scope (consents, history, audit events...)."""
    async for part in _partitions(session, stmt, batch):
        yield part


def as_row(record: Record, **links: Any) -> dict[str, Any]:
    """A projected record as an export row: links renamed to ids, denied fields null and listed in `withheld`."""
    out: dict[str, Any] = {"id": record.id, **links}
    for name, value in record.values.items():
        if name in LINKS:
            continue
        out[RENAMED.get(name, name)] = None if value is DENIED else value
    if record.denied:
        out["withheld"] = list(record.denied)
    return out


def history_value(access: Access, field: str, value: Any) -> tuple[Any, bool]:
    """A change-history value as the requester may see it: (value, withheld). Only rules that hold on every
    row count (a history row is not matched against per-row scopes): otherwise the value is withheld."""
    spec = access.table.registry.get("contact", field)
    if spec is None:
        return None, True
    effect = access.field("contact", field).constant
    if effect is Effect.ALLOW:
        return value, False
    if effect is Effect.MASK and value is not None:
        return mask_value(spec.mask or "free_text", value), False
    return None, True


def contact_filter(contact_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [contact_q.T.id == contact_id]
