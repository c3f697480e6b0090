"""Relay global IDs built in resolvers (webhook bodies, import reports): the encoding of schema/ids.py."""

from __future__ import annotations

import base64


def global_id(type_name: str, raw_id: object) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")
