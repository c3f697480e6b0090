"""SQLAlchemy models: `catalog` (one database per deployment) and the workspace database's tables."""

from db.models.base import CatalogBase, WorkspaceBase
from db.models.catalog import DataKey, SupportGrant, Workspace, WorkspaceStatus
from db.models.contacts import Activity, Attachment, Consent, Contact, ContactHistory
from db.models.identity import ApiKey, Team, User
from db.models.meta import (
    AuditBatch,
    CasbinRule,
    FieldDefinition,
    LogBookEntry,
    WorkspaceMeta,
    audit_events,
    audit_log,
)
from db.models.privacy import (
    DataRequest,
    DataRequestContact,
    ExportJob,
    OptOut,
    RetentionMinimum,
    RetentionPolicy,
    Suppression,
    WorkspaceSettings,
)

__all__ = [
    "Activity",
    "ApiKey",
    "Attachment",
    "AuditBatch",
    "CasbinRule",
    "CatalogBase",
    "Consent",
    "Contact",
    "ContactHistory",
    "DataKey",
    "DataRequest",
    "DataRequestContact",
    "ExportJob",
    "FieldDefinition",
    "LogBookEntry",
    "OptOut",
    "RetentionMinimum",
    "RetentionPolicy",
    "SupportGrant",
    "Suppression",
    "Team",
    "User",
    "Workspace",
    "WorkspaceBase",
    "WorkspaceMeta",
    "WorkspaceSettings",
    "WorkspaceStatus",
    "audit_events",
    "audit_log",
]
