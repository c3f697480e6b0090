"""Field definitions and the PII inventory (DPP1, DPP5): what the CRM stores, tagged by PII category."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz import effective
from authz.fields import CUSTOM_FIELD_TYPES, ENCRYPTED_CATEGORIES, ENTITIES, PII_CATEGORIES, FieldSpec, taggable_builtin
from authz.permissions import Action, Resource
from db.models import Activity, Contact, FieldDefinition
from db.queries import contacts as contact_q
from resolvers import policies
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.runtime import Caller

CUSTOM_NAME = re.compile(r"^[a-z][a-zA-Z0-9]{1,40}$")


async def definitions(session: AsyncSession, caller: Caller, entity: str | None) -> list[FieldDefinition]:
    caller.access.require(Resource.FIELD_DEFINITION, Action.READ)
    stmt = select(FieldDefinition).order_by(FieldDefinition.entity, FieldDefinition.custom, FieldDefinition.name)
    if entity is not None:
        stmt = stmt.where(FieldDefinition.entity == entity)
    return list((await session.execute(stmt)).scalars())


def _category(category: str | None) -> str | None:
    if category is not None and category not in PII_CATEGORIES:
        raise BadInput(f"unknown PII category {category!r}; one of {', '.join(PII_CATEGORIES)}", field="piiCategory")
    return category


async def define_custom_field(
    session: AsyncSession,
    caller: Caller,
    entity: str,
    name: str,
    type_: str,
    category: str | None,
    purpose: str | None,
) -> FieldDefinition:
    caller.access.require(Resource.FIELD_DEFINITION, Action.WRITE)
    if entity != "contact":
        raise BadInput("custom fields are defined on contacts", field="entity")
    if not CUSTOM_NAME.match(name):
        raise BadInput("custom field names are camelCase letters and digits, 2-41 characters", field="name")
    if type_ not in CUSTOM_FIELD_TYPES:
        raise BadInput(f"unknown type {type_!r}; one of {', '.join(CUSTOM_FIELD_TYPES)}", field="type")
    category = _category(category)
    if category == "government_id" and not (purpose and purpose.strip()):
        raise BadInput("a government id field needs a stated purpose (PCPD Code of Practice)", field="purpose")
    if await session.get(FieldDefinition, (entity, name)) is not None:
        raise Conflict(f"the field {entity}.{name} exists already", field="name")
    row = FieldDefinition(
        entity=entity,
        name=name,
        type=type_,
        custom=True,
        pii_category=category,
        purpose=purpose.strip() if purpose else None,
    )
    session.add(row)
    await session.flush()
    caller.audit.event(
        "CREATE",
        entity_type="field_definition",
        entity_id=f"{entity}.{name}",
        details={"type": type_, "piiCategory": category},
    )
    await policies.changed(session, caller, details={"change": "defineCustomField", "field": f"{entity}.{name}"})
    return row


async def tag_field(
    session: AsyncSession, caller: Caller, entity: str, name: str, category: str | None
) -> FieldDefinition:
    caller.access.require(Resource.FIELD_DEFINITION, Action.WRITE)
    row = await session.get(FieldDefinition, (entity, name))
    if row is None:
        raise NotFound(f"no field {entity}.{name}")
    category = _category(category)
    if not row.custom:
        if taggable_builtin(entity, name) is None:
            raise BadInput("this built-in field keeps its category (its storage depends on it)", field="name")
        if category in ENCRYPTED_CATEGORIES:
            raise BadInput("a built-in field stored in clear cannot take an encrypted category", field="piiCategory")
    elif category == "government_id" and not row.purpose:
        raise BadInput("a government id field needs a stated purpose first", field="piiCategory")
    row.pii_category = category
    await session.flush()
    await policies.changed(
        session, caller, details={"change": "tagField", "field": f"{entity}.{name}", "piiCategory": category}
    )
    return row


async def remove_custom_field(session: AsyncSession, caller: Caller, entity: str, name: str) -> bool:
    caller.access.require(Resource.FIELD_DEFINITION, Action.WRITE)
    row = await session.get(FieldDefinition, (entity, name))
    if row is None or not row.custom:
        raise NotFound(f"no custom field {entity}.{name}")
    purged = await session.execute(
        update(Contact).where(Contact.custom_fields.has_key(name)).values(custom_fields=Contact.custom_fields - name)
    )
    await session.execute(delete(FieldDefinition).where(FieldDefinition.entity == entity, FieldDefinition.name == name))
    caller.audit.event(
        "DELETE",
        entity_type="field_definition",
        entity_id=f"{entity}.{name}",
        details={"valuesPurged": int(purged.rowcount or 0)},  # type: ignore[attr-defined]
    )
    await policies.changed(session, caller, details={"change": "removeCustomField", "field": f"{entity}.{name}"})
    return True


@dataclass(frozen=True)
class InventoryRow:
    entity: str
    field: str
    pii_category: str
    records_with_value: int
    purpose: str | None = None
    encrypted: bool = False
    custom: bool = False
    readable_by: tuple[str, ...] = ()
    masked_for: tuple[str, ...] = ()


async def inventory(session: AsyncSession, caller: Caller, *, with_readers: bool = False) -> list[InventoryRow]:
    """Per PII field: how many records the caller may read hold a value (counts only, no values; erased
    contacts hold none). `with_readers` (needs `policy read`): which roles can read each field, from the compiled
    decision tables (`authz.effective.readers`), each role on its own."""
    caller.access.require(Resource.FIELD_DEFINITION, Action.READ)
    readers: dict[str, dict[str, effective.Readers]] = {}
    if with_readers:
        caller.access.require(Resource.POLICY, Action.READ)
        tables = {role: caller.policy.table(frozenset({role})) for role in caller.policy.all_roles()}
        readers = {entity: effective.readers(tables, entity) for entity in ENTITIES}
    registry = caller.access.table.registry
    rows: list[InventoryRow] = []
    for entity in ENTITIES:
        table = Contact if entity == "contact" else Activity
        specs = [s for s in registry.of(entity).values() if s.pii]
        counts = [func.count(_column(entity, s)) for s in specs]
        if not counts:
            continue
        # Counted over the records the caller may read (record filters compiled to SQL), never workspace-wide.
        visible_contacts = and_(Contact.anonymised_at.is_(None), caller.access.record_filter(Resource.CONTACT))
        live = visible_contacts if entity == "contact" else and_(
            caller.access.record_filter(Resource.ACTIVITY),
            Activity.contact_id.in_(select(Contact.id).where(visible_contacts)),
        )
        values = (await session.execute(select(*counts).select_from(table).where(live))).one()
        who = readers.get(entity, {})
        none = effective.Readers((), ())
        rows += [
            InventoryRow(entity, s.name, s.pii or "", int(n), s.purpose, s.pii in ENCRYPTED_CATEGORIES, s.custom,
                         who.get(s.name, none).any, tuple(r for r in who.get(s.name, none).masked
                                                           if r not in who.get(s.name, none).clear))
            for s, n in zip(specs, values, strict=True)
        ]
    return rows


def _column(entity: str, spec: FieldSpec) -> ColumnElement[Any]:
    if spec.custom:
        return Contact.custom_fields[spec.name]
    if entity == "contact":
        column = contact_q.PLAIN_COLUMNS.get(spec.name) or contact_q.ENCRYPTED_COLUMNS[spec.name][0]
        return Contact.__table__.c[column]
    return Activity.__table__.c[{"subject": "subject", "body": "body", "amount": "amount_cents"}[spec.name]]
