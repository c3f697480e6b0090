"""File rows to validated contact patches, before anything touches the database: each row's columns mapped and
typed (`mapping.to_input`), every value through `build_patch` (the validation `createContact` applies), its dedupe
keys (e-mail case-folded, phone E.164, HKID blind index) and suppression list hashes.

Pure computation on the workspace's field registry, the import's plan and its cipher's keyed hashes, so a batch can
be parsed in a worker thread while the database writes the previous one (`resolvers/imports/runner.py`). A batch
records what it was parsed against; `rows.apply_batch` parses it again if the requester's registry or plan has
changed since (a custom field defined meanwhile).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from authz.errors import AccessDenied
from authz.fields import FieldRegistry
from db.crypto import WorkspaceCipher
from db.queries import contacts as q
from resolvers.contacts.input import ContactPatch, build_patch
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.privacy import suppression

Raw = tuple[int, dict[str, Any] | str]
Key = tuple[str, Any]  # (dedupe key, normalised value: e-mail lower-cased, phone E.164, HKID blind index)


@dataclass(frozen=True)
class Outcome:
    row: int
    action: str
    contact_id: uuid.UUID | None = None
    field: str | None = None
    reason: str | None = None


@dataclass
class Row:
    number: int
    given: dict[str, Any]
    patch: ContactPatch
    keys: list[Key]
    hashes: list[tuple[str, bytes]]  # suppression list hashes of its identifiers (defaults add none)


@dataclass(frozen=True)
class Rules:
    """What parsing depends on: the requester's field registry, the import's plan, the workspace's cipher."""

    registry: FieldRegistry
    plan: mapping.Plan
    cipher: WorkspaceCipher

    def same(self, other: Rules) -> bool:
        return self.cipher is other.cipher and self.plan == other.plan and self.registry == other.registry


@dataclass(frozen=True)
class Parsed:
    """One batch of the file, parsed: its raw rows (file order), the rows refused already, the valid ones."""

    raw: list[Raw]
    rules: Rules
    refused: dict[int, Outcome]
    rows: list[Row]
    progress: float  # the file's progress once this batch was read


def refused(number: int, exc: Exception) -> Outcome:
    action = "skipped" if getattr(exc, "detail", None) == "SUPPRESSED" else "failed"
    return Outcome(number, action, field=getattr(exc, "field", None), reason=str(exc))


def keys(cipher: WorkspaceCipher, dedupe_by: Sequence[str], values: Mapping[str, Any]) -> list[Key]:
    out: list[Key] = []
    for key in dedupe_by:
        value = values.get(key)
        if not isinstance(value, str):
            continue
        if key == "email":
            out.append((key, value.lower()))
        elif key == "hkid":
            out.append((key, q.blind_index("hkid", value, cipher)))
        else:
            out.append((key, value))
    return out


def parse_row(rules: Rules, number: int, raw: dict[str, Any]) -> Row | Outcome:
    try:
        given = mapping.to_input(raw, rules.plan, rules.registry)
        if not given:
            return Outcome(number, "failed", reason="no mapped column has a value")
        patch = build_patch(given, rules.registry, creating=False)
    except (DomainError, AccessDenied) as exc:
        return refused(number, exc)
    return Row(number, given, patch, keys(rules.cipher, rules.plan.dedupe_by, patch.values),
               suppression.hashes(rules.cipher, patch.values))


def parse_batch(rules: Rules, batch: Sequence[Raw], progress: float = 0.0) -> Parsed:
    out: dict[int, Outcome] = {}
    rows: list[Row] = []
    for number, raw in batch:
        if isinstance(raw, str):
            out[number] = Outcome(number, "failed", field="file", reason=raw)
            continue
        read = parse_row(rules, number, raw)
        if isinstance(read, Outcome):
            out[number] = read
        else:
            rows.append(read)
    return Parsed(list(batch), rules, out, rows, progress)
