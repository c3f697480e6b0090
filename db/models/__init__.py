"""SQLAlchemy models: `catalog` (one database per deployment) and the workspace database's tables."""

from db.models.base import CatalogBase, WorkspaceBase
from db.models.catalog import DataKey, SupportGrant, Workspace, WorkspaceStatus
from db.models.contacts import Activity, Attachment, Consent, Contact, ContactHistory
from db.models.documents import ApiKeyDocument, IdempotencyKey, TrustedDocument
from db.models.identity import ApiKey, AuthSession, MfaRecoveryCode, PasswordReset, RefreshToken, Team, User
from db.models.imports import ImportJob, ImportRow, ImportUpload
from db.models.meta import (
    AuditBatch,
    CasbinRule,
    CatalogChange,
    FieldDefinition,
    LogBookEntry,
    RoleDefinition,
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
from db.models.webhooks import Webhook, WebhookDelivery, WebhookEvent

__all__ = [
    "Activity",
    "ApiKey",
    "ApiKeyDocument",
    "Attachment",
    "AuditBatch",
    "AuthSession",
    "CasbinRule",
    "CatalogBase",
    "CatalogChange",
    "Consent",
    "Contact",
    "ContactHistory",
    "DataKey",
    "DataRequest",
    "DataRequestContact",
    "ExportJob",
    "FieldDefinition",
    "IdempotencyKey",
    "ImportJob",
    "ImportRow",
    "ImportUpload",
    "LogBookEntry",
    "MfaRecoveryCode",
    "OptOut",
    "PasswordReset",
    "RefreshToken",

    "RetentionMinimum",
    "RetentionPolicy",
    "RoleDefinition",
    "SupportGrant",
    "Suppression",
    "Team",
    "TrustedDocument",
    "User",
    "Webhook",
    "WebhookDelivery",
    "WebhookEvent",
    "Workspace",
    "WorkspaceBase",
    "WorkspaceMeta",
    "WorkspaceSettings",
    "WorkspaceStatus",
    "audit_events",
    "audit_log",
]
