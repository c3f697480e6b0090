"""Typed domain errors; `code` is the contract's `extensions.code`.

    DomainError
    ├── BadInput        BAD_USER_INPUT (names the input `field`)
    ├── NotFound        NOT_FOUND
    ├── Unauthenticated UNAUTHENTICATED
    ├── Conflict        CONFLICT (optional `detail`, e.g. SUPPRESSED)
    └── RateLimited     RATE_LIMITED
authz.errors.AccessDenied (FORBIDDEN) and authz.errors.InvalidRule (BAD_USER_INPUT) carry the same attributes.

`ERRORS` is the one table of contract code -> error class, `TYPED` the classes every edge reports with their
code (GraphQL's `UnitOfWork`, the HTTP routes); anything else is INTERNAL.
"""

from __future__ import annotations

from typing import Any

from authz.errors import AccessDenied, InvalidRule


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


ERRORS: dict[str, type[Exception]] = {
    "BAD_USER_INPUT": BadInput,
    "FORBIDDEN": AccessDenied,
    "NOT_FOUND": NotFound,
    "UNAUTHENTICATED": Unauthenticated,
    "CONFLICT": Conflict,
    "RATE_LIMITED": RateLimited,
}
# Left to inference so that `except TYPED as exc` types `exc` as the union (each carries `code` and `field`).
TYPED = (DomainError, AccessDenied, InvalidRule)


def extensions_of(exc: Exception) -> dict[str, Any]:
    """A typed error's `extensions`: its code, and its `field` (and `detail`) when it names one."""
    if isinstance(exc, DomainError):
        return exc.extensions()
    out: dict[str, Any] = {"code": getattr(exc, "code", "INTERNAL")}
    if getattr(exc, "field", None):
        out["field"] = exc.field  # type: ignore[attr-defined]
    return out
