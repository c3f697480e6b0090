"""Per-process cache of each workspace's Casbin enforcer and compiled decision tables, keyed by version.

The enforcer is built from rows read by the caller (`db.queries.policies.load_policy_rows`), so
this module does no I/O. A new policy version replaces the whole entry; stale tables are never used.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import casbin
from casbin import persist

from authz.decisions import DecisionTable
from authz.defaults import MODEL_FILE
from authz.fields import FieldRegistry, FieldSpec
from authz.rules import Rule


class _RowsAdapter(persist.Adapter):  # type: ignore[misc]
    """Loads rules already read from `casbin_rule`; writes go through SQL, not through Casbin."""

    def __init__(self, lines: list[list[str]]) -> None:
        self._lines = lines

    def load_policy(self, model: casbin.Model) -> None:
        for ptype, *values in self._lines:
            section = ptype[0]  # "p" or "g" (g2 lives in the "g" section)
            model.model[section][ptype].policy.append(values)


@dataclass
class WorkspacePolicy:
    version: int
    enforcer: casbin.Enforcer
    registry: FieldRegistry
    declared: frozenset[str] = frozenset()  # roles created with `createRole`, with or without rules yet
    _tables: dict[frozenset[str], DecisionTable] = field(default_factory=dict)

    def table(self, roles: frozenset[str]) -> DecisionTable:
        table = self._tables.get(roles)
        if table is None:
            table = self._tables[roles] = DecisionTable.compile(self.enforcer, self.registry, roles, self.version)
        return table

    def roles_of(self, subject: str) -> frozenset[str]:
        return frozenset(self.enforcer.get_roles_for_user(subject))

    def user_ids_with_role(self, role: str) -> list[uuid.UUID]:
        """Users holding `role`, directly or through a role that inherits it."""
        found: set[uuid.UUID] = set()
        pending, seen = [role], {role}
        while pending:
            for member in self.enforcer.get_users_for_role(pending.pop()):
                if member.startswith("user:"):
                    found.add(uuid.UUID(member.removeprefix("user:")))
                elif member not in seen:
                    seen.add(member)
                    pending.append(member)
        return sorted(found)

    def all_roles(self) -> list[str]:
        """Every role named in a rule, and every role created (`createRole`) even before it has a rule."""
        return sorted({r[0] for r in self.enforcer.get_named_policy("p")} | self.declared)

    def direct_members(self, role: str) -> list[str]:
        """The Casbin subjects bound to `role` directly: `user:<id>` and roles that inherit it."""
        return sorted(self.enforcer.get_users_for_role(role))

    def rules(self, role: str | None = None) -> list[Rule]:
        lines = self.enforcer.get_filtered_named_policy("p", 0, role) if role else self.enforcer.get_named_policy("p")
        return [Rule.from_casbin(v) for v in lines]


def build_policy(
    version: int,
    policy_lines: Iterable[tuple[str, list[str]]],
    custom_fields: Iterable[FieldSpec],
    declared_roles: Iterable[str] = (),
) -> WorkspacePolicy:
    registry = FieldRegistry.build(custom_fields)
    lines = [[ptype, *values] for ptype, values in policy_lines]
    lines += [["g2", resource, group] for resource, group in registry.groupings()]
    enforcer = casbin.Enforcer(str(MODEL_FILE), _RowsAdapter(lines))
    return WorkspacePolicy(version=version, enforcer=enforcer, registry=registry, declared=frozenset(declared_roles))


class PolicyStore:
    def __init__(self) -> None:
        self._entries: dict[str, WorkspacePolicy] = {}

    def cached(self, slug: str, version: int) -> WorkspacePolicy | None:
        entry = self._entries.get(slug)
        return entry if entry is not None and entry.version == version else None

    def put(self, slug: str, policy: WorkspacePolicy) -> WorkspacePolicy:
        current = self._entries.get(slug)
        if current is None or current.version <= policy.version:
            self._entries[slug] = policy
        return policy

    def drop(self, slug: str) -> None:
        self._entries.pop(slug, None)
