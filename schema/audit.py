"""The audit log for admins: events, access and exposure reports, chain verification, retention. Adapters only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.audit import log as audit
from resolvers.errors import BadInput
from schema import selection
from schema.contacts import Contact
from schema.context import Context
from schema.enums import AuditAction
from schema.ids import from_global, to_global
from schema.nodes import Connection, connection

# Entity types whose ids are shown (and accepted) as Relay global IDs, so that clients can follow them.
GLOBAL_TYPES = {"contact": "Contact", "activity": "Activity", "user": "User", "team": "Team", "api_key": "ApiKey"}
ACTOR_TYPES = {"user": "User", "api_key": "ApiKey"}


def actor_global_id(kind: str, actor_id: uuid.UUID | None) -> str | None:
    """A global User/ApiKey ID; support and system actors keep their raw id (None for the system)."""
    if actor_id is None:
        return None
    type_name = ACTOR_TYPES.get(kind)
    return to_global(type_name, actor_id) if type_name else str(actor_id)


def entity_global_id(entity_type: str | None, entity_id: str | None) -> str | None:
    type_name = GLOBAL_TYPES.get(entity_type or "")
    if entity_id is None or type_name is None:
        return entity_id
    try:
        return to_global(type_name, uuid.UUID(entity_id))
    except ValueError:
        return entity_id


def parse_actor_id(value: str, field: str) -> uuid.UUID:
    """A global User/ApiKey ID, or a raw UUID (support and system actors)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    type_name, raw = from_global(value, field=field)
    if type_name not in ACTOR_TYPES.values():
        raise BadInput("expected a User or ApiKey ID", field=field)
    return raw


def parse_entity(entity_type: str | None, entity_id: str | None) -> tuple[str | None, str | None]:
    """A global ID names its entity type too; anything else is matched as stored."""
    if entity_id is None:
        return entity_type, None
    try:
        type_name, raw = from_global(entity_id)
    except BadInput:
        return entity_type, entity_id
    by_type = {v: k for k, v in GLOBAL_TYPES.items()}
    if type_name not in by_type:
        return entity_type, entity_id
    return entity_type or by_type[type_name], str(raw)


@strawberry.type(description="One audit event. It names what was touched, never the values.")
class AuditEvent:
    id: strawberry.ID
    occurred_at: dt.datetime
    actor_id: strawberry.ID | None = strawberry.field(
        description="A global User or ApiKey ID; the raw id of a support or system actor."
    )
    actor_kind: str = strawberry.field(description="user | api_key | support | system")
    action: AuditAction
    entity_type: str | None
    entity_id: strawberry.ID | None = strawberry.field(
        description="A global ID for contacts, activities, users, teams and API keys; otherwise as stored."
    )
    fields: list[str]
    request_id: str | None
    details: JSON | None
    policy_version: int | None = strawberry.field(description="The policy version that decided the request.")
    client_ip: str | None

    @classmethod
    def from_entry(cls, e: audit.AuditEntry) -> AuditEvent:
        actor_id = actor_global_id(e.actor_kind, e.actor_id)
        entity_id = entity_global_id(e.entity_type, e.entity_id)
        return cls(
            id=strawberry.ID(str(e.id)),
            occurred_at=e.occurred_at,
            actor_id=None if actor_id is None else strawberry.ID(actor_id),
            actor_kind=e.actor_kind,
            action=AuditAction(e.action),
            entity_type=e.entity_type,
            entity_id=None if entity_id is None else strawberry.ID(entity_id),
            fields=e.fields,
            request_id=e.request_id,
            details=cast("JSON | None", e.details),
            policy_version=e.policy_version,
            client_ip=e.client_ip,
        )


AuditEventConnection = Connection[AuditEvent]


@strawberry.input
class AuditFilter:
    actor_id: strawberry.ID | None = None
    entity_type: str | None = None
    entity_id: strawberry.ID | None = strawberry.field(
        default=None, description="A global ID (its type implies entityType) or an id as stored."
    )
    action: AuditAction | None = None
    field: str | None = strawberry.field(default=None, description="Events whose fields include this one.")
    from_: dt.datetime | None = strawberry.field(default=None, name="from", description="Inclusive.")
    to: dt.datetime | None = strawberry.field(default=None, description="Exclusive.")

    def to_filter(self) -> audit.AuditFilter:
        entity_type, entity_id = parse_entity(self.entity_type, None if self.entity_id is None else str(self.entity_id))
        return audit.AuditFilter(
            actor_id=parse_actor_id(str(self.actor_id), "filter.actorId") if self.actor_id else None,
            entity_type=entity_type,
            entity_id=entity_id,
            action=self.action.value if self.action else None,
            field=self.field,
            occurred_from=self.from_,
            occurred_to=self.to,
        )


@strawberry.type
class AuditActor:
    actor_id: strawberry.ID | None
    actor_kind: str
    actor_label: str = strawberry.field(description="The user's email, the API key's name, or the actor kind.")

    @classmethod
    def of(cls, a: audit.Actor) -> AuditActor:
        return cls(**_actor(a))


def _actor(a: audit.Actor) -> dict[str, Any]:
    actor_id = actor_global_id(a.kind, a.id)
    return {
        "actor_id": None if actor_id is None else strawberry.ID(actor_id),
        "actor_kind": a.kind,
        "actor_label": a.label,
    }


@strawberry.type(description="One actor who read or changed the person's data.")
class AccessReportActor(AuditActor):
    actions: list[str]
    fields: list[str] = strawberry.field(description="Contact fields read or changed; `activities.<field>` for its "
                                                 "activities. Denied attempts are in deniedFields, not here.")
    denied_fields: list[str] = strawberry.field(description="Fields the actor tried to read and was refused (DENIED).")
    first_at: dt.datetime
    last_at: dt.datetime
    count: int = strawberry.field(description="Audit events.")


@strawberry.type(description="Who read or changed one person's data (PDPO data access and complaints).")
class AccessReport:
    contact_id: strawberry.ID
    from_: dt.datetime | None = strawberry.field(name="from")
    to: dt.datetime | None
    actors: list[AccessReportActor]

    @classmethod
    def of(cls, r: audit.AccessReport) -> AccessReport:
        return cls(
            contact_id=strawberry.ID(to_global("Contact", r.contact_id)),
            from_=r.occurred_from,
            to=r.occurred_to,
            actors=[
                AccessReportActor(
                    **_actor(a.actor),
                    actions=a.actions,
                    fields=a.fields,
                    denied_fields=a.denied_fields,
                    first_at=a.first_at,
                    last_at=a.last_at,
                    count=a.count,
                )
                for a in r.rows
            ],
        )


@strawberry.type
class ExposureRow:
    contact_id: strawberry.ID
    fields: list[str]
    categories: list[str] = strawberry.field(description="PII categories of the fields read.")
    actors: list[AuditActor]
    read_count: int
    first_at: dt.datetime
    last_at: dt.datetime
    raw_contact_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The person, to notify them of a breach: their name and contact details as the "
                                  "caller's own field rules give them (masked or denied fields as usual), audited as "
                                  "the caller's READ. Null when the record is outside the caller's scope or deleted.")
    async def contact(self, info: Info[Context, None]) -> Contact | None:
        fields = selection.names(selection.node_fields(info))
        record = await info.context.loaders.contacts_by_id.load((self.raw_contact_id, fields.names))
        if record is not None:
            info.context.redact_record(info, record)
        return Contact.wrap(record)


@strawberry.type
class FieldExposure:
    field: str
    contact_count: int


@strawberry.type
class ActorExposure(AuditActor):
    contact_count: int
    read_count: int


@strawberry.type(description="Which contacts' fields were read in a time window, and by whom (breach reconstruction).")
class ExposureReport:
    from_: dt.datetime = strawberry.field(name="from")
    to: dt.datetime
    actor_id: strawberry.ID | None
    contact_count: int
    read_count: int
    actor_count: int
    rows: list[ExposureRow] = strawberry.field(description="One per contact, most read first.")
    fields: list[FieldExposure] = strawberry.field(description="Per field, how many contacts had it read.")
    actors: list[ActorExposure]
    truncated: bool = strawberry.field(
        description="More contacts than `rows` holds (the totals cover all; the CSV download has every row)."
    )

    @classmethod
    def of(cls, r: audit.ExposureReport, actor_id: strawberry.ID | None) -> ExposureReport:
        return cls(
            from_=r.occurred_from,
            to=r.occurred_to,
            actor_id=actor_id,
            contact_count=r.contact_count,
            read_count=r.read_count,
            actor_count=len(r.actors),
            rows=[
                ExposureRow(
                    contact_id=strawberry.ID(to_global("Contact", row.contact_id)),
                    fields=row.fields,
                    categories=row.categories,
                    actors=[AuditActor.of(a) for a in row.actors],
                    read_count=row.read_count,
                    first_at=row.first_at,
                    last_at=row.last_at,
                    raw_contact_id=row.contact_id,
                )
                for row in r.rows
            ],
            fields=[FieldExposure(field=f.field, contact_count=f.contact_count) for f in r.fields],
            actors=[
                ActorExposure(**_actor(a.actor), contact_count=a.contact_count, read_count=a.read_count)
                for a in r.actors
            ],
            truncated=r.truncated,
        )


@strawberry.type
class AuditChainReport:
    ok: bool
    checked_batches: int
    first_broken_seq: int | None
    reason: str | None
    content_skipped: int = strawberry.field(
        description="Batches older than the oldest partition (rows dropped by retention): links checked only."
    )
    unsealed_batches: int = strawberry.field(
        default=0,
        description="Of checkedBatches: not linked into the hash chain yet (the sealer links them within seconds); "
        "their rows are checked against their own digest.",
    )


def contact_uuid(value: str, field: str = "contactId") -> uuid.UUID:
    return from_global(value, expect="Contact", field=field)[1]


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="The audit log, newest first (admins). At most 200 a page. "
        + requires(Resource.AUDIT, Action.READ)
    )
    async def audit_events(
        self,
        info: Info[Context, None],
        filter: AuditFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> AuditEventConnection:
        flt = filter.to_filter() if filter else None
        want_total = selection.connection_wants(info, "totalCount")
        async with info.context.db() as (session, caller):
            page = await audit.list_events(session, caller, first=first, after=after, flt=flt, want_total=want_total)
        selected = selection.names(selection.node_fields(info, "edges", "node")).names
        audit.DETAILS.audit(caller.audit, page.items, selected)
        return connection(page, AuditEvent.from_entry)  # type: ignore[no-any-return]

    @strawberry.field(
        description="Who read or changed this person's data (admins). Also as CSV. "
        + requires(Resource.AUDIT, Action.READ)
    )
    async def access_report(
        self,
        info: Info[Context, None],
        contact_id: strawberry.ID,
        from_: Annotated[dt.datetime | None, strawberry.argument(name="from")] = None,
        to: dt.datetime | None = None,
    ) -> AccessReport:
        cid = contact_uuid(str(contact_id))
        async with info.context.db() as (session, caller):
            return AccessReport.of(await audit.access_report(session, caller, cid, from_, to))

    @strawberry.field(
        description="Which contacts and fields were read in [from, to), by whom (admins). Also as CSV. "
        + requires(Resource.AUDIT, Action.READ)
    )
    async def exposure_report(
        self,
        info: Info[Context, None],
        from_: Annotated[dt.datetime, strawberry.argument(name="from")],
        to: dt.datetime,
        actor_id: strawberry.ID | None = None,
    ) -> ExposureReport:
        actor = parse_actor_id(str(actor_id), "actorId") if actor_id else None
        async with info.context.db() as (session, caller):
            report = await audit.exposure_report(session, caller, from_, to, actor)
        return ExposureReport.of(report, actor_id)

    @strawberry.field(
        description="Verify the audit log (admins): the sealed hash chain's links and content, and each unsealed "
        "batch's rows against its own digest. "
        + requires(Resource.AUDIT, Action.READ)
    )
    async def audit_chain(self, info: Info[Context, None]) -> AuditChainReport:
        async with info.context.db() as (session, caller):
            r = await audit.verify(session, caller)
        return AuditChainReport(
            ok=r.ok,
            checked_batches=r.checked_batches,
            first_broken_seq=r.first_broken_seq,
            reason=r.reason,
            content_skipped=r.content_skipped,
            unsealed_batches=r.unsealed,
        )

    @strawberry.field(
        description="Months the audit log is kept (at least 12). "
        + requires(Resource.WORKSPACE, Action.READ)
    )
    async def audit_retention_months(self, info: Info[Context, None]) -> int:
        async with info.context.db() as (session, caller):
            return await audit.retention_months(session, caller)


@strawberry.type
class AuditMutations:
    @strawberry.mutation(
        description="Keep the audit log this many months (at least 12); returns the new value. "
        + requires(Resource.WORKSPACE, Action.WRITE)
    )
    async def set_audit_retention(self, info: Info[Context, None], months: int) -> int:
        async with info.context.mutation() as (session, caller):
            return await audit.set_retention(session, caller, months)
