"""Policy rules: their vocabulary (resources, actions, effects, scopes) and validation."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from authz import scopes
from authz.errors import InvalidRule
from authz.fields import ENTITIES, NON_NULL_FIELDS, PII_CATEGORIES, FieldRegistry
from authz.permissions import OPERATION_RESOURCES as PERMISSION_OPERATIONS
from authz.permissions import Action


class Effect(enum.StrEnum):
    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"


ACTIONS = tuple(Action)
# Resources that are not records: admin operations, each with its actions.
OPERATION_RESOURCES = PERMISSION_OPERATIONS
ROLE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True)
class Rule:
    role: str
    resource: str
    action: str
    effect: Effect
    scope: str = "all"

    def as_casbin(self) -> list[str]:
        return [self.role, self.resource, self.action, self.effect.value, self.scope]

    @classmethod
    def from_casbin(cls, values: list[str]) -> Rule:
        role, resource, action, effect, *rest = values
        return cls(role, resource, action, Effect(effect), (rest[0] if rest and rest[0] else "all"))


def resource_kind(resource: str) -> str:
    """ "record" (contact), "field" (contact.email, contact.*), "group" (pii:...), "operation" (policy)."""
    if resource in ENTITIES:
        return "record"
    if resource.startswith("pii:"):
        return "group"
    if "." in resource:
        return "field"
    return "operation"


def role_name(role: str, *, field: str = "role") -> str:
    """The role name normalised (trimmed, lower case), or InvalidRule naming `field`."""
    name = role.strip().lower()
    if not name or not set(name) <= ROLE_NAME_CHARS or len(name) > 64:
        raise InvalidRule("role names are 1-64 characters of a-z, 0-9, '_' and '-'", field=field)
    return name


def validate(rule: Rule, registry: FieldRegistry) -> Rule:
    """Return the rule normalised, or raise InvalidRule naming the input field at fault."""
    role = role_name(rule.role)
    if rule.action not in ACTIONS:
        raise InvalidRule(f"unknown action {rule.action!r}; one of {', '.join(ACTIONS)}", field="action")
    kind = resource_kind(rule.resource)
    if kind == "operation" and rule.resource not in OPERATION_RESOURCES:
        raise InvalidRule(f"unknown resource {rule.resource!r}", field="resource")
    if kind == "group" and rule.resource.removeprefix("pii:") not in PII_CATEGORIES:
        raise InvalidRule(f"unknown PII category in {rule.resource!r}", field="resource")
    if kind == "field":
        entity, _, name = rule.resource.partition(".")
        if entity not in ENTITIES or (name != "*" and registry.get(entity, name) is None):
            raise InvalidRule(f"unknown field {rule.resource!r}", field="resource")
    if kind in ("field", "group") and rule.action not in ("read", "write"):
        raise InvalidRule("field rules take the actions read and write", field="action")
    if rule.effect is Effect.MASK and (kind not in ("field", "group") or rule.action != "read"):
        raise InvalidRule("MASK applies to reading fields only", field="effect")
    if rule.effect is Effect.DENY and rule.resource in NON_NULL_FIELDS and rule.scope != "all":
        raise InvalidRule("a non-null field can only be denied on all records", field="scope")
    scope = (rule.scope or "all").strip()
    entities = _scope_entities(rule.resource, kind)
    if scope != "all" and not any(scopes.is_valid(e, scope) for e in entities):
        raise InvalidRule(f"unknown scope {scope!r} for {rule.resource!r}", field="scope")
    return Rule(role, rule.resource, rule.action, rule.effect, scope)


def _scope_entities(resource: str, kind: str) -> tuple[str, ...]:
    if kind == "record":
        return (resource,)
    if kind == "field":
        return (resource.partition(".")[0],)
    if kind == "group":
        return ENTITIES
    return (resource,) if resource in scopes.ENTITY_SCOPES else ()
