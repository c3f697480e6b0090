"""File rows through the contact rules, a batch at a time: the same validation (`build_patch`), field write rules,
suppression list and dedupe matching as `createContact` / `updateContact` (resolvers/contacts), with a handful
of statements per batch instead of several per row.

    created   no contact matched a dedupe key
    updated   a contact the importer may change matched (the suppression list is checked for the values given,
              as for a new contact)
    skipped   a value is on the suppression list (an erased person is not brought back)
    failed    invalid or not allowed: the field and the reason, as the API would answer

A batch: parse and validate every row (resolvers/imports/parse.py, possibly ahead in a thread); `decide`: read every
contact matching a dedupe key of the batch (one query, with the scope flags their field write rules need, planned
for the batch's keys so that it probes the indexes), look the batch's identifiers up on the suppression list (one
query), read the scope flags a new contact gets (a probe row in a rolled-back SAVEPOINT: every contact an
import creates has the same owner, team and defaults); decide row by row in memory, in file order, each row
seeing what the earlier rows of the batch did (the second row with an e-mail updates the contact the first
created: resolvers/imports/decisions.py), and seal the writes, both in a worker thread; then `store`
(resolvers/imports/writes.py): one COPY of the new contacts, one UPDATE ... FROM (VALUES ...), one COPY of the
history, one statement for the webhook events. Audit events go to the caller's buffer (one `audit_append` at
commit). If the database refuses the batch's writes, the batch is redone one row at a time, so only the refused
row fails. `apply_batch` is both on one session; a real import decides a batch on another connection while the
previous batch is stored (resolvers/imports/runner.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, LargeBinary, String, any_, bindparam, func, insert, or_, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.permissions import Action
from db.audit import AuditSavepoint
from db.models import Contact
from db.queries import contacts as q
from resolvers import offload
from resolvers.contacts import contacts, writes
from resolvers.contacts.input import ContactPatch, creation_defaults
from resolvers.errors import DomainError
from resolvers.imports import mapping
from resolvers.imports import writes as batch_writes
from resolvers.imports.decisions import NOTHING_EARLIER, Decisions, Earlier, Known
from resolvers.imports.parse import Outcome, Parsed, Raw, Row, Rules, parse_batch
from resolvers.privacy import suppression
from resolvers.runtime import Caller

__all__ = ["NOTHING_EARLIER", "Decided", "Earlier", "Outcome", "Parsed", "Raw", "Rules", "apply_batch", "decide",
           "parse_batch", "store"]

ENTITY = "contact"
_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_CACHED_PLANS = text("SET LOCAL plan_cache_mode = DEFAULT")


async def _stored_matches(session: AsyncSession, caller: Caller, rows: Sequence[Row], names: Sequence[str],
                          earlier: Earlier) -> list[Known]:
    """Every contact the importer may change that matches a dedupe key of the batch (erased ones never do),
    with the scope flags the field write rules of `names` need on it; and those of `earlier`'s that match on the
    keys the previous batch left them with (read by id: their stored keys may not match)."""
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
    wanted_keys = {(key, value) for key, found in wanted.items() for value in found}
    by_id = sorted(c.id for c in earlier.contacts.values() if c.keys & wanted_keys)
    if by_id:
        conditions.append(q.T.id == any_(bindparam("earlier_ids", by_id, type_=ARRAY(q.T.id.type))))
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
    # the index (about 20 ms). For this statement only: left set for the rest of the transaction, it re-plans the
    # foreign key check of every row a COPY writes (those checks run cached plans): 11 of the 26 s of database
    # CPU of a 100k-row import when the lookup and the writes shared a transaction (as a dry run's still do).
    await session.execute(_CUSTOM_PLANS)
    matches = (await session.execute(stmt)).mappings().all()
    await session.execute(_CACHED_PLANS)
    found = []
    for m in matches:
        flags = {writes.WRITABLE: True, **{s: bool(m[f"_scope{i}"]) for i, s in enumerate(scope_names)}}
        its_keys = {("email", m["_email_key"]), ("phone", m["phone"]), ("hkid", m["hkid_bidx"])}
        stored = cast(Mapping[str, Any], m)
        found.append(Known(m["id"], m["created_at"], flags, stored, {k for k in its_keys if k[1] is not None}))
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


@dataclass
class Decided:
    """One batch decided and sealed, ready to store: its outcomes in file order, what the next batch must know."""

    parsed: Parsed
    outcomes: list[Outcome]
    sealed: batch_writes.Sealed
    earlier: Earlier
    audit_mark: AuditSavepoint  # the caller's audit buffer and jobs before this batch
    jobs_mark: int


async def decide(session: AsyncSession, caller: Caller, plan: mapping.Plan, batch: Sequence[Raw] | Parsed,
                 earlier: Earlier = NOTHING_EARLIER) -> Decided:
    """Every row of the batch decided and its writes sealed, nothing written: the reads on `session`, the rest in a
    worker thread. `batch` may be parsed already (`parse_batch`, ahead, in a thread): it is parsed again if the
    requester's field registry or the plan changed since. `earlier`: the previous batch's writes, when it may not
    have committed yet (resolvers/imports/decisions.py)."""
    rules = Rules(caller.access.table.registry, plan, caller.tenant.cipher)
    if not isinstance(batch, Parsed) or not batch.rules.same(rules):
        batch = parse_batch(rules, batch.raw if isinstance(batch, Parsed) else batch,
                            batch.progress if isinstance(batch, Parsed) else 0.0)
    audit_mark, jobs_mark = caller.audit.savepoint(), len(caller.jobs)
    parsed = batch.rows
    if not parsed:
        return Decided(batch, [batch.refused[number] for number, _ in batch.raw],
                       batch_writes.seal(caller, batch_writes.Writes()), NOTHING_EARLIER, audit_mark, jobs_mark)
    names = list(dict.fromkeys(n for r in parsed for n in (*r.patch.values, *r.patch.custom)))
    stored = await _stored_matches(session, caller, parsed, names, earlier)
    listed = await suppression.listed(session, [h for r in parsed for _, h in r.hashes])
    new_flags: dict[str, bool] | Exception
    try:
        caller.access.require(ENTITY, Action.WRITE)
        owner = ContactPatch()
        contacts.default_owner(caller, owner)
        await contacts.check_links(session, owner)
        new_flags = await _new_contact_flags(session, caller, names)
    except (DomainError, AccessDenied) as exc:
        new_flags = exc  # every row that would create a contact fails with it

    def decide_rows() -> tuple[dict[int, Outcome], batch_writes.Sealed, Earlier]:
        decisions = Decisions(caller, stored, new_flags, earlier)
        outcomes = decisions.apply(parsed, listed)
        return outcomes, batch_writes.seal(caller, decisions.writes), decisions.earlier()

    outcomes, sealed, after = await offload.cpu(decide_rows)
    outcomes.update(batch.refused)
    return Decided(batch, [outcomes[number] for number, _ in batch.raw], sealed, after, audit_mark, jobs_mark)


async def store(session: AsyncSession, caller: Caller, plan: mapping.Plan, decided: Decided) -> tuple[
        list[Outcome], bool]:
    """Write a decided batch (in a SAVEPOINT): its outcomes, and whether it was redone one row at a time because
    the database refused its writes (so that only the refused row fails; its decisions then differ from
    `decided`'s, and so does what a next batch decided meanwhile must know)."""
    try:
        async with session.begin_nested():
            await batch_writes.store(session, caller, decided.sealed)
        return decided.outcomes, False
    except DBAPIError:
        caller.audit.rollback_to(decided.audit_mark)
        del caller.jobs[decided.jobs_mark:]
    raw = decided.parsed.raw
    if len(raw) == 1:
        valid = {r.number for r in decided.parsed.rows}
        return [Outcome(o.row, "failed", reason="the database refused the row") if o.row in valid else o
                for o in decided.outcomes], True
    outcomes = {o.row: o for o in decided.outcomes if o.row in decided.parsed.refused}
    for item in raw:  # find the refused row: one row at a time, each seeing what the earlier ones wrote
        if item[0] not in outcomes:
            outcomes.update({o.row: o for o in await apply_batch(session, caller, plan, [item])})
    return [outcomes[number] for number, _ in raw], True


async def apply_batch(session: AsyncSession, caller: Caller, plan: mapping.Plan,
                      batch: Sequence[Raw] | Parsed) -> list[Outcome]:
    """Every row of the batch, in file order: what happened to it (decided, then stored, on one session)."""
    decided = await decide(session, caller, plan, batch)
    outcomes, _ = await store(session, caller, plan, decided)
    return outcomes
