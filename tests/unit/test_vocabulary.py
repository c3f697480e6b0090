"""Names defined once and used everywhere: the consent purposes, the permission names, the typed errors."""

from __future__ import annotations

import pytest

from authz.errors import AccessDenied, InvalidRule
from authz.fields import FieldRegistry
from authz.permissions import Action, Resource
from authz.rules import ACTIONS, OPERATION_RESOURCES, Effect, Rule, validate
from authz.scopes import CONSENT_PURPOSES
from resolvers.errors import ERRORS, TYPED, BadInput, DomainError, extensions_of
from schema.enums import ConsentPurpose


def test_the_graphql_consent_purposes_are_the_scope_purposes() -> None:
    assert [p.value for p in ConsentPurpose] == list(CONSENT_PURPOSES)


def test_policy_validation_accepts_exactly_the_permission_names() -> None:
    registry = FieldRegistry.build()
    assert [str(a) for a in ACTIONS] == ["read", "write", "delete", "export", "erase", "import", "merge", "override"]
    for resource in OPERATION_RESOURCES:
        assert validate(Rule("admin", resource, Action.READ, Effect.ALLOW, "all"), registry).resource == resource
    assert set(OPERATION_RESOURCES) == set(Resource) - {Resource.CONTACT, Resource.ACTIVITY}
    for rule, field in ((Rule("admin", "audit", "approve", Effect.ALLOW, "all"), "action"),
                        (Rule("admin", "invoices", "read", Effect.ALLOW, "all"), "resource")):
        with pytest.raises(InvalidRule) as refused:
            validate(rule, registry)
        assert refused.value.field == field


def test_each_contract_code_has_one_error_class_and_every_class_is_typed() -> None:
    assert set(ERRORS) == {"BAD_USER_INPUT", "FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED", "CONFLICT", "RATE_LIMITED"}
    for code, cls in ERRORS.items():
        assert cls.code == code  # type: ignore[attr-defined]
        assert issubclass(cls, TYPED)
    assert InvalidRule in TYPED and AccessDenied in TYPED and DomainError in TYPED
    assert extensions_of(BadInput("no", field="name")) == {"code": "BAD_USER_INPUT", "field": "name"}
    assert extensions_of(AccessDenied("no")) == {"code": "FORBIDDEN"}
