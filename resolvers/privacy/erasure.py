"""Erasure by anonymisation in place (DESIGN 7): `eraseContact`, and the set-based core retention reuses.

What goes: every PII field of the contact (built-in and custom PII fields), its activities' free text, its
attachments (rows marked deleted and renamed, bytes removed after commit), the values of its change history,
any finished export file of it; active consents are withdrawn. Names and email become placeholders that keep
the format valid (`Erased` / `Contact`, `erased-<id>@erased.example`: `.example` never delivers); every other
PII field becomes null. What stays: ids, links (owner, team, activities, data requests), activity kinds,
dates and purchase amounts, non-PII fields, consent history and the audit trail.

Erasing twice is harmless: the second run finds nothing left to clear, keeps the first `anonymisedAt` and adds
no suppression entries. `eraseContact` also puts the email, phone and HKID on the suppression list as keyed
hashes; retention's ANONYMISE does not (the person did not ask to be forgotten, and may come back).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import ARRAY, ColumnElement, Text, Uuid, and_, any_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from authz.fields import FieldRegistry, FieldSpec, definition_specs
from authz.permissions import Action, Resource
from db.crypto import WorkspaceCipher
from db.files import FileStore
from db.models import Activity, Attachment, Consent, Contact, ContactHistory, ExportJob
from db.queries import contacts as contact_q
from db.queries import policies as policy_q
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.privacy import open_requests, suppression
from resolvers.runtime import Caller
from resolvers.webhooks import events as webhook_events

ENTITY = Resource.CONTACT
EMAIL_DOMAIN = "erased.example"
NAME_PLACEHOLDERS = {"firstName": "Erased", "lastName": "Contact"}
ERASED_FILENAME = "erased"


@dataclass
class ErasureResult:
    contacts: int = 0
    activities: int = 0
    attachments: int = 0
    history: int = 0
    consents: int = 0
    suppressed: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # storage keys whose bytes must go after commit


def among(column: Any, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """`column = ANY(:ids)`: one array parameter, so a batch of thousands of ids is one cheap statement."""
    return column == any_(bindparam(None, list(ids), type_=ARRAY(Uuid())))  # type: ignore[no-any-return]


async def registry_of(session: AsyncSession) -> FieldRegistry:
    """The workspace's fields (custom ones from `field_definitions`), for callers without a Caller (workers)."""
    definitions = await policy_q.load_field_definitions(session)
    return FieldRegistry.build(definition_specs(definitions))


def pii_fields(registry: FieldRegistry) -> list[FieldSpec]:
    return [spec for spec in registry.of(ENTITY).values() if spec.pii]


def _placeholder(spec: FieldSpec, column: Any) -> Any:
    if spec.name in NAME_PLACEHOLDERS:
        return case((column.is_(None), None), else_=literal(NAME_PLACEHOLDERS[spec.name]))
    if spec.name == "email":
        local = func.substr(func.replace(func.cast(Contact.id, Text), "-", ""), 1, 12)
        return case((column.is_(None), None), else_=literal("erased-") + local + literal("@" + EMAIL_DOMAIN))
    return None


def contact_values(registry: FieldRegistry, now: datetime) -> dict[str, Any]:
    """SET clause of the contact row: placeholders for names and email, null for every other PII column."""
    values: dict[str, Any] = {}
    custom: list[str] = []
    for spec in pii_fields(registry):
        if spec.custom:
            custom.append(spec.name)
        elif spec.name in contact_q.PLAIN_COLUMNS:
            column = contact_q.PLAIN_COLUMNS[spec.name]
            values[column] = _placeholder(spec, contact_q.T[column])
        elif spec.name in contact_q.ENCRYPTED_COLUMNS:
            ciphertext, _, index = contact_q.ENCRYPTED_COLUMNS[spec.name]
            values[ciphertext] = None
            if index:
                values[index] = None
    if custom:
        values["custom_fields"] = Contact.custom_fields.op("-")(bindparam("pii_custom", custom, type_=ARRAY(Text)))
    values["anonymised_at"] = func.coalesce(Contact.anonymised_at, now)
    values["updated_at"] = now
    return values


async def _suppress(
    session: AsyncSession, cipher: WorkspaceCipher, ids: Sequence[uuid.UUID], keep: Collection[bytes] = ()
) -> list[str]:
    """Hash the identifiers of contacts not anonymised yet (a second run would hash placeholders), but those
    in `keep` (a merge keeps the values that now live on the primary usable)."""
    hkid = contact_q.ENCRYPTED_COLUMNS["hkid"][0]
    rows = await session.execute(
        select(Contact.id, Contact.email, Contact.phone, contact_q.T[hkid]).where(
            among(Contact.id, ids), Contact.anonymised_at.is_(None)
        )
    )
    kinds: set[str] = set()
    for row in rows:
        blob = row._mapping[hkid]
        values = {
            "email": row.email,
            "phone": row.phone,
            "hkid": None if blob is None else cipher.decrypt_str(contact_q.location(hkid, row.id), blob),
        }
        entries = [(kind, h) for kind, h in suppression.hashes(cipher, values) if h not in keep]
        await suppression.add(session, row.id, entries)
        kinds.update(kind for kind, _ in entries)
    return sorted(kinds)


def _changed(values: dict[str, Any]) -> ColumnElement[bool]:
    """Rows where something is still to clear (so a repeat run touches nothing and counts nothing)."""
    checks: list[ColumnElement[bool]] = [Contact.anonymised_at.is_(None)]
    for column in values:
        if column in ("anonymised_at", "updated_at"):
            continue
        if column == "custom_fields":
            checks.append(Contact.custom_fields.op("?|")(bindparam("pii_custom_any", type_=ARRAY(Text))))
        elif values[column] is None:
            checks.append(contact_q.T[column].is_not(None))
        else:
            checks.append(contact_q.T[column].is_distinct_from(values[column]))
    return or_(*checks)


async def anonymise(
    session: AsyncSession,
    registry: FieldRegistry,
    contact_ids: Sequence[uuid.UUID],
    now: datetime,
    *,
    cipher: WorkspaceCipher | None = None,
    keep_suppressible: Collection[bytes] = (),
) -> ErasureResult:
    """Anonymise these contacts in place, in a few set-based statements. With `cipher`, suppress them first
    (except the identifier hashes in `keep_suppressible`).

    The caller has decided who may do this and excluded contacts under legal hold."""
    ids = list(contact_ids)
    result = ErasureResult()
    if not ids:
        return result
    if cipher is not None:
        result.suppressed = await _suppress(session, cipher, ids, keep_suppressible)
    values = contact_values(registry, now)
    custom = [s.name for s in pii_fields(registry) if s.custom]
    params = {"pii_custom": custom, "pii_custom_any": custom} if custom else {}
    stmt = update(Contact).where(among(Contact.id, ids), _changed(values)).values(**values)
    result.contacts = int((await session.execute(stmt, params)).rowcount or 0)  # type: ignore[attr-defined]
    of_contacts = select(Activity.id).where(among(Activity.contact_id, ids))
    cleared = await session.execute(
        update(Activity)
        .where(among(Activity.contact_id, ids), or_(Activity.subject.is_not(None), Activity.body.is_not(None)))
        .values(subject=None, body=None)
    )
    result.activities = int(cleared.rowcount or 0)  # type: ignore[attr-defined]
    removed = await session.execute(
        update(Attachment)
        .where(
            Attachment.activity_id.in_(of_contacts),
            or_(Attachment.deleted_at.is_(None), Attachment.filename != ERASED_FILENAME),
        )
        .values(deleted_at=func.coalesce(Attachment.deleted_at, now), filename=ERASED_FILENAME)
        .returning(Attachment.storage_key)
    )
    keys = list(removed.scalars())
    result.attachments = len(keys)
    history = await session.execute(
        update(ContactHistory)
        .where(
            among(ContactHistory.contact_id, ids),
            or_(ContactHistory.old_enc.is_not(None), ContactHistory.new_enc.is_not(None)),
        )
        .values(old_enc=None, new_enc=None)
    )
    result.history = int(history.rowcount or 0)  # type: ignore[attr-defined]
    consents = await session.execute(
        update(Consent)
        .where(among(Consent.contact_id, ids), Consent.granted.is_(True))
        .values(granted=False, withdrawn_at=func.coalesce(Consent.withdrawn_at, now))
    )
    result.consents = int(consents.rowcount or 0)  # type: ignore[attr-defined]
    exports = await session.execute(
        update(ExportJob)
        .where(among(ExportJob.contact_id, ids), and_(ExportJob.status == "SUCCEEDED", ExportJob.file_key.is_not(None)))
        .values(status="EXPIRED", expires_at=now)
        .returning(ExportJob.file_key)
    )
    result.files = [k for k in [*keys, *exports.scalars()] if k]
    return result


def audit_fields(registry: FieldRegistry) -> tuple[list[str], list[str]]:
    specs = pii_fields(registry)
    names = [f"customFields.{s.name}" if s.custom else s.name for s in specs]
    return names, sorted({s.pii for s in specs if s.pii})


def without_person(text: str, first: str | None, last: str | None, email: str | None, phone: str | None = None,
                   hkid: str | None = None) -> str:
    """`text` (a reason typed by a person) with the erased person's identifiers taken out: the ERASE event is
    kept (in the hash chain) long after the person is gone, so it must not name them. Taken out: the name as
    written, reversed, run together and each of its parts ("Mr Chan", "Siu-ming"), the e-mail and its local
    part, the phone number however its digits are grouped (with or without the country code), the HKID with
    or without its brackets."""
    first, last = (first or "").strip(), (last or "").strip()
    email = (email or "").strip()
    parts = [p for p in re.split(r"[\s\-.,]+", f"{first} {last}") if len(p) > 1]
    names = [first, last, email, email.split("@")[0], f"{first} {last}", f"{last} {first}", f"{last}{first}",
             f"{first}{last}", *parts]
    for name in sorted({n.strip() for n in names if len(n.strip()) > 1}, key=len, reverse=True):
        text = re.sub(re.escape(name), "[erased]", text, flags=re.IGNORECASE)
    for digits in _phone_forms(phone):
        # the digits in order, with any spaces, dots, dashes or brackets between them
        text = re.sub(r"\+?" + r"[\s.\-()]*".join(digits), "[erased]", text)
    hkid_match = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(?([0-9A])\)?", (hkid or "").strip().upper())
    if hkid_match:
        prefix, body, check = hkid_match.groups()
        text = re.sub(rf"{prefix}\s*{body}\s*\(?\s*{check}\s*\)?", "[erased]", text, flags=re.IGNORECASE)
    return text


def _phone_forms(phone: str | None) -> list[str]:
    """The digit strings a stored E.164 phone is written as: in full, and without its country code."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 6:
        return []
    forms = [digits]
    try:
        national = str(phonenumbers.parse("+" + digits, None).national_number)
    except phonenumbers.NumberParseException:
        national = ""
    if len(national) >= 6 and national != digits:
        forms.append(national)
    return forms


async def erase_contact(
    session: AsyncSession,
    caller: Caller,
    contact_id: uuid.UUID,
    reason: str,
    *,
    data_request_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """`eraseContact`: visible (else NOT_FOUND), then the `erase` permission on it (else FORBIDDEN)."""
    access = caller.access
    row = (
        await session.execute(
            select(Contact.id, Contact.legal_hold, Contact.anonymised_at, Contact.first_name, Contact.last_name,
                   Contact.email, Contact.phone, Contact.hkid_enc).where(
                access.record_filter(ENTITY), Contact.id == contact_id
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("no such contact")
    if not await session.scalar(select(access.record_filter(ENTITY, Action.ERASE)).where(Contact.id == contact_id)):
        raise AccessDenied("not allowed to erase this contact")
    reason = reason.strip()
    if not reason:
        raise BadInput("say why the contact is erased (e.g. the data request it fulfils)", field="reason")
    if row.legal_hold:
        raise Conflict("the contact is under legal hold: release the hold first", detail="LEGAL_HOLD")
    await open_requests.refuse_if_held(session, [contact_id])
    hkid = caller.tenant.cipher.decrypt_str(contact_q.location("hkid_enc", row.id), row.hkid_enc)
    scrubbed = without_person(reason, row.first_name, row.last_name, row.email, row.phone, hkid)[:500]
    registry = access.table.registry
    result = await anonymise(session, registry, [contact_id], caller.runtime.now(), cipher=caller.tenant.cipher)
    fields, categories = audit_fields(registry)
    caller.audit.event(
        "ERASE",
        entity_type=ENTITY,
        entity_id=str(contact_id),
        fields=fields,
        categories=categories,
        details={
            "reason": scrubbed,
            "repeat": row.anonymised_at is not None,
            "activities": result.activities,
            "attachments": result.attachments,
            "history": result.history,
            "consentsWithdrawn": result.consents,
            "suppressed": result.suppressed,
            **({"dataRequestId": str(data_request_id)} if data_request_id else {}),
        },
    )
    await webhook_events.emit(session, caller, "contact.erased", contact_id)
    remove_after_commit(caller, result.files)
    return contact_id


def remove_after_commit(caller: Caller, keys: Sequence[str]) -> None:
    """Delete stored bytes (attachments, export archives) once the erasure is committed, never before."""
    if not keys:
        return
    store, files = FileStore(caller.runtime.export_dir), list(keys)

    async def purge() -> None:
        await store.remove(files)

    caller.after_commit.append(purge)
