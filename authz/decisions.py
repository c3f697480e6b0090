"""Compiled decisions: per (workspace, role set, policy version), what each field and record rule says.

Casbin is never asked per row or per field instance. `DecisionTable.compile` walks the role
graph (`g`) and the PII groups (`g2`) once; the result answers in dictionary lookups.

Precedence for one field on one row: a DENY that applies wins; then rules with a narrower scope
than `all` (MASK over ALLOW); then `all` rules (MASK over ALLOW); with no rule, non-PII fields
follow the record rule (the row is visible, so ALLOW) and PII fields are denied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import casbin

from authz.fields import ENTITIES, FieldRegistry, FieldSpec
from authz.rules import OPERATION_RESOURCES, Effect, Rule


@dataclass(frozen=True)
class RecordRuling:
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    rules: tuple[Rule, ...]


def _precedence(rule: Rule) -> tuple[int, int]:
    if rule.effect is Effect.DENY:
        return (0, 0)
    narrow = 0 if rule.scope != "all" else 1
    return (1 + narrow, 0 if rule.effect is Effect.MASK else 1)


@dataclass(frozen=True)
class FieldRuling:
    spec: FieldSpec
    action: str
    ordered: tuple[Rule, ...]
    default: Effect

    @cached_property
    def constant(self) -> Effect | None:
        """The effect on every row, when it does not depend on the row."""
        for rule in self.ordered:
            if rule.scope == "all":
                return rule.effect
            return None
        return self.default

    @cached_property
    def scopes(self) -> tuple[str, ...]:
        """Scopes to evaluate per row, in order, before an `all` rule ends the search."""
        needed: list[str] = []
        for rule in self.ordered:
            if rule.scope == "all":
                break
            if rule.scope not in needed:
                needed.append(rule.scope)
        return tuple(needed)

    def decide(self, in_scope: Callable[[str], bool]) -> tuple[Effect, Rule | None]:
        for rule in self.ordered:
            if rule.scope == "all" or in_scope(rule.scope):
                return rule.effect, rule
        return self.default, None


@dataclass
class DecisionTable:
    roles: frozenset[str]
    version: int
    registry: FieldRegistry
    rules: tuple[Rule, ...]
    groupings: Mapping[str, frozenset[str]]  # field resource -> its PII groups
    _fields: dict[tuple[str, str, str], FieldRuling] = field(default_factory=dict)
    _records: dict[tuple[str, str], RecordRuling] = field(default_factory=dict)

    @classmethod
    def compile(
        cls, enforcer: casbin.Enforcer, registry: FieldRegistry, roles: Iterable[str], version: int
    ) -> DecisionTable:
        effective: set[str] = set()
        for role in roles:
            effective.add(role)
            effective.update(enforcer.get_implicit_roles_for_user(role))
        rules = tuple(
            Rule.from_casbin(values)
            for role in sorted(effective)
            for values in enforcer.get_filtered_named_policy("p", 0, role)
        )
        groups: dict[str, set[str]] = {}
        for resource, group in enforcer.get_named_grouping_policy("g2"):
            groups.setdefault(resource, set()).add(group)
        return cls(
            roles=frozenset(effective),
            version=version,
            registry=registry,
            rules=rules,
            groupings={k: frozenset(v) for k, v in groups.items()},
        )

    @classmethod
    def complete_copy(cls, registry: FieldRegistry, version: int) -> DecisionTable:
        """The data subject's own copy (DPP6, s.18(1)(b)): every record and field about the person, in clear,
        whatever the requester's field rules. Only the export of a data request is built with it."""
        role = "data_subject_copy"
        rules = [Rule(role, resource, action, Effect.ALLOW)
                 for entity in ENTITIES
                 for resource, action in ((entity, "read"), (entity, "export"), (f"{entity}.*", "read"))]
        rules += [Rule(role, "audit", "read", Effect.ALLOW), Rule(role, "data_request", "read", Effect.ALLOW)]
        return cls(roles=frozenset({role}), version=version, registry=registry, rules=tuple(rules), groupings={})

    def record(self, entity: str, action: str) -> RecordRuling:
        key = (entity, action)
        ruling = self._records.get(key)
        if ruling is None:
            matched = tuple(r for r in self.rules if r.resource == entity and r.action == action)
            allow = tuple(sorted({r.scope for r in matched if r.effect is Effect.ALLOW}))
            deny = tuple(sorted({r.scope for r in matched if r.effect is Effect.DENY}))
            ruling = self._records[key] = RecordRuling(allow, deny, matched)
        return ruling

    def field(self, entity: str, name: str, action: str = "read") -> FieldRuling:
        key = (entity, name, action)
        ruling = self._fields.get(key)
        if ruling is None:
            ruling = self._fields[key] = self._compile_field(entity, name, action)
        return ruling

    def _compile_field(self, entity: str, name: str, action: str) -> FieldRuling:
        spec = self.registry.get(entity, name)
        if spec is None:  # unknown field: deny, fail closed
            return FieldRuling(FieldSpec(entity, name, "String", "free_text"), action, (), Effect.DENY)
        targets = {spec.resource, f"{entity}.*"} | set(self.groupings.get(spec.resource, ()))
        matched = [r for r in self.rules if r.action == action and r.resource in targets]
        ordered = tuple(sorted(matched, key=_precedence))
        # Masking is meaningless for writes, and impossible for a value with no masked form (a Boolean, an
        # enum, a time, a relation: no mask kind, no `...Masked` companion): both fail closed, as DENY. The
        # rule keeps its MASK rank in the precedence (a narrower ALLOW still wins on its rows); only its
        # outcome is hidden.
        if action == "write" or not (spec.custom or spec.type == "String" or spec.mask):
            ordered = tuple(
                Rule(r.role, r.resource, r.action, Effect.DENY, r.scope) if r.effect is Effect.MASK else r
                for r in ordered
            )
        default = Effect.DENY if spec.pii else Effect.ALLOW
        return FieldRuling(spec, action, ordered, default)

    def allows(self, resource: str, action: str) -> bool:
        """Operation-level check: some rule allows it and none denies it."""
        if resource in ENTITIES:
            return bool(self.record(resource, action).allow)
        if resource not in OPERATION_RESOURCES:
            return False
        matched = [r for r in self.rules if r.resource == resource and r.action == action]
        return any(r.effect is Effect.ALLOW for r in matched) and not any(r.effect is Effect.DENY for r in matched)

    def operation_scopes(self, resource: str, action: str) -> frozenset[str]:
        """The scopes an operation rule allows (`data_request read` on `all` or `named`); empty when denied."""
        if not self.allows(resource, action):
            return frozenset()
        return frozenset(r.scope for r in self.rules
                         if r.resource == resource and r.action == action and r.effect is Effect.ALLOW)

    def matching(self, resource: str, action: str) -> list[Rule]:
        """Every rule that bears on `resource`/`action`, strongest first (for explainAccess)."""
        if "." in resource and not resource.endswith(".*"):
            entity, _, name = resource.partition(".")
            return list(self.field(entity, name, action).ordered)
        return sorted((r for r in self.rules if r.resource == resource and r.action == action), key=_precedence)
