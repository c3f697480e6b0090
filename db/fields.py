"""What a field is, as storage sees it: `FieldSpec` (entity, GraphQL name, type, PII category) and the
categories encrypted at rest. The registry of every field (`authz.fields`) is built from these; `db.queries`
maps them to columns without importing `authz`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Categories encrypted at rest (AES-256-GCM) in the application.
ENCRYPTED_CATEGORIES = frozenset(
    {"government_id", "financial", "date_of_birth", "health", "biometric", "children", "criminal_records"}
)


@dataclass(frozen=True)
class FieldSpec:
    entity: str
    name: str  # the GraphQL name, also used in policies ("contact.dateOfBirth") and audit rows
    type: str
    pii: str | None = None
    mask: str | None = None  # masking kind for the MASK effect (authz.masking)
    custom: bool = False
    purpose: str | None = None

    @property
    def resource(self) -> str:
        return f"{self.entity}.{self.name}"

    @property
    def group(self) -> str | None:
        return f"pii:{self.pii}" if self.pii else None

    @property
    def masked_as_text(self) -> bool:
        """A non-String field cannot carry a masked string: it is null and `<name>Masked` carries the mask."""
        return self.type != "String"
