"""Contact input: validation and normalisation of every field, before anything is written."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from authz.fields import FieldRegistry
from resolvers.contacts import validation as v
from resolvers.errors import BadInput

STAGES = ("LEAD", "PROSPECT", "CUSTOMER", "COLD")


@dataclass
class ContactPatch:
    """Normalised values by GraphQL field name; only the fields given (None = clear the field)."""

    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> list[str]:
        return [*self.values, *(f"customFields.{k}" for k in self.custom)]


def _text(name: str, raw: Any, fn: Any) -> Any:
    if raw is None:
        return None
    try:
        return fn(raw)
    except v.InvalidValue as exc:
        raise BadInput(f"{name}: {exc}", field=name) from exc


NORMALISERS: dict[str, Any] = {
    "firstName": v.normalize_name,
    "lastName": v.normalize_name,
    "email": v.normalize_email,
    "phone": v.normalize_phone,
    "hkid": v.normalize_hkid,
    "taxId": v.normalize_tax_id,
    "dateOfBirth": v.validate_date_of_birth,
    "linkedinUrl": v.normalize_linkedin_url,
    "bio": lambda s: v.normalize_text(s, 10_000),
    "salary": v.validate_salary,
    "company": v.normalize_name,
    "jobTitle": v.normalize_name,
}


def build_patch(given: Mapping[str, Any], registry: FieldRegistry, *, creating: bool) -> ContactPatch:
    """`given` holds only the input fields the client sent; ids are already UUIDs."""
    patch = ContactPatch()
    for name, raw in given.items():
        if name in NORMALISERS:
            patch.values[name] = _text(name, raw, NORMALISERS[name])
        elif name == "stage":
            if raw is None:
                raise BadInput("stage cannot be cleared", field="stage")
            patch.values["stage"] = str(raw)
        elif name == "vip":
            if raw is None:
                raise BadInput("vip cannot be cleared", field="vip")
            patch.values["vip"] = bool(raw)
        elif name in ("ownerId", "teamId"):
            patch.values[name.removesuffix("Id")] = raw if raw is None else uuid.UUID(str(raw))
        elif name == "customFields":
            patch.custom = _custom(raw, registry)
        else:
            raise BadInput(f"unknown field {name}", field=name)
    if creating:
        creation_defaults(patch)
    return patch


def creation_defaults(patch: ContactPatch) -> None:
    """What a new contact holds for the fields its input leaves out."""
    patch.values.setdefault("stage", "LEAD")
    patch.values.setdefault("vip", False)


def _custom(raw: Any, registry: FieldRegistry) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadInput("customFields is an object keyed by custom field name", field="customFields")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        spec = registry.get("contact", key)
        if spec is None or not spec.custom:
            raise BadInput(f"unknown custom field {key!r}", field=f"customFields.{key}")
        out[key] = _custom_value(spec.type, key, value)
    return out


def _custom_value(type_: str, key: str, value: Any) -> Any:
    name = f"customFields.{key}"
    if value is None:
        return None
    ok = {
        "String": lambda x: isinstance(x, str) and len(x) <= 10_000,
        "Int": lambda x: isinstance(x, int) and not isinstance(x, bool),
        "Float": lambda x: isinstance(x, int | float) and not isinstance(x, bool),
        "Boolean": lambda x: isinstance(x, bool),
        "Date": lambda x: isinstance(x, str) and _is_date(x),
    }[type_](value)
    if not ok:
        raise BadInput(f"{name} must be a {type_}", field=name)
    return value


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
