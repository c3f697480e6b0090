"""File rows through the contact rules, a batch at a time: the same validation (`build_patch`), field write rules,
suppression list and dedupe matching as `createContact` / `updateContact` (resolvers/contacts), with a handful
of statements per batch instead of several per row.

    created   no contact matched a dedupe key
    updated   a contact the importer may change matched (the suppression list is checked for the values given,
              as for a new contact)
    skipped   a value is on the suppression list (an erased person is not brought back)
    failed    invalid or not allowed: the field and the reason, as the API would answer

A batch: parse and validate every row (resolvers/imports/parse.py, possibly ahead in a thread); read every
contact matching a dedupe key of the batch (one query, with the scope flags their field write rules need, planned
for the batch's keys so that it probes the indexes), look the batch's identifiers up on the suppression list (one
query), read the scope flags a new contact gets (a probe row in a rolled-back SAVEPOINT: every contact an
import creates has the same owner, team and defaults); decide row by row in memory, in file order, each row
seeing what the earlier rows of the batch did (the second row with an e-mail updates the contact the first
created); then write (resolvers/imports/writes.py): one COPY of the new contacts, one UPDATE ... FROM
(VALUES ...), one COPY of the history, one statement for the webhook events. Audit events go to the unit's buffer
(one `audit_append` at commit). If the database refuses the batch's writes, the batch is redone one row at a
time, so only the refused row fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, LargeBinary, String, any_, bindparam, func, insert, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.permissions import Action
from db.crypto import WorkspaceCipher
from db.models import Contact
from db.models.base import utcnow
from db.queries import contacts as q
from resolvers.contacts import contacts, writes
from resolvers.contacts.input import ContactPatch, creation_defaults
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.imports import writes as batch_writes
from resolvers.imports.parse import Key, Outcome, Parsed, Raw, Row, Rules, keys, parse_batch, refused
from resolvers.privacy import suppression
from resolvers.runtime import Caller

__all__ = ["Outcome", "Parsed", "Raw", "Rules", "apply_batch", "parse_batch"]

ENTITY = "contact"
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


@dataclass
class _Contact:
    """A contact the batch may match: as stored (None: created by this batch) and what earlier rows wrote."""

    id: uuid.UUID
    created_at: datetime
    flags: dict[str, bool]
    stored: Mapping[str, Any] | None
    keys: set[Key]
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)


async def _stored_matches(session: AsyncSession, caller: Caller, rows: Sequence[Row],
                          names: Sequence[str]) -> list[_Contact]:
    """Every contact the importer may change that matches a dedupe key of the batch (erased ones never do),
    with the scope flags the field write rules of `names` need on it."""
    wanted: dict[str, set[Any]] = {}
    for row in rows:
        for key, value in row.keys:
            wanted.setdefault(key, set()).add(value)
    columns: dict[str, tuple[ColumnElement[Any], ARRAY[Any]]] = {
        "email": (func.lower(q.T.email), ARRAY(String())), "phone": (q.T.phone, ARRAY(String())),
        "hkid": (q.T.hkid_bidx, ARRAY(LargeBinary())),
    }
    # One array parameter per key (not one bind parameter per value): the same prepared statement every batch.
    conditions = [columns[key][0] == any_(bindparam(f"keys_{key}", sorted(found), type_=columns[key][1]))
                  for key, found in wanted.items()]
    if not conditions:
        return []
    access = caller.access
    scope_names = access.write_scopes(ENTITY, names)
    scope_columns = access.scope_columns(ENTITY, scope_names)
    stmt = select(
        *batch_writes.CONTACTS.c, func.lower(q.T.email).label("_email_key"),
        *(scope_columns[s].label(f"_scope{i}") for i, s in enumerate(scope_names)),
    ).where(access.record_filter(ENTITY, Action.WRITE), q.T.anonymised_at.is_(None), or_(*conditions))
    # Planned for this batch's keys, not once for any array: a generic plan guesses ten keys per array, so on a
    # table whose statistics predate the import it scans every contact and compares it with each of the batch's
    # keys in turn (110 ms a batch by 20k contacts, and growing with the table); planned with the keys, it probes
    # the index (about 20 ms).
    await session.execute(_CUSTOM_PLANS)
    found = []
    for m in (await session.execute(stmt)).mappings():
        flags = {writes.WRITABLE: True, **{s: bool(m[f"_scope{i}"]) for i, s in enumerate(scope_names)}}
        its_keys = {("email", m["_email_key"]), ("phone", m["phone"]), ("hkid", m["hkid_bidx"])}
        stored = cast(Mapping[str, Any], m)
        found.append(_Contact(m["id"], m["created_at"], flags, stored, {k for k in its_keys if k[1] is not None}))
    return found


async def _new_contact_flags(session: AsyncSession, caller: Caller, names: Sequence[str]) -> dict[str, bool]:
    """The scope flags of a contact this caller creates, read off a probe row that is rolled back: a new contact's
    owner, team and defaults are the same for every row (a file cannot set them)."""
    probe = ContactPatch()
    creation_defaults(probe)
    contacts.default_owner(caller, probe)
    probe_id = uuid.uuid4()
    savepoint = await session.begin_nested()
    try:
        await session.execute(insert(Contact).values(id=probe_id, custom_fields={},
                                                     **q.encode(probe.values, probe_id, caller.tenant.cipher)))
        return await writes.row_flags(session, caller.access, ENTITY, probe_id, names)
    finally:
        await savepoint.rollback()


class _Batch:
    """The in-memory decisions of one batch, in file order."""

    def __init__(self, caller: Caller, stored: list[_Contact], new_flags: dict[str, bool] | Exception) -> None:
        self.caller = caller
        self.cipher = caller.tenant.cipher
        self.registry = caller.access.table.registry
        self.new_flags = new_flags
        self.known: dict[uuid.UUID, _Contact] = {}
        self.index: dict[Key, list[uuid.UUID]] = {}
        self.writes = batch_writes.Writes()
        self.clock = utcnow()
        self._write_checks: dict[tuple[Any, ...], AccessDenied | None] = {}
        for contact in stored:
            self._remember(contact)

    def _remember(self, contact: _Contact) -> None:
        self.known[contact.id] = contact
        for key in contact.keys:
            self.index.setdefault(key, []).append(contact.id)

    def match(self, row: Row) -> _Contact | None:
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
        refused = self._write_checks[key]
        if refused is not None:
            raise refused

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
        self._remember(_Contact(contact_id, created_at, self.new_flags, None,
                                set(_keys_of(self.cipher, new.values)), dict(new.values), dict(new.custom)))
        return contact_id

    def _current(self, contact: _Contact, name: str, custom: bool) -> Any:
        written = contact.custom if custom else contact.values
        if name in written or contact.stored is None:
            return written.get(name)
        return q.value(contact.stored, self.registry.get(ENTITY, name), self.cipher)  # type: ignore[arg-type]

    def update(self, row: Row, contact: _Contact, listed: set[bytes]) -> uuid.UUID:
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

    def _reindex(self, contact: _Contact) -> None:
        current = {name: self._current(contact, name, False) for name in mapping.DEDUPE_KEYS}
        contact.keys = set(_keys_of(self.cipher, current))
        for key in contact.keys:
            if contact.id not in self.index.setdefault(key, []):
                self.index[key].append(contact.id)


def _keys_of(cipher: WorkspaceCipher, values: Mapping[str, Any]) -> list[Key]:
    return keys(cipher, tuple(mapping.DEDUPE_KEYS), values)


async def apply_batch(session: AsyncSession, caller: Caller, plan: mapping.Plan,
                      batch: Sequence[Raw] | Parsed) -> list[Outcome]:
    """Every row of the batch, in file order: what happened to it. `batch` may be parsed already (`parse_batch`,
    ahead, in a thread): it is parsed again if the requester's field registry or the plan changed since."""
    rules = Rules(caller.access.table.registry, plan, caller.tenant.cipher)
    if not isinstance(batch, Parsed) or not batch.rules.same(rules):
        batch = parse_batch(rules, batch.raw if isinstance(batch, Parsed) else batch)
    outcomes = dict(batch.refused)
    if batch.rows:
        audit_mark, jobs_mark = caller.audit.savepoint(), len(caller.jobs)
        try:
            outcomes.update(await _apply(session, caller, batch.rows))
        except DBAPIError:
            caller.audit.rollback_to(audit_mark)
            del caller.jobs[jobs_mark:]
            if len(batch.raw) == 1:
                outcomes.update({r.number: Outcome(r.number, "failed", reason="the database refused the row")
                                 for r in batch.rows})
            else:  # find the refused row: one row at a time, each seeing what the earlier ones wrote
                for item in batch.raw:
                    if item[0] not in outcomes:
                        outcomes.update({o.row: o for o in await apply_batch(session, caller, plan, [item])})
    return [outcomes[number] for number, _ in batch.raw]


async def _apply(session: AsyncSession, caller: Caller, parsed: list[Row]) -> dict[int, Outcome]:
    access = caller.access
    names = list(dict.fromkeys(n for r in parsed for n in (*r.patch.values, *r.patch.custom)))
    stored = await _stored_matches(session, caller, parsed, names)
    listed = await suppression.listed(session, [h for r in parsed for _, h in r.hashes])
    new_flags: dict[str, bool] | Exception
    try:
        access.require(ENTITY, Action.WRITE)
        owner = ContactPatch()
        contacts.default_owner(caller, owner)
        await contacts.check_links(session, owner)
        new_flags = await _new_contact_flags(session, caller, names)
    except (DomainError, AccessDenied) as exc:
        new_flags = exc  # every row that would create a contact fails with it
    batch = _Batch(caller, stored, new_flags)
    outcomes: dict[int, Outcome] = {}
    for row in parsed:
        matched = batch.match(row)
        try:
            if matched is None:
                outcomes[row.number] = Outcome(row.number, "created", batch.create(row, listed))
            else:
                outcomes[row.number] = Outcome(row.number, "updated", batch.update(row, matched, listed))
        except (DomainError, AccessDenied) as exc:
            outcomes[row.number] = refused(row.number, exc)
    async with session.begin_nested():
        await batch_writes.write(session, caller, batch.writes)
    return outcomes
