"""The field registry: every readable field of every entity, its PII category and how it is masked.

Declared once here; the schema descriptions ("PII: government_id"), the Casbin `g2` groups, the
PII inventory and the field decisions all read it. Custom fields join at run time from the
workspace's `field_definitions` table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

# Declared with the columns (db.fields), so db.queries maps fields without importing authz.
from db.fields import ENCRYPTED_CATEGORIES as ENCRYPTED_CATEGORIES
from db.fields import FieldSpec as FieldSpec

PII_CATEGORIES = (
    "name",
    "contact",
    "government_id",
    "date_of_birth",
    "online_identifier",
    "financial",
    "free_text",
    # sensitive data insurers and clinics hold (custom fields only); encrypted at rest
    "health",
    "biometric",
    "children",
    "criminal_records",
)
# Default masking of a custom field, by category.
CATEGORY_MASKS = {
    "name": "name",
    "contact": "free_text",
    "government_id": "tax_id",
    "date_of_birth": "free_text",
    "online_identifier": "online_identifier",
    "financial": "free_text",
    "free_text": "free_text",
    "health": "free_text",
    "biometric": "free_text",
    "children": "free_text",
    "criminal_records": "free_text",
}
CUSTOM_FIELD_TYPES = ("String", "Int", "Float", "Boolean", "Date")


def _f(entity: str, name: str, type_: str, pii: str | None = None, mask: str | None = None) -> FieldSpec:
    return FieldSpec(entity, name, type_, pii, mask)


BUILTIN_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "contact": (
        _f("contact", "firstName", "String", "name", "name"),
        _f("contact", "lastName", "String", "name", "name"),
        _f("contact", "email", "String", "contact", "email"),
        _f("contact", "phone", "String", "contact", "phone"),
        _f("contact", "hkid", "String", "government_id", "hkid"),
        _f("contact", "taxId", "String", "government_id", "tax_id"),
        _f("contact", "dateOfBirth", "Date", "date_of_birth", "date_of_birth"),
        _f("contact", "linkedinUrl", "String", "online_identifier", "online_identifier"),
        _f("contact", "bio", "String", "free_text", "free_text"),
        _f("contact", "salary", "Int", "financial", "salary"),
        _f("contact", "company", "String"),
        _f("contact", "jobTitle", "String"),
        _f("contact", "stage", "ContactStage"),
        _f("contact", "vip", "Boolean"),
        _f("contact", "owner", "User"),
        _f("contact", "team", "Team"),
        _f("contact", "consents", "Consent"),
        _f("contact", "createdAt", "DateTime"),
        _f("contact", "updatedAt", "DateTime"),
        _f("contact", "lastActivityAt", "DateTime"),
        _f("contact", "anonymisedAt", "DateTime"),
        _f("contact", "archivedAt", "DateTime"),
    ),
    "activity": (
        _f("activity", "kind", "ActivityKind"),
        _f("activity", "subject", "String", "free_text", "free_text"),
        _f("activity", "body", "String", "free_text", "free_text"),
        _f("activity", "private", "Boolean"),
        _f("activity", "occurredAt", "DateTime"),
        _f("activity", "author", "User"),
        _f("activity", "attachments", "Attachment"),
        _f("activity", "amount", "Int", "financial", "salary"),
    ),
}
ENTITIES = tuple(BUILTIN_FIELDS)
# Non-null GraphQL fields: a DENY on one of them cannot be expressed as null on the field itself.
NON_NULL_FIELDS = frozenset(
    {
        "contact.stage",
        "contact.vip",
        "contact.consents",
        "contact.createdAt",
        "contact.updatedAt",
        "activity.kind",
        "activity.private",
        "activity.occurredAt",
        "activity.attachments",
    }
)


@dataclass(frozen=True)
class FieldRegistry:
    """Built-in plus custom fields of one workspace."""

    fields: Mapping[str, Mapping[str, FieldSpec]]  # entity -> name -> spec

    @classmethod
    def build(cls, custom: Iterable[FieldSpec] = ()) -> FieldRegistry:
        table: dict[str, dict[str, FieldSpec]] = {e: {f.name: f for f in specs} for e, specs in BUILTIN_FIELDS.items()}
        for spec in custom:
            table.setdefault(spec.entity, {})[spec.name] = spec
        return cls(table)

    def get(self, entity: str, name: str) -> FieldSpec | None:
        return self.fields.get(entity, {}).get(name)

    def of(self, entity: str) -> Mapping[str, FieldSpec]:
        return self.fields.get(entity, {})

    def custom(self, entity: str) -> list[FieldSpec]:
        return [f for f in self.of(entity).values() if f.custom]

    def groupings(self) -> list[tuple[str, str]]:
        """Casbin g2 lines: field resource -> PII category group."""
        return [(f.resource, f.group) for specs in self.fields.values() for f in specs.values() if f.group]

    def resources(self) -> set[str]:
        names = {f.resource for specs in self.fields.values() for f in specs.values()}
        return names | {f"{e}.*" for e in self.fields} | {f"pii:{c}" for c in PII_CATEGORIES}


def custom_field_spec(entity: str, name: str, type_: str, pii: str | None, purpose: str | None) -> FieldSpec:
    return FieldSpec(
        entity=entity,
        name=name,
        type=type_,
        pii=pii,
        mask=CATEGORY_MASKS.get(pii) if pii else None,
        custom=True,
        purpose=purpose,
    )


def taggable_builtin(entity: str, name: str) -> FieldSpec | None:
    """A built-in String field with no fixed PII category (company, jobTitle): admins may tag it, so erasure and
    the policy cover it. Fields with a fixed category keep it (their storage, e.g. encryption, depends on it)."""
    spec = next((f for f in BUILTIN_FIELDS.get(entity, ()) if f.name == name), None)
    return spec if spec is not None and spec.pii is None and spec.type == "String" else None


def definition_specs(definitions: Iterable[Any]) -> list[FieldSpec]:
    """The specs a workspace's `field_definitions` rows add to the built-ins: custom fields, and built-in fields
    an admin tagged with a PII category."""
    out: list[FieldSpec] = []
    for d in definitions:
        if d.custom:
            out.append(custom_field_spec(d.entity, d.name, d.type, d.pii_category, d.purpose))
        elif d.pii_category and (builtin := taggable_builtin(d.entity, d.name)) is not None:
            out.append(replace(builtin, pii=d.pii_category, mask=CATEGORY_MASKS.get(d.pii_category), purpose=d.purpose))
    return out
