"""The names of permissions: a rule's resource (`Resource`) and action (`Action`), as resolvers ask for them
(`caller.access.require(Resource.AUDIT, Action.READ)`). Both are `StrEnum`s, so they are also the strings
stored in policies and compared by the decision table."""

from __future__ import annotations

import enum


class Resource(enum.StrEnum):
    # Records (with scopes) and their fields.
    CONTACT = "contact"
    ACTIVITY = "activity"
    # Admin operations.
    USER = "user"
    TEAM = "team"
    API_KEY = "api_key"
    POLICY = "policy"
    AUDIT = "audit"
    WORKSPACE = "workspace"
    FIELD_DEFINITION = "field_definition"
    DATA_REQUEST = "data_request"
    RETENTION_POLICY = "retention_policy"
    SUPPORT_ACCESS = "support_access"
    WEBHOOK = "webhook"
    CONSENT = "consent"  # `consent override`: grant again over a standing direct-marketing opt-out (Part 6A)


class Action(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    EXPORT = "export"
    ERASE = "erase"
    IMPORT = "import"
    MERGE = "merge"  # `contact merge`: merge duplicate records of one person into one
    OVERRIDE = "override"


RECORD_RESOURCES = (Resource.CONTACT, Resource.ACTIVITY)
OPERATION_RESOURCES = tuple(r for r in Resource if r not in RECORD_RESOURCES)


def requires(resource: Resource, action: Action) -> str:
    """The sentence an operation's schema description ends with, from the permission its resolver asks for."""
    return f"Requires `{resource} {action}`."


def requires_in_scope(resource: Resource, action: Action) -> str:
    """`requires` for a record operation: the permission, and the record scope that filters it."""
    return f"Requires `{resource} {action}`; filtered by your record scope."


# What an operation's description says when it needs no permission: every description names a permission
# (`requires`) or says one of these (tests/test_sdl.py checks every Query and Mutation field).
SIGNED_IN = "Any signed-in user."
NO_SIGN_IN = "No sign-in needed."
EXEMPTIONS = (SIGNED_IN, NO_SIGN_IN)
