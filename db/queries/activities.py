"""Activity statements and storage mapping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.engine import Row

from db.fields import FieldSpec
from db.models import Activity, Contact
from db.queries import stored

T = Activity.__table__.c
PLAIN_COLUMNS: dict[str, str] = {
    "kind": "kind",
    "subject": "subject",
    "body": "body",
    "private": "private",
    "occurredAt": "occurred_at",
    "author": "author_id",
    "attachments": "id",
    "amount": "amount_cents",
}
stored.check_names(PLAIN_COLUMNS.values())


def readable_activities(
    activity_filter: ColumnElement[bool], contact_filter: ColumnElement[bool], columns: Sequence[Any] | None = None
) -> Select[Any]:
    """Every activity read starts here: the activity's own scope, and its contact must be visible."""
    visible_contacts = select(Contact.__table__.c.id).where(contact_filter)
    return select(*(columns if columns is not None else Activity.__table__.c)).where(
        activity_filter, T.contact_id.in_(visible_contacts))


def storage_columns(specs: Iterable[FieldSpec]) -> list[Any]:
    """id, contact_id and created_at (links and cursors) plus the columns that hold `specs`."""
    names = ["id", "contact_id", "created_at", *(PLAIN_COLUMNS[s.name] for s in specs if s.name in PLAIN_COLUMNS)]
    return [T[name] for name in dict.fromkeys(names)]


def value(row: Row[Any] | Mapping[str, Any], spec: FieldSpec) -> Any:
    name = PLAIN_COLUMNS.get(spec.name)
    return None if name is None else stored.column(row, name)
