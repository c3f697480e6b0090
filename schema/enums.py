"""GraphQL enums of the contract."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum
class ContactStage(enum.Enum):
    LEAD = "LEAD"
    PROSPECT = "PROSPECT"
    CUSTOMER = "CUSTOMER"
    COLD = "COLD"


@strawberry.enum
class ActivityKind(enum.Enum):
    EMAIL = "EMAIL"
    WHATSAPP = "WHATSAPP"
    CALL = "CALL"
    MEETING = "MEETING"
    NOTE = "NOTE"
    PURCHASE = "PURCHASE"


@strawberry.enum
class ContactOrderField(enum.Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    FIRST_NAME = "FIRST_NAME"
    LAST_NAME = "LAST_NAME"
    COMPANY = "COMPANY"
    LAST_ACTIVITY_AT = "LAST_ACTIVITY_AT"


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class Effect(enum.Enum):
    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"


@strawberry.enum(description="A direct-marketing purpose a person consents to (PDPO Part 6A).")
class ConsentPurpose(enum.Enum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    CALL = "call"
    PROVIDE_TO_OTHERS = strawberry.enum_value(
        "provide_to_others",
        description="Providing the data to another person for their direct marketing (s.35J); written consent.",
    )


@strawberry.enum
class AuditAction(enum.Enum):
    READ = "READ"
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    ERASE = "ERASE"
    EXPORT = "EXPORT"
    POLICY_CHANGE = "POLICY_CHANGE"
    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    DENIED = "DENIED"
    MERGE = strawberry.enum_value(
        "MERGE", description="Duplicate records merged into a primary one (`mergeContacts`); names both sides."
    )


@strawberry.enum
class WorkspaceStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    CLOSING = "CLOSING"


@strawberry.enum(description="The language of a data request and of its export; of a privacy notice.")
class Language(enum.Enum):
    EN = "EN"
    ZH = "ZH"
