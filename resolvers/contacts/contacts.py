"""Contacts: scoped reads with field decisions, validated writes with field-level write checks, consents."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.access import Access, FieldPlan
from authz.errors import AccessDenied
from authz.permissions import Action, Resource
from db.models import Consent, Contact, ContactHistory, Team, User
from db.models.base import ordered_uuid
from db.queries import contacts as q
from resolvers import pagination
from resolvers.contacts import validation, writes
from resolvers.contacts.input import ContactPatch, build_patch
from resolvers.errors import BadInput, NotFound
from resolvers.privacy import opt_outs, suppression
from resolvers.projection import FreeText, Record, Selection, project_in_slices
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = Resource.CONTACT
# How a consent was given (`source`) is free text about the person: returning it is a READ of the consent.
CONSENT_SOURCE = FreeText("consent", {"source": ("free_text", lambda c: c.source)})
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class ContactFilter:
    stage: str | None = None
    owner_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    vip: bool | None = None
    search: str | None = None
    email: str | None = None
    phone: str | None = None
    hkid: str | None = None


@dataclass(frozen=True)
class ContactOrder:
    field: str = "CREATED_AT"
    descending: bool = False


def _conditions(caller: Caller, flt: ContactFilter | None) -> list[ColumnElement[bool]]:
    """Filter predicates; each needs read access to the field it filters on (no leaks by probing)."""
    if flt is None:
        return []
    access, out = caller.access, []
    needs: list[str] = []
    if flt.stage is not None:
        needs.append("stage")
        out.append(q.T.stage == flt.stage)
    if flt.owner_id is not None:
        needs.append("owner")
        out.append(q.T.owner_id == flt.owner_id)
    if flt.team_id is not None:
        needs.append("team")
        out.append(q.T.team_id == flt.team_id)
    if flt.vip is not None:
        needs.append("vip")
        out.append(q.T.vip.is_(flt.vip))
    if flt.search:
        if "\x00" in flt.search:  # PostgreSQL text cannot hold it
            raise BadInput("search must not contain NUL characters", field="filter.search")
        if len(flt.search) > MAX_SEARCH_CHARS:  # a long pattern keeps a PostgreSQL backend busy for minutes
            raise BadInput(f"search must be at most {MAX_SEARCH_CHARS} characters", field="filter.search")
        needs += ["firstName", "lastName", "company"]
        out.append(q.search_condition(flt.search.strip()))
    if flt.email is not None:
        needs.append("email")
        out.append(func.lower(q.T.email) == _normalised("email", flt.email, validation.normalize_email).lower())
    if flt.phone is not None:
        needs.append("phone")
        out.append(q.T.phone == _normalised("phone", flt.phone, validation.normalize_phone))
    if flt.hkid is not None:
        needs.append("hkid")
        hkid = _normalised("hkid", flt.hkid, validation.normalize_hkid)
        out.append(q.blind_match("hkid", hkid, caller.tenant.cipher))
    access.require_readable(ENTITY, needs, "filtering")
    return out


def _normalised(name: str, raw: str, fn: Any) -> str:
    try:
        return str(fn(raw))
    except validation.InvalidValue as exc:
        raise BadInput(f"{name}: {exc}", field=f"filter.{name}") from exc


async def _project(caller: Caller, rows: Sequence[Any], selection: Selection, plan: FieldPlan) -> list[Record]:
    cipher = caller.tenant.cipher
    return await project_in_slices(
        entity=ENTITY,
        rows=rows,
        plan=plan,
        flags=plan.read_flags,
        row_id=lambda row: row.id,
        read=lambda row, spec: q.value(row, spec, cipher),
        audit=caller.audit,
        want_masked={n.removesuffix("Masked") for n in selection.names if n.endswith("Masked")},
    )


def _scoped_select(caller: Caller, selection: Selection) -> tuple[Any, FieldPlan]:
    access = caller.access
    plan = access.plan(ENTITY, selection.field_names(access, ENTITY))
    stored = q.with_last_activity(q.storage_columns(ruling.spec for ruling in plan.rulings), access.activity_times())
    stmt = q.readable_contacts(access.record_filter(ENTITY), stored).add_columns(*access.flag_columns(plan))
    return stmt, plan


async def list_contacts(
    session: AsyncSession,
    caller: Caller,
    *,
    first: int | None,
    after: str | None,
    flt: ContactFilter | None,
    order: ContactOrder | None,
    selection: Selection,
    want_total: bool,
) -> pagination.Page[Record]:
    size = pagination.page_size(first)
    order = order or ContactOrder()
    _, value_kind, needs = q.ORDER_COLUMNS[order.field]
    expr = q.order_expression(order.field, caller.access.activity_times())
    if needs:
        caller.access.require_readable(ENTITY, [needs], "ordering")
    conditions = _conditions(caller, flt)
    kind = f"{order.field}.{'DESC' if order.descending else 'ASC'}.{value_kind}"
    stmt, plan = _scoped_select(caller, selection)
    stmt = stmt.where(*conditions).add_columns(expr.label("_sort"))
    if after:
        value, row_id = pagination.decode_cursor(after, kind, cipher=caller.tenant.cipher)
        stmt = stmt.where(q.keyset_after(order.field, order.descending, value, row_id, expr))
    direction = (lambda c: c.desc()) if order.descending else (lambda c: c.asc())
    stmt = stmt.order_by(direction(expr), direction(q.T.id)).limit(size + 1)
    rows = list((await session.execute(stmt)).all())
    has_next = len(rows) > size
    rows = rows[:size]
    total = None
    if want_total:
        count = (
            select(func.count()).select_from(Contact.__table__).where(caller.access.record_filter(ENTITY), *conditions)
        )
        total = int(await session.scalar(count) or 0)
    records = await _project(caller, rows, selection, plan)
    cipher = caller.tenant.cipher  # sort values may be names: sealed
    cursors = [pagination.encode_cursor(row._mapping["_sort"], row.id, kind, cipher=cipher) for row in rows]
    return pagination.Page(records, cursors, has_next, total)


async def contacts_by_ids(
    session: AsyncSession, caller: Caller, ids: Sequence[uuid.UUID], selection: Selection
) -> list[Record | None]:
    """Visible contacts by id, in key order, None where not visible (loaders and `node`)."""
    stmt, plan = _scoped_select(caller, selection)
    rows = (await session.execute(stmt.where(q.T.id.in_(set(ids))))).all()
    by_id = {r.id: r for r in await _project(caller, rows, selection, plan)}
    return [by_id.get(i) for i in ids]


async def get_contact(session: AsyncSession, caller: Caller, contact_id: uuid.UUID, selection: Selection) -> Record:
    found = (await contacts_by_ids(session, caller, [contact_id], selection))[0]
    if found is None:
        raise NotFound("no such contact")
    return found


async def _visible_row(session: AsyncSession, access: Access, contact_id: uuid.UUID) -> Any:
    row = (
        await session.execute(q.readable_contacts(access.record_filter(ENTITY)).where(q.T.id == contact_id))
    ).one_or_none()
    if row is None:
        raise NotFound("no such contact")
    return row


async def _write_flags(
    session: AsyncSession, access: Access, contact_id: uuid.UUID, names: Sequence[str]
) -> dict[str, bool]:
    return await writes.row_flags(session, access, ENTITY, contact_id, names)


def check_writes(access: Access, patch: ContactPatch, flags: Mapping[str, bool]) -> None:
    """FORBIDDEN unless the row (its scope `flags`, `writes.row_flags`) is writable with every field of `patch`."""
    writes.check(access, ENTITY, [*patch.values, *patch.custom], flags,
                 outside="the contact is outside the records you may change",
                 labels={name: f"customFields.{name}" for name in patch.custom})


def input_name(name: str) -> str:
    return f"{name}Id" if name in ("owner", "team") else name


async def check_links(session: AsyncSession, patch: ContactPatch) -> None:
    if patch.values.get("owner") is not None and await session.get(User, patch.values["owner"]) is None:
        raise BadInput("no such user", field="ownerId")
    if patch.values.get("team") is not None and await session.get(Team, patch.values["team"]) is None:
        raise BadInput("no such team", field="teamId")


def default_owner(caller: Caller, patch: ContactPatch) -> None:
    """A new contact belongs to the person creating it (and their team) unless the input names an owner."""
    if "owner" not in patch.values and caller.principal.user_id:
        patch.values["owner"] = caller.principal.user_id
        patch.values.setdefault("team", caller.principal.team_id)


def chosen_fields(patch: ContactPatch, given: Mapping[str, Any]) -> ContactPatch:
    """The fields of a new contact the caller chose (not defaults): those must be writable by them."""
    return ContactPatch({n: v for n, v in patch.values.items() if input_name(n) in given}, dict(patch.custom))


async def create(
    session: AsyncSession, caller: Caller, given: Mapping[str, Any], suppression_override: str | None = None
) -> uuid.UUID:
    access = caller.access
    access.require(ENTITY, Action.WRITE)
    patch = build_patch(given, access.table.registry, creating=True)
    default_owner(caller, patch)
    await check_links(session, patch)
    contact_id = uuid.uuid4()
    await suppression.check(session, caller, contact_id, patch.values, suppression_override)
    cipher = caller.tenant.cipher
    columns = q.encode(patch.values, contact_id, cipher)
    custom = {
        k: q.encode_custom(access.table.registry.get(ENTITY, k), contact_id, v, cipher)  # type: ignore[arg-type]
        for k, v in patch.custom.items()
        if v is not None
    }
    await session.execute(insert(Contact).values(id=contact_id, custom_fields=custom, **columns))
    # Fields the caller chose (not defaults) must be writable by them, on the row as written.
    chosen = chosen_fields(patch, given)
    check_writes(access, chosen, await _write_flags(session, access, contact_id, [*chosen.values, *chosen.custom]))
    changes = {n: (None, v) for n, v in {**patch.values, **patch.custom}.items() if v is not None}
    await _record_history(session, caller, contact_id, changes)
    caller.audit.event("CREATE", entity_type=ENTITY, entity_id=str(contact_id), fields=patch.fields)
    await webhook_events.emit(session, caller, "contact.created", contact_id, patch.fields)
    return contact_id


async def update_contact(
    session: AsyncSession, caller: Caller, contact_id: uuid.UUID, given: Mapping[str, Any]
) -> uuid.UUID:
    row = await _visible_row(session, caller.access, contact_id)
    patch = build_patch(given, caller.access.table.registry, creating=False)
    return await _apply(session, caller, contact_id, row, patch)


async def apply_patch(session: AsyncSession, caller: Caller, contact_id: uuid.UUID, patch: ContactPatch) -> uuid.UUID:
    """`updateContact` with values already validated (a merge fills the primary from stored values)."""
    return await _apply(session, caller, contact_id, await _visible_row(session, caller.access, contact_id), patch)


async def _apply(
    session: AsyncSession, caller: Caller, contact_id: uuid.UUID, row: Any, patch: ContactPatch
) -> uuid.UUID:
    access = caller.access
    names = [*patch.values, *patch.custom]
    check_writes(access, patch, await _write_flags(session, access, contact_id, names))
    await check_links(session, patch)
    registry, cipher = access.table.registry, caller.tenant.cipher
    old = {n: q.value(row, registry.get(ENTITY, n), cipher) for n in names}  # type: ignore[arg-type]
    changes = {n: (old[n], new) for n, new in {**patch.values, **patch.custom}.items() if old[n] != new}
    if not changes:
        return contact_id
    await suppression.check(session, caller, contact_id, {n: patch.values[n] for n in changes if n in patch.values},
                            None)
    values = q.encode({n: patch.values[n] for n in changes if n in patch.values}, contact_id, cipher)
    custom_changes = {n: v for n, v in patch.custom.items() if n in changes}
    if custom_changes:
        merged = dict(row.custom_fields or {})
        for name, value in custom_changes.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = q.encode_custom(registry.get(ENTITY, name), contact_id, value, cipher)  # type: ignore[arg-type]
        values["custom_fields"] = merged
    await session.execute(update(Contact).where(q.T.id == contact_id).values(updated_at=datetime.now(UTC), **values))
    if not (await _write_flags(session, access, contact_id, []))[writes.WRITABLE]:
        raise AccessDenied("the change would move the contact outside the records you may change")
    await _record_history(session, caller, contact_id, changes)
    fields = [f"customFields.{n}" if n in patch.custom else n for n in changes]
    caller.audit.event("UPDATE", entity_type=ENTITY, entity_id=str(contact_id), fields=fields)
    await webhook_events.emit(session, caller, "contact.updated", contact_id, fields)
    return contact_id


async def _record_history(
    session: AsyncSession, caller: Caller, contact_id: uuid.UUID, changes: Mapping[str, tuple[Any, Any]]
) -> None:
    """Old and new values, encrypted, for the data-access export; erasure destroys them."""
    rows = history_rows(caller, contact_id, changes)
    if rows:
        await session.execute(insert(ContactHistory), rows)


def history_rows(caller: Caller, contact_id: uuid.UUID, changes: Mapping[str, tuple[Any, Any]]) -> list[dict[str, Any]]:
    """The `contact_history` rows of one change (values sealed), for `_record_history` or a multi-row INSERT."""
    cipher = caller.tenant.cipher
    rows = []
    for name, (old, new) in changes.items():
        history_id = ordered_uuid()  # in time order: a bulk import's history COPY appends to its index
        rows.append(
            {
                "id": history_id,
                "contact_id": contact_id,
                "actor_id": caller.principal.id,
                "actor_kind": caller.principal.kind,
                "field": name,
                "old_enc": _seal(cipher, history_id, "old_enc", old),
                "new_enc": _seal(cipher, history_id, "new_enc", new),
                "request_id": caller.audit.actor.request_id,
            }
        )
    return rows


# `json.dumps(value, default=str)`, without building an encoder for every value (imports seal thousands per batch)
_HISTORY_JSON = json.JSONEncoder(default=str)


def _seal(cipher: Any, history_id: uuid.UUID, column: str, value: Any) -> bytes | None:
    if value is None:
        return None
    loc = q.FieldLocation("contact_history", column, str(history_id))
    return cipher.encrypt_str(loc, _HISTORY_JSON.encode(value))


async def record_consent(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    purpose: str,
    granted: bool,
    source: str,
    notice_version: str | None = None,
    expires_at: datetime | None = None,
    opt_out_override: str | None = None,
    obtained_at: datetime | None = None,
) -> Consent:
    access = caller.access
    await _visible_row(session, access, contact_id)
    if not (await _write_flags(session, access, contact_id, []))["_writable"]:
        raise AccessDenied("the contact is outside the records you may change")
    if purpose not in opt_outs.PURPOSES:
        raise BadInput(f"unknown purpose {purpose!r}", field="purpose")
    try:
        source = validation.normalize_name(source)
    except validation.InvalidValue as exc:
        raise BadInput(f"source: {exc}", field="source") from exc
    if notice_version is not None:
        try:
            notice_version = validation.normalize_name(notice_version, 64)  # consents.notice_version: varchar(64)
        except validation.InvalidValue as exc:
            raise BadInput(f"noticeVersion: {exc}", field="noticeVersion") from exc
    now = datetime.now(UTC)
    await opt_outs.register(session, caller, contact_id, purpose, granted, opt_outs.Evidence(source, obtained_at),
                            opt_out_override, now)
    consent = await session.scalar(select(Consent).where(Consent.contact_id == contact_id, Consent.purpose == purpose))
    if consent is None:
        consent = Consent(id=uuid.uuid4(), contact_id=contact_id, purpose=purpose, granted=granted, source=source)
        session.add(consent)
    consent.granted = granted
    consent.source = source
    consent.notice_version = notice_version
    consent.recorded_by = caller.principal.id
    consent.expires_at = expires_at
    if granted:
        consent.granted_at, consent.withdrawn_at = now, None
    else:
        consent.withdrawn_at = now
    await session.flush()
    caller.audit.event(
        "UPDATE",
        entity_type=ENTITY,
        entity_id=str(contact_id),
        fields=[f"consents.{purpose}"],
        details={"granted": granted, "source": source},
    )
    return consent


async def consents_for(session: AsyncSession, contact_ids: Sequence[uuid.UUID]) -> list[list[Consent]]:
    rows = (
        await session.execute(select(Consent).where(Consent.contact_id.in_(set(contact_ids))).order_by(Consent.purpose))
    ).scalars()
    grouped: dict[uuid.UUID, list[Consent]] = {}
    for consent in rows:
        grouped.setdefault(consent.contact_id, []).append(consent)
    return [grouped.get(i, []) for i in contact_ids]
