"""What one principal may do in one request: record filters, field rulings, operation checks.

Resolvers ask this object; it never does I/O. Field effects are decided per row from boolean scope
flags that the query selected next to the row (`scope_columns`), never by calling Casbin per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, false

from authz import scopes
from authz.decisions import DecisionTable, FieldRuling
from authz.errors import AccessDenied
from authz.fields import FieldSpec
from authz.permissions import Action
from authz.principal import Principal
from authz.rules import Effect


@dataclass(frozen=True)
class FieldPlan:
    """Rulings for the fields one query returns, and the scope flags their decisions need per row."""

    entity: str
    rulings: tuple[FieldRuling, ...]

    @cached_property
    def scopes(self) -> tuple[str, ...]:
        needed: list[str] = []
        for ruling in self.rulings:
            for scope in ruling.scopes:
                if scope not in needed:
                    needed.append(scope)
        return tuple(needed)

    @cached_property
    def _constant(self) -> list[tuple[FieldSpec, Effect]] | None:
        """The decisions when no ruling depends on the row (the common case): computed once per list."""
        if any(r.constant is None for r in self.rulings):
            return None
        return [(r.spec, r.constant) for r in self.rulings if r.constant is not None]

    def read_flags(self, row: Any) -> dict[str, bool]:
        """The scope flags a query selected next to the row (`Access.flag_columns`), by scope name."""
        mapping = row._mapping
        return {scope: bool(mapping[f"_s{i}"]) for i, scope in enumerate(self.scopes)}

    def decide(self, flags: Mapping[str, bool]) -> list[tuple[FieldSpec, Effect]]:
        constant = self._constant
        if constant is not None:
            return constant
        out: list[tuple[FieldSpec, Effect]] = []
        for ruling in self.rulings:
            effect = ruling.constant
            if effect is None:
                effect = ruling.decide(lambda s: bool(flags.get(s)))[0]
            out.append((ruling.spec, effect))
        return out


class Access:
    def __init__(self, principal: Principal, table: DecisionTable) -> None:
        self.principal = principal
        self.table = table

    def complete_copy(self) -> Access:
        """The same principal, reading a data subject's complete copy (`DecisionTable.complete_copy`)."""
        return Access(self.principal, DecisionTable.complete_copy(self.table.registry, self.table.version))

    @property
    def policy_version(self) -> int:
        return self.table.version

    def record_filter(self, entity: str, action: str = "read") -> ColumnElement[bool]:
        ruling = self.table.record(entity, action)
        return scopes.combine(entity, ruling.allow, ruling.deny, self.principal)

    def activity_times(self) -> ColumnElement[bool] | None:
        """Which activities a contact's `lastActivityAt` may be computed over: None when the caller sees every
        activity (the stored column answers), else the activity record filter (`false` with no activity read, or
        when `activity.occurredAt` is not readable on every activity: the time is then null)."""
        ruling = self.table.record("activity", Action.READ)
        if not self.readable_everywhere("activity", "occurredAt"):
            return false()
        if "all" in ruling.allow and not ruling.deny:
            return None
        return self.record_filter("activity")

    def data_request_filter(self, action: str = "read") -> ColumnElement[bool]:
        """Requests the caller may see: every contact they name is visible to the caller; a request naming
        nobody needs `data_request <action>` on `all` (a `named` rule covers only requests naming someone)."""
        allowed = self.table.operation_scopes("data_request", action)
        if not allowed:
            return false()
        return scopes.data_requests(self.record_filter("contact"), "all" in allowed)

    def log_book_filter(self) -> ColumnElement[bool]:
        """The s.27 log book entries the caller may see: as `data_request_filter`, by the contact each names."""
        allowed = self.table.operation_scopes("data_request", Action.READ)
        if not allowed:
            return false()
        return scopes.log_book(self.record_filter("contact"), "all" in allowed)

    def scope_columns(self, entity: str, names: Sequence[str]) -> dict[str, ColumnElement[bool]]:
        return {name: scopes.predicate(entity, name, self.principal) for name in names}

    def flag_columns(self, plan: FieldPlan) -> list[ColumnElement[bool]]:
        """One boolean column per scope the plan's decisions need per row, labelled for `FieldPlan.read_flags`."""
        columns = self.scope_columns(plan.entity, plan.scopes)
        return [columns[scope].label(f"_s{i}") for i, scope in enumerate(plan.scopes)]

    def can(self, resource: str, action: str) -> bool:
        return self.table.allows(resource, action)

    def require(self, resource: str, action: str) -> None:
        if not self.table.allows(resource, action):
            raise AccessDenied(f"not allowed to {action} {resource}")

    def require_role_binding(self) -> None:
        """Binding a role to anyone (a new user's roles, `assignRole`, an API key's role) hands out that role's
        permissions, so it is a policy change: it needs `policy write` whatever else the caller holds."""
        if not self.table.allows("policy", "write"):
            raise AccessDenied("binding a role needs policy write")

    def field(self, entity: str, name: str, action: str = "read") -> FieldRuling:
        return self.table.field(entity, name, action)

    def plan(self, entity: str, names: Iterable[str], action: str = "read") -> FieldPlan:
        return FieldPlan(entity, tuple(self.table.field(entity, n, action) for n in names))

    def custom_fields(self, entity: str) -> list[FieldSpec]:
        return self.table.registry.custom(entity)

    def readable_everywhere(self, entity: str, name: str) -> bool:
        """True when the field reads in clear on every visible row: needed to filter, order or search by it."""
        ruling = self.table.field(entity, name)
        return ruling.constant is Effect.ALLOW

    def write_scopes(self, entity: str, names: Iterable[str]) -> list[str]:
        """The scopes the field write rules of `names` need, to be read off the written row."""
        return sorted({s for n in names for s in self.table.field(entity, n, Action.WRITE).scopes})

    def require_writes(
        self, entity: str, names: Iterable[str], flags: Mapping[str, bool], labels: Mapping[str, str] | None = None
    ) -> None:
        """FORBIDDEN (naming the field) unless every field of `names` may be written on a row with these scope
        flags: a field write rule with a scope (`activity.body, write, DENY, own`) applies where the row is in it."""
        for name in names:
            effect, _ = self.table.field(entity, name, Action.WRITE).decide(lambda s: bool(flags.get(s)))
            if effect is not Effect.ALLOW:
                label = (labels or {}).get(name, name)
                raise AccessDenied(f"not allowed to write {entity}.{label}", field=label)

    def require_readable(self, entity: str, names: Iterable[str], purpose: str) -> None:
        for name in names:
            if not self.readable_everywhere(entity, name):
                raise AccessDenied(f"{purpose} by {name} needs read access to {entity}.{name}", field=name)
