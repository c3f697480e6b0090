"""Authorization failures. `code` is the contract's error code; the schema layer formats them."""

from __future__ import annotations


class AccessDenied(Exception):
    """The caller may not perform this operation (FORBIDDEN)."""

    code = "FORBIDDEN"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidRule(ValueError):
    """A policy rule names an unknown resource, action, effect or scope (BAD_USER_INPUT)."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field
