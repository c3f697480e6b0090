"""The trusted-document decision: an API key pinned to documents runs only those."""

from __future__ import annotations

from collections.abc import Collection


def document_allowed(pins: Collection[str], digest: str) -> bool:
    """`pins`: the hex SHA-256 digests the key is pinned to (empty: not pinned, any document)."""
    return not pins or digest in pins
