"""Relay global IDs: opaque base64 of "<Type>:<uuid>"; every `...Id` argument takes them."""

from __future__ import annotations

import base64
import uuid

from resolvers.errors import BadInput


def to_global(type_name: str, raw_id: uuid.UUID | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def from_global(global_id: str, *, expect: str | None = None, field: str = "id") -> tuple[str, uuid.UUID]:
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        value = uuid.UUID(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput("not a valid ID", field=field) from exc
    if expect is not None and type_name != expect:
        raise BadInput(f"expected a {expect} ID", field=field)
    return type_name, value


def uuid_of(global_id: str, expect: str, field: str) -> uuid.UUID:
    return from_global(global_id, expect=expect, field=field)[1]
