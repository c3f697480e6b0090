"""Contact statements and storage mapping: GraphQL field name -> column, encryption, blind indexes, filters."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, tuple_
from sqlalchemy.engine import Row

from db.crypto import FieldLocation, WorkspaceCipher
from db.fields import ENCRYPTED_CATEGORIES, FieldSpec
from db.models import Activity, Contact
from db.queries import stored

T = Contact.__table__.c
TABLE = "contacts"

PLAIN_COLUMNS: dict[str, str] = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "linkedinUrl": "linkedin_url",
    "bio": "bio",
    "company": "company",
    "jobTitle": "job_title",
    "stage": "stage",
    "vip": "vip",
    "owner": "owner_id",
    "team": "team_id",
    "consents": "id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "lastActivityAt": "last_activity_at",
    "anonymisedAt": "anonymised_at",
    "archivedAt": "archived_at",
}
# name -> (ciphertext column, value kind, blind index column or None)
ENCRYPTED_COLUMNS: dict[str, tuple[str, str, str | None]] = {
    "hkid": ("hkid_enc", "str", "hkid_bidx"),
    "taxId": ("tax_id_enc", "str", "tax_id_bidx"),
    "dateOfBirth": ("date_of_birth_enc", "date", None),
    "salary": ("salary_enc", "int", None),
}
stored.check_names(["id", *PLAIN_COLUMNS.values(), *(c for c, _, _ in ENCRYPTED_COLUMNS.values())])
ORDER_COLUMNS: dict[str, tuple[ColumnElement[Any], str, str | None]] = {
    # order field -> (expression, cursor value kind, field whose read permission it needs)
    "CREATED_AT": (T.created_at, "datetime", None),
    "UPDATED_AT": (T.updated_at, "datetime", None),
    "FIRST_NAME": (func.coalesce(T.first_name, ""), "str", "firstName"),
    "LAST_NAME": (func.coalesce(T.last_name, ""), "str", "lastName"),
    "COMPANY": (func.coalesce(T.company, ""), "str", "company"),
    "LAST_ACTIVITY_AT": (
        func.coalesce(T.last_activity_at, datetime.fromisoformat("1900-01-01T00:00:00+00:00")),
        "datetime",
        "lastActivityAt",
    ),
}


EPOCH = datetime.fromisoformat("1900-01-01T00:00:00+00:00")


def last_activity(visible: ColumnElement[bool] | None) -> ColumnElement[Any]:
    """`lastActivityAt` over the activities the caller may see (`Access.activity_times`): the stored column
    when they see all, else the latest visible activity's time (null when none is visible)."""
    if visible is None:
        return T.last_activity_at
    return (
        select(func.max(Activity.occurred_at))
        .where(Activity.contact_id == T.id, visible)
        .correlate(Contact.__table__)
        .scalar_subquery()
    )


def order_expression(order: str, visible: ColumnElement[bool] | None) -> ColumnElement[Any]:
    """The sort expression of an order field; LAST_ACTIVITY_AT sorts by what the caller may see."""
    if order == "LAST_ACTIVITY_AT":
        return func.coalesce(last_activity(visible), EPOCH)
    return ORDER_COLUMNS[order][0]


def with_last_activity(columns: Sequence[Any], visible: ColumnElement[bool] | None) -> list[Any]:
    """`columns` with the stored `last_activity_at` replaced by `last_activity(visible)` (same label)."""
    if visible is None:
        return list(columns)
    return [last_activity(visible).label("last_activity_at") if c is T.last_activity_at else c for c in columns]


def readable_contacts(record_filter: ColumnElement[bool], columns: Sequence[Any] | None = None) -> Select[Any]:
    """Every contact read starts here: the caller's record scope is in the WHERE clause."""
    return select(*(columns if columns is not None else Contact.__table__.c)).where(record_filter)


def storage_columns(specs: Iterable[FieldSpec]) -> list[Any]:
    """The columns that hold `specs` (plus the id): a list reads only what it returns."""
    names = ["id"]
    for spec in specs:
        if spec.custom:
            names.append("custom_fields")
        elif spec.name in PLAIN_COLUMNS:
            names.append(PLAIN_COLUMNS[spec.name])
        elif spec.name in ENCRYPTED_COLUMNS:
            names.append(ENCRYPTED_COLUMNS[spec.name][0])
    return [T[name] for name in dict.fromkeys(names)]


def location(column: str, row_id: uuid.UUID) -> FieldLocation:
    return FieldLocation(TABLE, column, str(row_id))


def value(row: Row[Any] | Mapping[str, Any], spec: FieldSpec, cipher: WorkspaceCipher) -> Any:
    """The stored value of one field of one row, decrypted if it is encrypted at rest."""
    if spec.custom:
        m: Mapping[str, Any] = cast(Mapping[str, Any], row._mapping) if isinstance(row, Row) else row
        return custom_value(m, spec, cipher)
    name = PLAIN_COLUMNS.get(spec.name)
    if name is not None:
        return stored.column(row, name)
    encrypted = ENCRYPTED_COLUMNS.get(spec.name)
    if encrypted is None:
        return None
    blob = stored.column(row, encrypted[0])
    if blob is None:
        return None
    loc = location(encrypted[0], stored.column(row, "id"))
    if encrypted[1] == "int":
        return cipher.decrypt_int(loc, blob)
    if encrypted[1] == "date":
        return cipher.decrypt_date(loc, blob)
    return cipher.decrypt_str(loc, blob)


def _sealed(stored: Any) -> bytes | None:
    """The ciphertext of a custom value stored encrypted (`{"$enc": hex}`), or None for one stored as it is."""
    return bytes.fromhex(stored["$enc"]) if isinstance(stored, dict) and "$enc" in stored else None


def custom_value(m: Mapping[str, Any], spec: FieldSpec, cipher: WorkspaceCipher) -> Any:
    stored = (m["custom_fields"] or {}).get(spec.name)
    blob = _sealed(stored)
    return stored if blob is None else cipher.decrypt_str(location(f"custom_fields.{spec.name}", m["id"]), blob)


def custom_reader(spec: FieldSpec, cipher: WorkspaceCipher) -> Callable[[Mapping[str, Any] | None, str], Any]:
    """`custom_value` of one field with its decryptor built once (`WorkspaceCipher.column_decryptor`): a function
    of (the row's `custom_fields`, the row's id as text), for reading a page of rows."""
    name = spec.name
    decrypt = cipher.column_decryptor(TABLE, f"custom_fields.{name}")

    def read(custom_fields: Mapping[str, Any] | None, row_id: str) -> Any:
        stored = (custom_fields or {}).get(name)
        blob = _sealed(stored)
        return stored if blob is None else decrypt(row_id, blob)

    return read


def encode_custom(spec: FieldSpec, row_id: uuid.UUID, raw: Any, cipher: WorkspaceCipher) -> Any:
    if raw is None or spec.pii not in ENCRYPTED_CATEGORIES:
        return raw
    blob = cipher.encrypt_str(location(f"custom_fields.{spec.name}", row_id), str(raw))
    return {"$enc": blob.hex()}


def encode(values: Mapping[str, Any], row_id: uuid.UUID, cipher: WorkspaceCipher) -> dict[str, Any]:
    """Column values for built-in fields given by GraphQL name (already validated and normalised)."""
    out: dict[str, Any] = {}
    for name, raw in values.items():
        if name in ("owner", "team"):
            out[f"{name}_id"] = raw
        elif name in PLAIN_COLUMNS:
            out[PLAIN_COLUMNS[name]] = raw
        elif name in ENCRYPTED_COLUMNS:
            column, kind, index_column = ENCRYPTED_COLUMNS[name]
            loc = location(column, row_id)
            if raw is None:
                out[column] = None
            elif kind == "int":
                out[column] = cipher.encrypt_int(loc, int(raw))
            elif kind == "date":
                assert isinstance(raw, date)
                out[column] = cipher.encrypt_date(loc, raw)
            else:
                out[column] = cipher.encrypt_str(loc, str(raw))
            if index_column:
                out[index_column] = None if raw is None else cipher.blind_index(TABLE, index_column, str(raw))
    return out


def blind_index(name: str, normalised: str, cipher: WorkspaceCipher) -> bytes:
    """The blind index value of an encrypted field's (normalised) value, as `encode` stores it."""
    _, _, index_column = ENCRYPTED_COLUMNS[name]
    assert index_column is not None
    return cipher.blind_index(TABLE, index_column, normalised)


def blind_match(name: str, normalised: str, cipher: WorkspaceCipher) -> ColumnElement[bool]:
    index_column = ENCRYPTED_COLUMNS[name][2]
    assert index_column is not None
    return T[index_column] == blind_index(name, normalised, cipher)


def search_condition(text: str) -> ColumnElement[bool]:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(
        T.first_name.ilike(pattern),
        T.last_name.ilike(pattern),
        T.company.ilike(pattern),
        (func.coalesce(T.first_name, "") + " " + func.coalesce(T.last_name, "")).ilike(pattern),
    )


def keyset_after(
    order: str, descending: bool, cursor_value: Any, cursor_id: uuid.UUID, expr: ColumnElement[Any] | None = None
) -> ColumnElement[bool]:
    expr = ORDER_COLUMNS[order][0] if expr is None else expr
    left = tuple_(expr, T.id)
    right = tuple_(cursor_value, cursor_id)
    return left < right if descending else left > right


def nothing() -> ColumnElement[bool]:
    return and_(false())
