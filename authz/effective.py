"""What a role set gets, field by field: the compiled decision table read back as a list of scoped effects.

Nothing here decides anew: each effect is `FieldRuling.decide` asked about a row in one scope, so the
answer is the API's own precedence. A field's list is a first-match chain: the first scope in it that
holds for a row gives that row's effect, and the closing `all` entry is every other visible row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from authz.decisions import DecisionTable, FieldRuling
from authz.rules import Effect

ACTIONS = ("read", "write")


@dataclass(frozen=True)
class ScopedEffect:
    scope: str
    effect: Effect


@dataclass(frozen=True)
class FieldAccess:
    entity: str
    field: str
    pii_category: str | None
    custom: bool
    read: tuple[ScopedEffect, ...]
    write: tuple[ScopedEffect, ...]


def _only(scope: str) -> Callable[[str], bool]:
    return lambda s: s == scope


def chain(ruling: FieldRuling) -> tuple[ScopedEffect, ...]:
    """The effect on a row in each scope that can matter (in precedence order), then on every other row."""
    out = [ScopedEffect(scope, ruling.decide(_only(scope))[0]) for scope in ruling.scopes]
    out.append(ScopedEffect("all", ruling.decide(lambda _s: False)[0]))
    return tuple(out)


def effective_fields(table: DecisionTable, entity: str) -> list[FieldAccess]:
    """Every field of the entity (built-in and custom), in registry order."""
    out: list[FieldAccess] = []
    for spec in table.registry.of(entity).values():
        read, write = (chain(table.field(entity, spec.name, action)) for action in ACTIONS)
        out.append(FieldAccess(entity, spec.name, spec.pii, spec.custom, read, write))
    return out


def record_scopes(table: DecisionTable, entity: str, action: str = "read") -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The record rule's scopes: (allowed, denied). No allowed scope: no record at all."""
    ruling = table.record(entity, action)
    return ruling.allow, ruling.deny


@dataclass(frozen=True)
class Readers:
    """Who gets a field's value: `masked` roles get it masked somewhere, `clear` roles in clear somewhere."""

    clear: tuple[str, ...]
    masked: tuple[str, ...]

    @property
    def any(self) -> tuple[str, ...]:
        return tuple(sorted({*self.clear, *self.masked}))


def readers(tables: Mapping[str, DecisionTable], entity: str) -> dict[str, Readers]:
    """Per field of the entity, the roles (one table per role) that can read it on some record they may read.
    A role with no record scope on the entity reads none of its fields."""
    clear: dict[str, list[str]] = {}
    masked: dict[str, list[str]] = {}
    for role, table in sorted(tables.items()):
        allowed, _ = record_scopes(table, entity)
        if not allowed:
            continue
        for access in effective_fields(table, entity):
            effects = {s.effect for s in access.read}
            if Effect.ALLOW in effects:
                clear.setdefault(access.field, []).append(role)
            if Effect.MASK in effects:
                masked.setdefault(access.field, []).append(role)
    names = [spec.name for table in tables.values() for spec in table.registry.of(entity).values()]
    return {name: Readers(tuple(clear.get(name, ())), tuple(masked.get(name, ()))) for name in dict.fromkeys(names)}
