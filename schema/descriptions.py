"""Schema descriptions generated from the field registry, so clients see what is personal data."""

from __future__ import annotations

from authz.fields import BUILTIN_FIELDS, ENCRYPTED_CATEGORIES

_SPECS = {(f.entity, f.name): f for specs in BUILTIN_FIELDS.values() for f in specs}


def pii(entity: str, name: str, extra: str = "") -> str | None:
    spec = _SPECS.get((entity, name))
    if spec is None or spec.pii is None:
        return extra or None
    text = f"PII: {spec.pii}."
    if spec.pii in ENCRYPTED_CATEGORIES:
        text += " Encrypted at rest (AES-256-GCM)."
    if spec.mask:
        text += f" Masked as {spec.mask.replace('_', ' ')} where the caller's rule says MASK."
    return f"{text} {extra}".strip()
