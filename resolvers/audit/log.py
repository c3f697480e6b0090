"""The audit log's public surface, one import for the schema and the command line (`from resolvers.audit import
log as audit`): events (`events`), access and exposure reports (`reports`), the chain (`chain`), the audit
retention (`retention`), and their shapes (`shapes`)."""

from __future__ import annotations

from resolvers.audit.chain import verify
from resolvers.audit.events import DETAILS, list_events
from resolvers.audit.reports import access_report, exposure_report
from resolvers.audit.retention import retention_months, set_retention
from resolvers.audit.shapes import (
    ACTIVITY_PREFIX,
    CURSOR_KIND,
    MAX_EXPOSURE_ROWS,
    MAX_RETENTION_MONTHS,
    RESOURCE,
    AccessReport,
    AccessRow,
    Actor,
    ActorExposure,
    AuditEntry,
    AuditFilter,
    ExposureReport,
    ExposureRow,
    FieldExposure,
)

__all__ = [
    "ACTIVITY_PREFIX",
    "CURSOR_KIND",
    "DETAILS",
    "MAX_EXPOSURE_ROWS",
    "MAX_RETENTION_MONTHS",
    "RESOURCE",
    "AccessReport",
    "AccessRow",
    "Actor",
    "ActorExposure",
    "AuditEntry",
    "AuditFilter",
    "ExposureReport",
    "ExposureRow",
    "FieldExposure",
    "access_report",
    "exposure_report",
    "list_events",
    "retention_months",
    "set_retention",
    "verify",
]
