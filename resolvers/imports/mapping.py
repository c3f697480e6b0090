"""From a file row to a `ContactInput`: columns mapped to input fields, text turned into the input's types.

This parses (as GraphQL parses scalars); it does not validate: every value then goes through
`resolvers.contacts` exactly as `createContact` / `updateContact` receive it. Dedupe keys are normalised by the
same functions the contact filters use (e-mail case-folded, phone E.164, HKID by its blind index).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import FieldRegistry
from db.queries import contacts as q
from resolvers.contacts import validation
from resolvers.errors import BadInput
from resolvers.runtime import Caller

ENTITY = "contact"
# ContactInput fields a file may set (ownerId / teamId take global IDs: imported contacts belong to the importer).
FIELDS = ("firstName", "lastName", "email", "phone", "hkid", "taxId", "dateOfBirth", "linkedinUrl", "bio", "salary",
          "company", "jobTitle", "stage", "vip")
DEDUPE_KEYS = {"email": validation.normalize_email, "phone": validation.normalize_phone,
               "hkid": validation.normalize_hkid}
TRUE, FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0"}
CUSTOM = "customFields."


@dataclass(frozen=True)
class Plan:
    mapping: dict[str, str]  # column -> field ("email", "customFields.passportNo"); empty: columns named as fields
    dedupe_by: tuple[str, ...]


def plan(caller: Caller, mapping: Mapping[str, Any] | None, dedupe_by: list[str] | None) -> Plan:
    """Checked when the import is started: unknown targets and dedupe keys are BAD_USER_INPUT."""
    registry = caller.access.table.registry
    out: dict[str, str] = {}
    for column, target in (mapping or {}).items():
        if not isinstance(target, str) or not _known(target, registry):
            raise BadInput(f"mapping: {column!r} maps to an unknown contact field", field="mapping")
        out[str(column)] = target
    keys = tuple(dict.fromkeys(dedupe_by or ()))
    unknown = [k for k in keys if k not in DEDUPE_KEYS]
    if unknown:
        raise BadInput(f"dedupeBy takes {', '.join(DEDUPE_KEYS)}", field="dedupeBy")
    # Matching on a field is reading it: the same rule as filtering by it (no probing through imports).
    caller.access.require_readable(ENTITY, keys, "deduplicating")
    return Plan(out, keys)


def _known(target: str, registry: FieldRegistry) -> bool:
    if target.startswith(CUSTOM):
        spec = registry.get(ENTITY, target.removeprefix(CUSTOM))
        return spec is not None and spec.custom
    return target in FIELDS


def to_input(raw: Mapping[str, Any], plan: Plan, registry: FieldRegistry) -> dict[str, Any]:
    given: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for column, value in raw.items():
        target = plan.mapping.get(column) if plan.mapping else (column if _known(column, registry) else None)
        if target is None or value is None or (isinstance(value, str) and not value.strip()):
            continue  # unmapped column, or an empty cell: the field is not given
        if target.startswith(CUSTOM):
            name = target.removeprefix(CUSTOM)
            spec = registry.get(ENTITY, name)
            custom[name] = _typed(target, spec.type if spec else "String", value)
        else:
            given[target] = _typed(target, _TYPES.get(target, "String"), value)
    if custom:
        given["customFields"] = custom
    return given


_TYPES = {"salary": "Int", "vip": "Boolean", "dateOfBirth": "Date", "stage": "Stage"}


def _typed(name: str, kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value  # JSON Lines: already typed
    text = value.strip()
    try:
        if kind == "Int":
            return int(text.replace(",", ""))
        if kind == "Float":
            return float(text.replace(",", ""))
        if kind == "Date":
            return date.fromisoformat(text) if name == "dateOfBirth" else text
        if kind == "Boolean":
            if text.lower() in TRUE | FALSE:
                return text.lower() in TRUE
            raise ValueError
        if kind == "Stage":
            return text.upper()
    except ValueError as exc:
        raise BadInput(f"{name}: not a {kind.lower()}", field=name) from exc
    return value


async def find_existing(
    session: AsyncSession, caller: Caller, given: Mapping[str, Any], plan: Plan
) -> uuid.UUID | None:
    """The oldest contact the importer may change that matches the row on a dedupe key (erased ones never do)."""
    conditions: list[ColumnElement[bool]] = []
    for key in plan.dedupe_by:
        raw = given.get(key)
        if not isinstance(raw, str):
            continue
        try:
            value = DEDUPE_KEYS[key](raw)
        except validation.InvalidValue:
            continue  # the row fails validation later, with the field named
        if key == "email":
            conditions.append(func.lower(q.T.email) == value.lower())
        elif key == "phone":
            conditions.append(q.T.phone == value)
        else:
            conditions.append(q.blind_match("hkid", value, caller.tenant.cipher))
    if not conditions:
        return None
    stmt = (
        select(q.T.id)
        .where(caller.access.record_filter(ENTITY, "write"), q.T.anonymised_at.is_(None), or_(*conditions))
        .order_by(q.T.created_at, q.T.id)
        .limit(1)
    )
    return await session.scalar(stmt)  # type: ignore[no-any-return]
