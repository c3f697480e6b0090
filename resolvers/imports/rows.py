"""File rows through the contact rules, a batch at a time: the same validation (`build_patch`), field write rules,
suppression list and dedupe matching as `createContact` / `updateContact` (resolvers/contacts), with a handful
of statements per batch instead of several per row.

    created   no contact matched a dedupe key
    updated   a contact the importer may change matched (the suppression list is checked for the values given,
              as for a new contact)
    skipped   a value is on the suppression list (an erased person is not brought back)
    failed    invalid or not allowed: the field and the reason, as the API would answer

A batch: parse and validate every row; read every contact matching a dedupe key of the batch (one query, with
the scope flags their field write rules need), look the batch's identifiers up on the suppression list (one
query), read the scope flags a new contact gets (a probe row in a rolled-back SAVEPOINT: every contact an
import creates has the same owner, team and defaults); decide row by row in memory, in file order, each row
seeing what the earlier rows of the batch did (the second row with an e-mail updates the contact the first
created); then write: one multi-row INSERT, one UPDATE ... FROM (VALUES ...), one INSERT of the history, one
statement for the webhook events. Audit events go to the unit's buffer (one `audit_append` at commit). If the
database refuses the batch's writes, the batch is redone one row at a time, so only the refused row fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, column, func, insert, or_, select, update, values
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.permissions import Action
from db import bulk
from db.models import Contact, ContactHistory
from db.models.base import utcnow
from db.queries import contacts as q
from resolvers.contacts import contacts, writes
from resolvers.contacts.input import ContactPatch, build_patch, creation_defaults
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.privacy import suppression
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = "contact"
CONTACTS = cast(Table, Contact.__table__)
HISTORY = cast(Table, ContactHistory.__table__)
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
class _Row:
    number: int
    given: dict[str, Any]
    patch: ContactPatch
    keys: list[Key]
    hashes: list[tuple[str, bytes]]  # suppression list hashes of its identifiers (defaults add none)


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


@dataclass
class _Writes:
    inserts: dict[uuid.UUID, ContactPatch] = field(default_factory=dict)  # new contacts, as finally written
    created_at: dict[uuid.UUID, datetime] = field(default_factory=dict)
    updates: dict[uuid.UUID, ContactPatch] = field(default_factory=dict)  # changed values of stored contacts
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, uuid.UUID, list[str]]] = field(default_factory=list)


def _refused(number: int, exc: Exception) -> Outcome:
    action = "skipped" if getattr(exc, "detail", None) == "SUPPRESSED" else "failed"
    return Outcome(number, action, field=getattr(exc, "field", None), reason=str(exc))


def _keys(caller: Caller, plan: mapping.Plan, values: Mapping[str, Any]) -> list[Key]:
    out: list[Key] = []
    for key in plan.dedupe_by:
        value = values.get(key)
        if not isinstance(value, str):
            continue
        if key == "email":
            out.append((key, value.lower()))
        elif key == "hkid":
            out.append((key, q.blind_index("hkid", value, caller.tenant.cipher)))
        else:
            out.append((key, value))
    return out


def _parse(caller: Caller, plan: mapping.Plan, number: int, raw: dict[str, Any]) -> _Row | Outcome:
    registry = caller.access.table.registry
    try:
        given = mapping.to_input(raw, plan, registry)
        if not given:
            return Outcome(number, "failed", reason="no mapped column has a value")
        patch = build_patch(given, registry, creating=False)
    except (DomainError, AccessDenied) as exc:
        return _refused(number, exc)
    return _Row(number, given, patch, _keys(caller, plan, patch.values),
                suppression.hashes(caller.tenant.cipher, patch.values))


async def _stored_matches(session: AsyncSession, caller: Caller, rows: Sequence[_Row],
                          names: Sequence[str]) -> list[_Contact]:
    """Every contact the importer may change that matches a dedupe key of the batch (erased ones never do),
    with the scope flags the field write rules of `names` need on it."""
    wanted: dict[str, set[Any]] = {}
    for row in rows:
        for key, value in row.keys:
            wanted.setdefault(key, set()).add(value)
    columns = {"email": func.lower(q.T.email), "phone": q.T.phone, "hkid": q.T.hkid_bidx}
    conditions = [columns[key].in_(sorted(found)) for key, found in wanted.items()]
    if not conditions:
        return []
    access = caller.access
    scope_names = access.write_scopes(ENTITY, names)
    scope_columns = access.scope_columns(ENTITY, scope_names)
    stmt = select(
        *CONTACTS.c, func.lower(q.T.email).label("_email_key"),
        *(scope_columns[s].label(f"_scope{i}") for i, s in enumerate(scope_names)),
    ).where(access.record_filter(ENTITY, Action.WRITE), q.T.anonymised_at.is_(None), or_(*conditions))
    found = []
    for m in (await session.execute(stmt)).mappings():
        flags = {writes.WRITABLE: True, **{s: bool(m[f"_scope{i}"]) for i, s in enumerate(scope_names)}}
        keys = {("email", m["_email_key"]), ("phone", m["phone"]), ("hkid", m["hkid_bidx"])}
        stored = cast(Mapping[str, Any], m)
        found.append(_Contact(m["id"], m["created_at"], flags, stored, {k for k in keys if k[1] is not None}))
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
        self.writes = _Writes()
        self.clock = utcnow()
        self._write_checks: dict[tuple[Any, ...], AccessDenied | None] = {}
        for contact in stored:
            self._remember(contact)

    def _remember(self, contact: _Contact) -> None:
        self.known[contact.id] = contact
        for key in contact.keys:
            self.index.setdefault(key, []).append(contact.id)

    def match(self, row: _Row) -> _Contact | None:
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

    def check_suppression(self, listed: set[bytes], row: _Row) -> None:
        kinds = [kind for kind, h in row.hashes if h in listed]
        if kinds:
            raise suppression.refusal(kinds)

    def create(self, row: _Row, listed: set[bytes]) -> uuid.UUID:
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
        self.writes.history += contacts.history_rows(self.caller, contact_id, changes)
        self.caller.audit.event("CREATE", entity_type=ENTITY, entity_id=str(contact_id), fields=new.fields)
        self.writes.events.append(("contact.created", contact_id, new.fields))
        self._remember(_Contact(contact_id, created_at, self.new_flags, None,
                                set(_keys_of(self.caller, new.values)), dict(new.values), dict(new.custom)))
        return contact_id

    def _current(self, contact: _Contact, name: str, custom: bool) -> Any:
        written = contact.custom if custom else contact.values
        if name in written or contact.stored is None:
            return written.get(name)
        return q.value(contact.stored, self.registry.get(ENTITY, name), self.cipher)  # type: ignore[arg-type]

    def update(self, row: _Row, contact: _Contact, listed: set[bytes]) -> uuid.UUID:
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
        self.writes.history += contacts.history_rows(self.caller, contact.id, {**changes, **custom_changes})
        fields = [*changes, *(f"customFields.{n}" for n in custom_changes)]
        self.caller.audit.event("UPDATE", entity_type=ENTITY, entity_id=str(contact.id), fields=fields)
        self.writes.events.append(("contact.updated", contact.id, fields))
        return contact.id

    def _reindex(self, contact: _Contact) -> None:
        current = {name: self._current(contact, name, False) for name in mapping.DEDUPE_KEYS}
        contact.keys = set(_keys_of(self.caller, current))
        for key in contact.keys:
            if contact.id not in self.index.setdefault(key, []):
                self.index[key].append(contact.id)


def _keys_of(caller: Caller, values: Mapping[str, Any]) -> list[Key]:
    every = mapping.Plan({}, tuple(mapping.DEDUPE_KEYS))
    return _keys(caller, every, values)


async def _write(session: AsyncSession, caller: Caller, batch: _Batch) -> None:
    cipher, registry, now = caller.tenant.cipher, caller.access.table.registry, utcnow()
    pending = batch.writes

    def custom_columns(contact_id: uuid.UUID, custom: Mapping[str, Any]) -> dict[str, Any]:
        return {k: q.encode_custom(registry.get(ENTITY, k), contact_id, v, cipher)  # type: ignore[arg-type]
                for k, v in custom.items() if v is not None}

    if pending.inserts:
        rows = [{"id": cid, "custom_fields": custom_columns(cid, new.custom), "created_at": pending.created_at[cid],
                 "updated_at": now, "legal_hold": False, **q.encode(new.values, cid, cipher)}
                for cid, new in pending.inserts.items()]
        names = list(dict.fromkeys(k for r in rows for k in r))
        await bulk.insert_many(session, CONTACTS, [{n: r.get(n) for n in names} for r in rows])
    if pending.updates:
        encoded = {cid: (q.encode(p.values, cid, cipher), custom_columns(cid, p.custom))
                   for cid, p in pending.updates.items()}
        names = list(dict.fromkeys(k for cols, _ in encoded.values() for k in cols))
        table = values(column("id", q.T.id.type), *(column(n, q.T[n].type) for n in names),
                       column("custom", JSONB()), name="v")
        table = table.data([(cid, *(cols.get(n) for n in names), custom) for cid, (cols, custom) in encoded.items()])
        changes: dict[str, Any] = {n: func.coalesce(table.c[n], q.T[n]) for n in names}
        if any(custom for _, custom in encoded.values()):
            changes["custom_fields"] = q.T.custom_fields.op("||")(table.c.custom)
        await session.execute(update(CONTACTS).where(q.T.id == table.c.id).values(updated_at=now, **changes))
    if pending.history:  # in the order the rows made the changes
        for n, change in enumerate(pending.history):
            change["occurred_at"] = now + timedelta(microseconds=n)
        await bulk.insert_many(session, HISTORY, pending.history)
    await webhook_events.emit_many(session, caller, pending.events)


async def apply_batch(session: AsyncSession, caller: Caller, plan: mapping.Plan, batch: Sequence[Raw]) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    parsed: list[_Row] = []
    for number, raw in batch:
        if isinstance(raw, str):
            outcomes[number] = Outcome(number, "failed", field="file", reason=raw)
            continue
        read = _parse(caller, plan, number, raw)
        if isinstance(read, Outcome):
            outcomes[number] = read
        else:
            parsed.append(read)
    if parsed:
        audit_mark, jobs_mark = caller.audit.savepoint(), len(caller.jobs)
        try:
            outcomes.update(await _apply(session, caller, parsed))
        except DBAPIError:
            caller.audit.rollback_to(audit_mark)
            del caller.jobs[jobs_mark:]
            if len(batch) == 1:
                outcomes.update({r.number: Outcome(r.number, "failed", reason="the database refused the row")
                                 for r in parsed})
            else:  # find the refused row: one row at a time, each seeing what the earlier ones wrote
                for item in batch:
                    if item[0] not in outcomes:
                        outcomes.update({o.row: o for o in await apply_batch(session, caller, plan, [item])})
    return [outcomes[number] for number, _ in batch]


async def _apply(session: AsyncSession, caller: Caller, parsed: list[_Row]) -> dict[int, Outcome]:
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
            outcomes[row.number] = _refused(row.number, exc)
    async with session.begin_nested():
        await _write(session, caller, batch)
    return outcomes
