"""The data-request register, disclosures and the s.27 log book. Adapters only: parse, call one resolver, wrap."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.privacy import data_requests, disclosures, fulfilment, letters, matches, refusal_grounds
from schema import selection
from schema.contacts import Contact, contacts_by_ids
from schema.context import Context
from schema.enums import Language
from schema.exports import ExportJob, export_job_of
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, connection


@strawberry.enum
class DataRequestKind(enum.Enum):
    ACCESS = "ACCESS"
    CORRECTION = "CORRECTION"
    ERASURE = "ERASURE"


@strawberry.enum
class DataRequestStatus(enum.Enum):
    OPEN = "OPEN"
    FULFILLED = "FULFILLED"
    REFUSED = "REFUSED"


def _ground_doc(code: str) -> str:
    g = refusal_grounds.GROUNDS[code]
    return f"{', '.join(f'{kind} {cite}' for kind, cite in g.citations.items())}: {g.en}."


@strawberry.enum(description="The ground of a refusal, from the ordinance's lists: s.20 for ACCESS (notice under "
                             "s.21), s.24 for CORRECTION (notice under s.25), DPP2(2)/s.26 for ERASURE. Each value "
                             "says the kinds it fits and the section.")
class RefusalGround(enum.Enum):
    IDENTITY_NOT_PROVEN = strawberry.enum_value("IDENTITY_NOT_PROVEN", description=_ground_doc("IDENTITY_NOT_PROVEN"))
    OTHER_PERSONS_DATA = strawberry.enum_value("OTHER_PERSONS_DATA", description=_ground_doc("OTHER_PERSONS_DATA"))
    PROHIBITED_BY_LAW = strawberry.enum_value("PROHIBITED_BY_LAW", description=_ground_doc("PROHIBITED_BY_LAW"))
    NOT_IN_CHINESE_OR_ENGLISH = strawberry.enum_value("NOT_IN_CHINESE_OR_ENGLISH",
                                                      description=_ground_doc("NOT_IN_CHINESE_OR_ENGLISH"))
    CANNOT_LOCATE_DATA = strawberry.enum_value("CANNOT_LOCATE_DATA", description=_ground_doc("CANNOT_LOCATE_DATA"))
    REPEATED_REQUEST = strawberry.enum_value("REPEATED_REQUEST", description=_ground_doc("REPEATED_REQUEST"))
    CONTROLLED_BY_ANOTHER_DATA_USER = strawberry.enum_value(
        "CONTROLLED_BY_ANOTHER_DATA_USER", description=_ground_doc("CONTROLLED_BY_ANOTHER_DATA_USER"))
    NOT_IN_SPECIFIED_FORM = strawberry.enum_value("NOT_IN_SPECIFIED_FORM",
                                                  description=_ground_doc("NOT_IN_SPECIFIED_FORM"))
    ENTITLED_UNDER_ORDINANCE = strawberry.enum_value("ENTITLED_UNDER_ORDINANCE",
                                                     description=_ground_doc("ENTITLED_UNDER_ORDINANCE"))
    EXEMPTION = strawberry.enum_value("EXEMPTION", description=_ground_doc("EXEMPTION"))
    DATA_NOT_INACCURATE = strawberry.enum_value("DATA_NOT_INACCURATE", description=_ground_doc("DATA_NOT_INACCURATE"))
    INACCURACY_NOT_SHOWN = strawberry.enum_value("INACCURACY_NOT_SHOWN",
                                                 description=_ground_doc("INACCURACY_NOT_SHOWN"))
    CORRECTION_NOT_ACCURATE = strawberry.enum_value("CORRECTION_NOT_ACCURATE",
                                                    description=_ground_doc("CORRECTION_NOT_ACCURATE"))
    STILL_REQUIRED = strawberry.enum_value("STILL_REQUIRED", description=_ground_doc("STILL_REQUIRED"))


@strawberry.enum(description="ACCESS_REPLY: s.19(1), the copy is supplied. NO_DATA_HELD: s.19(1)(a), \"we hold no "
                             "personal data about you\". CORRECTION_REPLY: s.23(1). PARTIAL_COMPLIANCE: the s.19(2) "
                             "notice. REFUSAL: the s.21 (access) or s.25 (correction) notice with its ground.")
class LetterKind(enum.Enum):
    ACCESS_REPLY = "ACCESS_REPLY"
    NO_DATA_HELD = "NO_DATA_HELD"
    CORRECTION_REPLY = "CORRECTION_REPLY"
    PARTIAL_COMPLIANCE = "PARTIAL_COMPLIANCE"
    REFUSAL = "REFUSAL"


@strawberry.type(description="A reply letter to the requester, naming the business and its data protection officer. "
                             "Its text holds the requester's name: reading text or html is audited.")
class ReplyLetter:
    id: strawberry.ID
    kind: LetterKind
    language: Language
    created_at: dt.datetime
    text: str = strawberry.field(description="The letter as plain text.")
    html: str = strawberry.field(description="The letter as a printable HTML page.")
    download_path: str = strawberry.field(
        description="GET this path (with the same Bearer token) for the HTML page as a file to print or send.")


@strawberry.type(description="A correction passed on to a recipient of the person's data (s.23(1)(c)).")
class CorrectionNotice:
    recipient: str = strawberry.field(description="The webhook's URL, the recipient's e-mail, or the API key's name.")
    channel: str = strawberry.field(description="WEBHOOK (a contact.corrected event) | EMAIL | MANUAL (no address "
                                                "known: pass it on yourself).")
    sent_at: dt.datetime | None = strawberry.field(description="When it was sent; null for MANUAL.")
    contact_ids: list[strawberry.ID]
    fields: list[str] = strawberry.field(description="The fields the recipient had received.")


@strawberry.type(description="A data access, correction or erasure request; it is due 40 days after receipt. Visible "
                  "only when every contact it names is visible to the caller.")
class DataRequest:
    id: strawberry.ID
    kind: DataRequestKind
    requester_name: str = strawberry.field(description="PII: name. Who made the request; reading it is audited.")
    requester_email: str | None = strawberry.field(
        description="PII: contact. The requester's e-mail address (also used to find possible matches).")
    identity_verified: bool = strawberry.field(description="Whether the requester's identity was checked.")
    identity_verified_at: dt.datetime | None = strawberry.field(description="When the identity was checked.")
    identity_verified_by_id: strawberry.ID | None = strawberry.field(description="The user who checked it.")
    identity_check: str | None = strawberry.field(description="How the identity was checked.")
    delivered_at: dt.datetime | None = strawberry.field(description="When the copy (or reply) was delivered.")
    delivery_method: str | None = strawberry.field(description="How it was delivered (e.g. registered post).")
    correction: str | None = strawberry.field(description="CORRECTION requests: the correction made.")
    language: Language
    received_at: dt.datetime
    due_at: dt.datetime
    status: DataRequestStatus
    refusal_reason: str | None
    refusal_ground: RefusalGround | None = strawberry.field(
        description="The ground of the refusal (REFUSED requests).")
    correction_notices: list[CorrectionNotice] = strawberry.field(
        description="CORRECTION requests: to whom the correction was passed on, and how.")
    fulfilled_at: dt.datetime | None
    partial_notice_at: dt.datetime | None = strawberry.field(description="When the s.19(2) notice was given.")
    partial_notice: str | None
    days_remaining: int | None = strawberry.field(
        description="Whole days left before dueAt (0 on the last day, negative once overdue); null unless OPEN."
    )
    overdue: bool = strawberry.field(description="OPEN and past dueAt.")
    export_id: strawberry.ID | None = strawberry.field(description="The ExportJob of an ACCESS request.")
    contact_id: strawberry.Private[Any]
    raw_id: strawberry.Private[Any]
    raw_export_id: strawberry.Private[Any]
    raw_request: strawberry.Private[Any]

    @strawberry.field(description="Reply letters written for the request (English and Chinese), oldest first.")
    def letters(self, info: Info[Context, None], language: Language | None = None) -> list[ReplyLetter]:
        found = letters.stored(self.raw_request, language.value if language else None)
        wanted = selection.names(selection.node_fields(info)).names
        if found and {"text", "html"} & set(wanted):
            data_requests.REQUESTER.audit(info.context.audit, [self.raw_request], ["requesterName"])
        return [ReplyLetter(id=strawberry.ID(str(x.id)), kind=LetterKind(x.kind), language=Language(x.language),
                            created_at=x.created_at, text=x.text, html=x.html,
                            download_path=f"/data-requests/{self.id}/letters/{x.id}.html") for x in found]

    @strawberry.field(description="The export answering an ACCESS request; its link only for who may download it.")
    async def export(self, info: Info[Context, None]) -> ExportJob | None:
        if self.raw_export_id is None:
            return None
        found = await info.context.loaders.linked_exports_by_id.load(self.raw_export_id)
        if found is None:
            return None
        job, may_download = found
        if not may_download:
            return ExportJob.from_model(job, None)
        return export_job_of(info, job, (await info.context.caller()).tenant.slug)

    @strawberry.field(description="The first contact the request names (see `contacts`).")
    async def contact(self, info: Info[Context, None]) -> Contact | None:
        if self.contact_id is None:
            return None
        found = await contacts_by_ids(info, [self.contact_id])
        return found[0] if found else None

    @strawberry.field(description="Every record the request names: several when the person is held twice, none "
                                  "when the business holds no record of them.")
    async def contacts(self, info: Info[Context, None]) -> list[Contact]:
        ids = await info.context.loaders.data_request_contacts.load(self.raw_id)
        return await contacts_by_ids(info, ids)

    @strawberry.field(description="Other contacts that may be the same person: sharing an e-mail, phone or HKID "
                                  "(blind index) with a named record or the requester's e-mail. Link them with "
                                  "`linkDataRequestContacts`. Only fields the caller may read are compared.")
    async def possible_matches(self, info: Info[Context, None]) -> list[Contact]:
        async with info.context.db() as (session, caller):
            ids = await matches.possible_matches(session, caller, self.raw_id)
        return await contacts_by_ids(info, ids)

    @classmethod
    def from_model(cls, r: Any, now: dt.datetime) -> DataRequest:
        return cls(
            id=strawberry.ID(to_global("DataRequest", r.id)),
            kind=DataRequestKind(r.kind),
            requester_name=r.requester_name,
            language=Language(r.language),
            received_at=r.received_at,
            due_at=r.due_at,
            status=DataRequestStatus(r.status),
            refusal_reason=r.refusal_reason,
            fulfilled_at=r.fulfilled_at,
            partial_notice_at=r.partial_notice_at,
            partial_notice=r.partial_notice,
            days_remaining=data_requests.days_remaining(r, now),
            overdue=data_requests.is_overdue(r, now),
            export_id=strawberry.ID(to_global("ExportJob", r.export_id)) if r.export_id else None,
            requester_email=r.requester_email,
            identity_verified=r.identity_verified_at is not None,
            identity_verified_at=r.identity_verified_at,
            identity_verified_by_id=strawberry.ID(to_global("User", r.identity_verified_by))
            if r.identity_verified_by else None,
            identity_check=r.identity_check,
            delivered_at=r.delivered_at,
            delivery_method=r.delivery_method,
            correction=r.correction,
            refusal_ground=RefusalGround(r.refusal_ground) if r.refusal_ground else None,
            correction_notices=[
                CorrectionNotice(recipient=n["recipient"], channel=n["channel"],
                                 sent_at=dt.datetime.fromisoformat(n["sentAt"]) if n.get("sentAt") else None,
                                 contact_ids=[strawberry.ID(c) for c in n.get("contactIds", [])],
                                 fields=list(n.get("fields", [])))
                for n in r.correction_notices or []
            ],
            contact_id=r.contact_id,
            raw_id=r.id,
            raw_export_id=r.export_id,
            raw_request=r,
        )


def _wrap(info: Info[Context, None], caller: Any, request: Any) -> DataRequest:
    """The request as returned, its requester PII audited when selected."""
    data_requests.audit_requester(caller, [request], selection.names(selection.node_fields(info)).names)
    return DataRequest.from_model(request, caller.runtime.now())


DataRequestConnection = Connection[DataRequest]


@strawberry.input(description="A data request; name the person's records with contactId or contactIds (neither: "
                              "the business holds no record of them, and the reply says so).")
class DataRequestInput:
    kind: DataRequestKind
    requester_name: str
    contact_id: strawberry.ID | None = strawberry.field(default=None, description="The person's record.")
    contact_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The person's records, when held more than once (with or instead of contactId).")
    received_at: dt.datetime | None = None
    language: Language | None = None
    requester_email: str | None = strawberry.field(default=None, description="The requester's e-mail address.")
    identity_verified: bool | None = strawberry.field(
        default=None, description="True when the requester's identity was already checked (recorded as the caller).")

    def to_new(self) -> data_requests.NewRequest:
        given = [self.contact_id] if self.contact_id else []
        ids = [uuid_of(str(c), "Contact", "contactId" if i == 0 and self.contact_id else "contactIds")
               for i, c in enumerate([*given, *(self.contact_ids or [])])]
        return data_requests.NewRequest(
            kind=self.kind.value,
            contact_ids=tuple(ids),
            requester_name=self.requester_name,
            received_at=self.received_at,
            language=self.language.value if self.language else None,
            requester_email=self.requester_email,
            identity_verified=bool(self.identity_verified),
        )


@strawberry.type(description="PDPO s.27 log book: a refused request, kept 4 years.")
class LogBookEntry:
    id: strawberry.ID
    data_request_id: strawberry.ID | None
    contact_id: strawberry.ID | None
    kind: str
    requester_name: str | None
    reason: str
    refused_at: dt.datetime
    keep_until: dt.datetime

    @classmethod
    def from_model(cls, e: Any) -> LogBookEntry:
        return cls(
            id=strawberry.ID(str(e.id)),
            data_request_id=strawberry.ID(to_global("DataRequest", e.data_request_id)) if e.data_request_id else None,
            contact_id=strawberry.ID(to_global("Contact", e.contact_id)) if e.contact_id else None,
            kind=e.kind,
            requester_name=e.requester_name,
            reason=e.reason,
            refused_at=e.refused_at,
            keep_until=e.keep_until,
        )


@strawberry.type(description="Who outside the workspace received a contact's data (s.23(1)(c)).")
class Disclosure:
    channel: str = strawberry.field(description="API_KEY | CONTACT_EXPORT | WORKSPACE_EXPORT | WEBHOOK")
    actor_kind: str
    actor_id: strawberry.ID | None
    recipient: str = strawberry.field(description="The API key's name, who made the export, or the webhook's URL.")
    first_at: dt.datetime
    last_at: dt.datetime
    count: int
    fields: list[str]

    @classmethod
    def of(cls, d: disclosures.Disclosure) -> Disclosure:
        type_name = {"api_key": "ApiKey", "user": "User"}.get(d.actor_kind)
        actor = to_global(type_name, d.actor_id) if type_name and d.actor_id else (d.actor_id and str(d.actor_id))
        return cls(
            channel=d.channel,
            actor_kind=d.actor_kind,
            actor_id=strawberry.ID(actor) if actor else None,
            recipient=d.label,
            first_at=d.first_at,
            last_at=d.last_at,
            count=d.count,
            fields=d.fields,
        )


def _id(value: strawberry.ID) -> Any:
    return uuid_of(str(value), "DataRequest", "id")


@strawberry.type
class DataRequestQueries:
    @strawberry.field(
        description="One request; NOT_FOUND unless every contact it names is in your record scope. "
        + requires(Resource.DATA_REQUEST, Action.READ)
    )
    async def data_request(self, info: Info[Context, None], id: strawberry.ID) -> DataRequest:
        async with info.context.db() as (session, caller):
            return _wrap(info, caller, await data_requests.get(session, caller, _id(id)))

    @strawberry.field(
        description="The register, soonest deadline first. At most 200 a page; only requests whose contacts are all "
        "in your record scope. " + requires(Resource.DATA_REQUEST, Action.READ)
    )
    async def data_requests(
        self,
        info: Info[Context, None],
        status: DataRequestStatus | None = None,
        overdue: bool | None = None,
        first: int | None = 50,
        after: str | None = None,
        due_within_days: Annotated[
            int | None, strawberry.argument(description="OPEN requests not yet overdue, due within this many days.")
        ] = None,
    ) -> DataRequestConnection:
        async with info.context.db() as (session, caller):
            page = await data_requests.list_requests(
                session,
                caller,
                status=status.value if status else None,
                overdue=overdue,
                first=first,
                after=after,
                want_total=selection.connection_wants(info, "totalCount"),
                due_within_days=due_within_days,
            )
            now = caller.runtime.now()
            selected = selection.names(selection.node_fields(info, "edges", "node")).names
            data_requests.audit_requester(caller, page.items, selected)
        return connection(page, lambda r: DataRequest.from_model(r, now))  # type: ignore[no-any-return]

    @strawberry.field(
        description="Who outside the workspace received this contact's data in the last 12 months. "
        + requires(Resource.DATA_REQUEST, Action.READ)
    )
    async def disclosures(self, info: Info[Context, None], contact_id: strawberry.ID) -> list[Disclosure]:
        cid = uuid_of(str(contact_id), "Contact", "contactId")
        async with info.context.db() as (session, caller):
            return [Disclosure.of(d) for d in await disclosures.disclosures(session, caller, cid)]

    @strawberry.field(
        description="The s.27 log book of refused requests, newest first. "
        + requires(Resource.DATA_REQUEST, Action.READ)
    )
    async def log_book(self, info: Info[Context, None]) -> list[LogBookEntry]:
        async with info.context.db() as (session, caller):
            entries = await data_requests.log_book(session, caller)
        data_requests.LOG_BOOK.audit(caller.audit, entries, selection.names(selection.node_fields(info)).names)
        return [LogBookEntry.from_model(e) for e in entries]


@strawberry.type
class DataRequestMutations:
    @strawberry.mutation(
        description="Registers a data access, correction or erasure request (due in 40 days). "
        + requires(Resource.DATA_REQUEST, Action.WRITE)
    )
    async def create_data_request(self, info: Info[Context, None], input: DataRequestInput) -> DataRequest:
        data = input.to_new()
        async with info.context.mutation() as (session, caller):
            return _wrap(info, caller, await data_requests.create(session, caller, data))

    @strawberry.mutation(description="Adds records to the request (the person is held more than once, e.g. one of "
                                     "its possibleMatches). Requires `data_request write`.")
    async def link_data_request_contacts(
        self, info: Info[Context, None], id: strawberry.ID,
        contact_ids: Annotated[list[strawberry.ID], strawberry.argument(description="The records to add.")],
    ) -> DataRequest:
        ids = [uuid_of(str(c), "Contact", "contactIds") for c in contact_ids]
        async with info.context.mutation() as (session, caller):
            return _wrap(info, caller, await data_requests.link_contacts(session, caller, _id(id), ids))

    @strawberry.mutation(description="Records that the requester's identity was checked: who (the caller), when and "
                                     "how. Requires `data_request write`.")
    async def verify_data_request_identity(
        self, info: Info[Context, None], id: strawberry.ID,
        check: Annotated[str | None, strawberry.argument(description="How it was checked.")] = None,
    ) -> DataRequest:
        async with info.context.mutation() as (session, caller):
            return _wrap(info, caller, await fulfilment.verify_identity(session, caller, _id(id), check))

    @strawberry.mutation(
        description="ACCESS: CONFLICT (EXPORT_NOT_READY) until an export made for it SUCCEEDED; records how and when "
                    "the copy was delivered. ERASURE: erases every named contact. CORRECTION: records the correction "
                    "made. Requires `data_request write`."
    )
    async def fulfil_data_request(
        self, info: Info[Context, None], id: strawberry.ID,
        delivery_method: Annotated[str | None, strawberry.argument(
            description="How the copy or reply was delivered (required for ACCESS).")] = None,
        correction: Annotated[str | None, strawberry.argument(
            description="The correction made (required for CORRECTION).")] = None,
    ) -> DataRequest:
        async with info.context.mutation() as (session, caller):
            request = await fulfilment.fulfil(session, caller, _id(id), delivery_method=delivery_method,
                                              correction=correction)
            return _wrap(info, caller, request)

    @strawberry.mutation(description="Refuses the request on a ground of the ordinance, writes the s.27 log book and "
                                     "the refusal notice (s.21 / s.25) in English and Chinese. BAD_USER_INPUT (field "
                                     "`ground`) when no ground is given and the reason cites none (e.g. "
                                     "\"s.20(3)(c)\"), or the ground does not fit the kind. Requires "
                                     "`data_request write`.")
    async def refuse_data_request(
        self, info: Info[Context, None], id: strawberry.ID,
        reason: Annotated[str, strawberry.argument(description="Explains the ground (for CONTROLLED_BY_ANOTHER_DATA_"
                                                               "USER: the other data user's name and address).")],
        ground: Annotated[RefusalGround | None, strawberry.argument(
            description="The ground of the refusal.")] = None,
    ) -> DataRequest:
        code = ground.name if ground is not None else None
        async with info.context.mutation() as (session, caller):
            return _wrap(info, caller, await fulfilment.refuse(session, caller, _id(id), reason, code))

    @strawberry.mutation(description="Records the s.19(2) written notice; only before dueAt. Requires "
                                     "`data_request write`.")
    async def record_partial_compliance_notice(
        self, info: Info[Context, None], id: strawberry.ID, notice: str
    ) -> DataRequest:
        async with info.context.mutation() as (session, caller):
            return _wrap(info, caller, await fulfilment.record_partial_notice(session, caller, _id(id), notice))
