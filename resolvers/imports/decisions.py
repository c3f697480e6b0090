"""A batch's decisions, in memory and in file order: which contact each row creates or updates, what it changes,
the history, audit events and webhook events that records. No I/O, so it runs in a worker thread (`offload.cpu`)
while the database writes the previous batch (resolvers/imports/runner.py).

What a batch starts from (`Decisions.__init__`): the stored contacts that match its dedupe keys, read by
resolvers/imports/rows.py, and `earlier`: the contacts the previous batch created or changed, as that batch left
them. The previous batch may not have committed when this one's contacts were read (the two overlap), so the
read cannot be trusted to show them; `earlier` is what the read would have shown had it committed:

* a contact the previous batch created is known to this batch when the importer may write it (`WRITABLE` on the
  new-contact flags, as the read's write filter would say), with this batch's new-contact flags;
* a contact the previous batch changed is known with the values it left, on top of what the read returned for it
  (rows.py reads it by id as well when its new keys match this batch), and with the read's flags; the read not
  returning it (erased, no longer writable) means it is not known, as after a commit.

Either way the result is the same whether or not the previous batch had committed when the read ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authz.errors import AccessDenied
from db.crypto import WorkspaceCipher
from db.models.base import utcnow
from db.queries import contacts as q
from resolvers.contacts import contacts, writes
from resolvers.contacts.input import ContactPatch, creation_defaults
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.imports import writes as batch_writes
from resolvers.imports.parse import Key, Outcome, Row, keys, refused
from resolvers.privacy import suppression
from resolvers.runtime import Caller

ENTITY = "contact"


@dataclass
class Known:
    """A contact the batch may match: as stored (None: created by this import and not read back since) and what
    rows of this import wrote to it since it was read."""

    id: uuid.UUID
    created_at: datetime
    flags: dict[str, bool]
    stored: Mapping[str, Any] | None
    keys: set[Key]
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Earlier:
    """The contacts the previous batch created or changed, as it left them, by id; `created`: the ones it
    created."""

    contacts: Mapping[uuid.UUID, Known] = field(default_factory=dict)
    created: frozenset[uuid.UUID] = frozenset()


NOTHING_EARLIER = Earlier()


def keys_of(cipher: WorkspaceCipher, values: Mapping[str, Any]) -> list[Key]:
    return keys(cipher, tuple(mapping.DEDUPE_KEYS), values)


class Decisions:
    """The in-memory decisions of one batch, in file order."""

    def __init__(self, caller: Caller, stored: Iterable[Known], new_flags: dict[str, bool] | Exception,
                 earlier: Earlier) -> None:
        self.caller = caller
        self.cipher = caller.tenant.cipher
        self.registry = caller.access.table.registry
        self.new_flags = new_flags
        self.known: dict[uuid.UUID, Known] = {}
        self.index: dict[Key, list[uuid.UUID]] = {}
        self.writes = batch_writes.Writes()
        self.clock = utcnow()
        self._write_checks: dict[tuple[Any, ...], AccessDenied | None] = {}
        for contact in stored:
            before = earlier.contacts.get(contact.id)
            if before is not None:  # read before or after the previous batch committed: as it left it
                contact.keys, contact.values, contact.custom = set(before.keys), dict(before.values), dict(
                    before.custom)
            self._remember(contact)
        for cid in earlier.created:
            if cid not in self.known and isinstance(new_flags, dict) and new_flags[writes.WRITABLE]:
                before = earlier.contacts[cid]
                self._remember(Known(cid, before.created_at, new_flags, None, set(before.keys),
                                     dict(before.values), dict(before.custom)))

    def _remember(self, contact: Known) -> None:
        self.known[contact.id] = contact
        for key in contact.keys:
            self.index.setdefault(key, []).append(contact.id)

    def earlier(self) -> Earlier:
        """What the next batch must know of this one's writes (its `earlier`)."""
        touched = {cid: self.known[cid] for cid in (*self.writes.inserts, *self.writes.updates)}
        return Earlier(touched, frozenset(self.writes.inserts))

    def apply(self, rows: Iterable[Row], listed: set[bytes]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        for row in rows:
            matched = self.match(row)
            try:
                if matched is None:
                    outcomes[row.number] = Outcome(row.number, "created", self.create(row, listed))
                else:
                    outcomes[row.number] = Outcome(row.number, "updated", self.update(row, matched, listed))
            except (DomainError, AccessDenied) as exc:
                outcomes[row.number] = refused(row.number, exc)
        return outcomes

    def match(self, row: Row) -> Known | None:
        """The oldest known contact that matches the row on a dedupe key as it is now."""
        found = {cid for key in row.keys for cid in self.index.get(key, ())}
        live = [self.known[cid] for cid in found if self.known[cid].keys & set(row.keys)]
        return min(live, key=lambda c: (c.created_at, c.id), default=None)

    def check_writes(self, patch: ContactPatch, flags: dict[str, bool]) -> None:
        """`contacts.check_writes`, decided once per (fields, scope flags) in the batch, not once per row."""
        key = (tuple(patch.values), tuple(patch.custom), tuple(sorted(flags.items())))
        if key not in self._write_checks:
            try:
                contacts.check_writes(self.caller.access, patch, flags)
                self._write_checks[key] = None
            except AccessDenied as exc:
                self._write_checks[key] = exc
        refusal = self._write_checks[key]
        if refusal is not None:
            raise refusal

    def check_suppression(self, listed: set[bytes], row: Row) -> None:
        kinds = [kind for kind, h in row.hashes if h in listed]
        if kinds:
            raise suppression.refusal(kinds)

    def create(self, row: Row, listed: set[bytes]) -> uuid.UUID:
        """`contacts.create`, in memory."""
        if isinstance(self.new_flags, Exception):
            raise self.new_flags
        new = ContactPatch(dict(row.patch.values), dict(row.patch.custom))
        creation_defaults(new)
        contacts.default_owner(self.caller, new)
        self.check_suppression(listed, row)
        self.check_writes(contacts.chosen_fields(new, row.given), self.new_flags)
        contact_id = uuid.uuid4()
        created_at = self.clock + timedelta(microseconds=len(self.writes.inserts))  # file order, for `match`
        self.writes.inserts[contact_id] = new
        self.writes.created_at[contact_id] = created_at
        changes = {n: (None, v) for n, v in {**new.values, **new.custom}.items() if v is not None}
        self.writes.history.append((contact_id, changes))
        self.caller.audit.event("CREATE", entity_type=ENTITY, entity_id=str(contact_id), fields=new.fields)
        self.writes.events.append(("contact.created", contact_id, new.fields))
        self._remember(Known(contact_id, created_at, self.new_flags, None,
                             set(keys_of(self.cipher, new.values)), dict(new.values), dict(new.custom)))
        return contact_id

    def _current(self, contact: Known, name: str, custom: bool) -> Any:
        written = contact.custom if custom else contact.values
        if name in written or contact.stored is None:
            return written.get(name)
        return q.value(contact.stored, self.registry.get(ENTITY, name), self.cipher)  # type: ignore[arg-type]

    def update(self, row: Row, contact: Known, listed: set[bytes]) -> uuid.UUID:
        """`contacts.update_contact` on a matched contact, in memory (a file sets no owner, team or consent, so
        the contact stays in the importer's write scope)."""
        patch = row.patch
        self.check_suppression(listed, row)
        self.check_writes(patch, contact.flags)
        changes = {n: (old, new) for n, new in patch.values.items()
                   if (old := self._current(contact, n, False)) != new}
        custom_changes = {n: (old, new) for n, new in patch.custom.items()
                          if (old := self._current(contact, n, True)) != new}
        if not changes and not custom_changes:
            return contact.id
        pending = self.writes.inserts.get(contact.id) or self.writes.updates.setdefault(contact.id, ContactPatch())
        for name, (_, new) in changes.items():
            pending.values[name] = contact.values[name] = new
        for name, (_, new) in custom_changes.items():
            pending.custom[name] = contact.custom[name] = new
        if any(n in changes for n in mapping.DEDUPE_KEYS):
            self._reindex(contact)
        self.writes.history.append((contact.id, {**changes, **custom_changes}))
        fields = [*changes, *(f"customFields.{n}" for n in custom_changes)]
        self.caller.audit.event("UPDATE", entity_type=ENTITY, entity_id=str(contact.id), fields=fields)
        self.writes.events.append(("contact.updated", contact.id, fields))
        return contact.id

    def _reindex(self, contact: Known) -> None:
        current = {name: self._current(contact, name, False) for name in mapping.DEDUPE_KEYS}
        contact.keys = set(keys_of(self.cipher, current))
        for key in contact.keys:
            if contact.id not in self.index.setdefault(key, []):
                self.index[key].append(contact.id)
