"""`resolvers.projection.project`, compiled: the field decisions of one plan resolved to one small step per column.

A `Projector` is built once per (decision table, selected fields, result columns) and kept: each field becomes a
step holding its column's position in the row, its decryption and its mask, so a row costs an index, maybe a
decryption and a mask per field and no lookups. When no decision depends on the row (the common case) the steps
are fixed; otherwise the row's scope flags pick the steps (decided once per combination of flags). Each list of
steps becomes one generated function of a row (`resolvers.reads.row_code`), so a row costs no dispatch either. The
output is exactly `project`'s: the same `Record` values, denied names, and READ / DENIED events in the same order
(`tests/api/test_compiled_reads.py` holds the compiled path to the executor's bytes and audit rows).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from authz.access import FieldPlan
from authz.fields import NON_NULL_FIELDS, FieldSpec
from authz.masking import masker
from authz.rules import Effect
from db.audit import AuditBuffer
from db.crypto import WorkspaceCipher
from db.queries import contacts as q
from resolvers.projection import DENIED, Record, audit_name
from resolvers.reads.kept import Kept
from resolvers.reads.row_code import (
    ALLOW,
    ALLOW_CUSTOM,
    DENY,
    MASK,
    MASK_CUSTOM,
    MASK_TEXT,
    RowFunction,
    row_function,
)

# A field's stored value from a row and the row's id as text (bound into an encrypted value's associated data).
Reader = Callable[[Sequence[Any], str], Any]


@dataclass(frozen=True)
class Step:
    kind: int
    name: str
    read: Reader
    mask: Callable[[Any], Any] | None
    audited: str | None  # the audit name when a shown value is a READ of a PII field
    category: str | None
    denied_as: str  # the audit name when denied
    deny_value: Any  # what a denied built-in field holds (DENIED for a non-null one); custom fields: absent
    custom: bool
    shown: bool  # a masked-as-text value counts as read only when its `...Masked` companion was asked for
    companion: Callable[[Any], Any] | None  # ALLOW with `...Masked` asked for: its mask


def _encrypted_reader(index: int, column: str, kind: str, cipher: WorkspaceCipher) -> Reader:
    decrypt = cipher.column_decryptor(q.TABLE, column, kind)
    return lambda row, row_id: decrypt(row_id, row[index])


def _custom_reader(index: int, spec: FieldSpec, cipher: WorkspaceCipher) -> Reader:
    read_custom = q.custom_reader(spec, cipher)
    return lambda row, row_id: read_custom(row[index], row_id)


def plain_index(spec: FieldSpec, columns: dict[str, int]) -> int | None:
    """The row position of a field stored as it is shown (no decryption), or None."""
    column = None if spec.custom else q.PLAIN_COLUMNS.get(spec.name)
    return None if column is None else columns[column]


def reader(spec: FieldSpec, columns: dict[str, int], cipher: WorkspaceCipher) -> Reader:
    """The stored value of `spec` in a row with these columns, decrypted: `db.queries.contacts.value` by index."""
    if spec.custom:
        return _custom_reader(columns["custom_fields"], spec, cipher)
    index = plain_index(spec, columns)
    if index is not None:
        return lambda row, row_id: row[index]
    encrypted = q.ENCRYPTED_COLUMNS.get(spec.name)
    if encrypted is None:
        return lambda row, row_id: None
    return _encrypted_reader(columns[encrypted[0]], encrypted[0], encrypted[1], cipher)


def _step(spec: FieldSpec, effect: Effect, read: Reader, masked_wanted: frozenset[str]) -> Step:
    name, custom = spec.name, spec.custom
    denied_as = audit_name(spec)
    deny_value = DENIED if spec.resource in NON_NULL_FIELDS else None
    mask = masker(spec.mask or "free_text")
    shown, companion = True, None
    if effect is Effect.DENY:
        kind = DENY
    elif effect is Effect.MASK:
        if custom:
            kind = MASK_CUSTOM
        elif spec.masked_as_text:
            kind, shown = MASK_TEXT, name in masked_wanted
        else:
            kind = MASK
    else:
        kind = ALLOW_CUSTOM if custom else ALLOW
        if not custom and spec.masked_as_text and name in masked_wanted and spec.mask:
            companion = masker(spec.mask)
    audited = denied_as if spec.pii and shown else None
    return Step(kind, name, read, mask, audited, spec.pii, denied_as, deny_value, custom, shown, companion)


def _getter(indexes: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """The values at these indexes of a row, as a tuple, in one call."""
    if len(indexes) == 1:
        only = indexes[0]
        return lambda row: (row[only],)
    return operator.itemgetter(*indexes) if indexes else (lambda row: ())


class Projector:
    """Rows of one statement -> `Record`s, with the audit events `project` records."""

    def __init__(self, plan: FieldPlan, columns: dict[str, int], cipher: WorkspaceCipher,
                 masked_wanted: frozenset[str]) -> None:
        self.entity = plan.entity
        self.plan = plan
        self.id_index = columns["id"]
        self.wants_custom = any(r.spec.custom for r in plan.rulings)
        self.masked_wanted = masked_wanted
        self.readers = {r.spec.name: reader(r.spec, columns, cipher) for r in plan.rulings}
        # fields read as stored, by their position in the row (the generated row function indexes them)
        self.plain_indexes = {r.spec.name: plain_index(r.spec, columns) for r in plan.rulings}
        self.flag_indexes = [(scope, columns[f"_s{i}"]) for i, scope in enumerate(plan.scopes)]
        self._flags_of = _getter([index for _, index in self.flag_indexes])
        self._steps: dict[tuple[str, Effect], Step] = {}
        # by the flags' values as stored (true, false or null): at most 3 ** len(scopes) entries
        self._by_flags: dict[tuple[Any, ...], RowFunction] = {}
        constant = plan.decide({}) if not plan.scopes else None
        self.constant = None if constant is None else self._row_function([self._step_of(s, e) for s, e in constant])

    def _step_of(self, spec: FieldSpec, effect: Effect) -> Step:
        key = (spec.name, effect)
        step = self._steps.get(key)
        if step is None:
            step = self._steps[key] = _step(spec, effect, self.readers[spec.name], self.masked_wanted)
        return step

    def _row_function(self, steps: list[Step]) -> RowFunction:
        return row_function(self.entity, self.id_index, self.wants_custom, steps,
                            lambda step: self.plain_indexes.get(step.name))

    def _function_for(self, row: Sequence[Any]) -> RowFunction:
        stored = self._flags_of(row)
        function = self._by_flags.get(stored)
        if function is None:
            flags = {scope: bool(bit) for (scope, _), bit in zip(self.flag_indexes, stored, strict=True)}
            function = self._by_flags[stored] = self._row_function(
                [self._step_of(spec, effect) for spec, effect in self.plan.decide(flags)])
        return function

    def project(self, rows: Sequence[Any], audit: AuditBuffer) -> list[Record]:
        read, denied = audit.read, audit.denied
        at = audit.now()  # the moment these rows were read
        constant = self.constant
        if constant is not None:
            return [constant(row, read, denied, at) for row in rows]
        function_for = self._function_for
        return [function_for(row)(row, read, denied, at) for row in rows]


_PROJECTORS: Kept[Projector] = Kept(1024)  # one per workspace and role set in use: as many as CRM_MAX_ENGINES


def projector(table: Any, plan: FieldPlan, keys: Sequence[str], cipher: WorkspaceCipher,
              masked_wanted: frozenset[str]) -> Projector:
    """The projector of a plan of this decision table over rows with these columns (kept per table and cipher)."""
    key = (plan.entity, tuple(r.spec.name for r in plan.rulings), tuple(keys), masked_wanted)
    return _PROJECTORS.get((table, cipher), key,
                           lambda: Projector(plan, {k: i for i, k in enumerate(keys)}, cipher, masked_wanted))
