"""The audit log's shapes (filter, entries, access and exposure reports) and the helpers its readers share.

Every read of the log is itself audited (`audit_read`): one `READ` event (or `EXPORT` for a download) with
entity type `audit` and `details.report` naming what was read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from authz.permissions import Resource
from resolvers.errors import BadInput
from resolvers.runtime import Caller

RESOURCE = Resource.AUDIT
CURSOR_KIND = "AUDIT.OCCURRED_AT.DESC.datetime"
MAX_RETENTION_MONTHS = 1200
MAX_EXPOSURE_ROWS = 10_000  # rows a GraphQL exposure report carries (totals always cover everything)
ACTIVITY_PREFIX = "activities."


@dataclass(frozen=True)
class AuditFilter:
    actor_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    field: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None

    def described(self) -> dict[str, Any]:
        """The filter as audit details (identifiers only)."""
        out = {
            "actorId": self.actor_id,
            "entityType": self.entity_type,
            "entityId": self.entity_id,
            "action": self.action,
            "field": self.field,
            "from": self.occurred_from,
            "to": self.occurred_to,
        }
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class AuditEntry:
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    actor_kind: str
    action: str
    entity_type: str | None
    entity_id: str | None
    fields: list[str]
    categories: list[str]
    request_id: str | None
    client_ip: str | None
    policy_version: int | None
    details: dict[str, Any] | None


@dataclass(frozen=True)
class Actor:
    kind: str
    id: uuid.UUID | None
    label: str


@dataclass(frozen=True)
class AccessRow:
    actor: Actor
    actions: list[str]
    fields: list[str]
    first_at: datetime
    last_at: datetime
    count: int
    denied_fields: list[str] = field(default_factory=list)  # attempted and refused (DENIED), not read


@dataclass(frozen=True)
class AccessReport:
    contact_id: uuid.UUID
    occurred_from: datetime | None
    occurred_to: datetime | None
    rows: list[AccessRow]


@dataclass(frozen=True)
class ExposureRow:
    contact_id: uuid.UUID
    fields: list[str]
    categories: list[str]
    actors: list[Actor]
    read_count: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class FieldExposure:
    field: str
    contact_count: int


@dataclass(frozen=True)
class ActorExposure:
    actor: Actor
    contact_count: int
    read_count: int


@dataclass(frozen=True)
class ExposureReport:
    occurred_from: datetime
    occurred_to: datetime
    actor_id: uuid.UUID | None
    contact_count: int
    read_count: int
    rows: list[ExposureRow]
    fields: list[FieldExposure]
    actors: list[ActorExposure]
    truncated: bool



def utc(ts: datetime | None) -> datetime | None:
    """A naive time is UTC (the contract's times are UTC)."""
    if ts is None:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None or ts.utcoffset() is None else ts


def window(occurred_from: datetime | None, occurred_to: datetime | None) -> tuple[datetime | None, datetime | None]:
    lo, hi = utc(occurred_from), utc(occurred_to)
    if lo is not None and hi is not None and lo >= hi:
        raise BadInput("`to` must be later than `from`", field="to")
    return lo, hi


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat()


def label(kind: str, label: str | None) -> str:
    return label or kind


def audit_read(caller: Caller, report: str, download: bool, **details: Any) -> None:
    caller.audit.event(
        "EXPORT" if download else "READ",
        entity_type=RESOURCE,
        details={"report": report, **({"format": "csv"} if download else {}), **details},
    )
