"""Typed domain errors; `code` is the contract's `extensions.code`.

    DomainError
    ├── BadInput        BAD_USER_INPUT (names the input `field`)
    ├── NotFound        NOT_FOUND
    ├── Unauthenticated UNAUTHENTICATED
    ├── Conflict        CONFLICT (optional `detail`, e.g. SUPPRESSED)
    └── RateLimited     RATE_LIMITED
authz.errors.AccessDenied (FORBIDDEN) and authz.errors.InvalidRule (BAD_USER_INPUT) carry the same attributes.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.detail = detail

    def extensions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code}
        if self.field:
            out["field"] = self.field
        if self.detail:
            out["detail"] = self.detail
        return out


class BadInput(DomainError):
    code = "BAD_USER_INPUT"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Unauthenticated(DomainError):
    """`reason` (e.g. MFA_REQUIRED) tells a client what to do next; it becomes `extensions.reason`."""

    code = "UNAUTHENTICATED"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason

    def extensions(self) -> dict[str, Any]:
        out = super().extensions()
        if self.reason:
            out["reason"] = self.reason
        return out


class Conflict(DomainError):
    code = "CONFLICT"


class RateLimited(DomainError):
    code = "RATE_LIMITED"
