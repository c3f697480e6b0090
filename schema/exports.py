"""Export jobs: `exportJob`, `requestContactExport`, `requestWorkspaceExport`. Adapters only."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from authz.permissions import SIGNED_IN, Action, Resource, requires
from resolvers.exports import jobs as exports
from resolvers.exports import review as copy_review
from schema import selection
from schema.context import Context
from schema.ids import to_global, uuid_of
from schema.nodes import Connection, connection

MAX_GRAPHQL_INT = 2**31 - 1


@strawberry.enum
class ExportKind(enum.Enum):
    CONTACT = "CONTACT"
    WORKSPACE = "WORKSPACE"


@strawberry.enum
class ExportStatus(enum.Enum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


@strawberry.type(description="An export being made or made: a ZIP downloadable for 24 hours through a signed link.")
class ExportJob:
    id: strawberry.ID
    kind: ExportKind
    status: ExportStatus
    progress: float = strawberry.field(description="0..1, moves while the job runs.")
    created_at: dt.datetime
    finished_at: dt.datetime | None
    download_url: str | None = strawberry.field(
        description="A signed link (no sign-in needed: keep it private) while the export is downloadable."
    )
    expires_at: dt.datetime | None
    size_bytes: int | None = strawberry.field(description="Null above 2^31-1 bytes (GraphQL Int).")
    sha256: str | None
    error: str | None
    model: strawberry.Private[Any] = None

    @strawberry.field(description="For a finished contact export (a person's copy): what still looks like another "
                                  "person's name in its free text and is not a contact or user of the workspace (those "
                                  "are already replaced), capitalised names and Chinese names, for the operator to "
                                  "review before the copy is released (PDPO s.20(2)). Null for other exports, and "
                                  "once the archive has expired.")
    async def review_names(self, info: Info[Context, None]) -> list[str] | None:
        return None if self.model is None else await copy_review.of_job(info.context.runtime, self.model)

    @classmethod
    def from_model(cls, job: Any, download_url: str | None) -> ExportJob:
        size = job.size_bytes
        return cls(
            id=strawberry.ID(to_global("ExportJob", job.id)),
            kind=ExportKind(job.kind),
            status=ExportStatus(job.status),
            progress=float(job.progress or 0.0),
            created_at=job.created_at,
            finished_at=job.finished_at,
            download_url=download_url,
            expires_at=job.expires_at,
            size_bytes=size if size is not None and size <= MAX_GRAPHQL_INT else None,
            sha256=job.sha256,
            error=job.error,
            model=job,
        )


def export_job_of(info: Info[Context, None], job: Any, slug: str) -> ExportJob:
    """The GraphQL shape of a job, its link based on CRM_PUBLIC_URL (never on the request's Host header)."""
    runtime = info.context.runtime
    return ExportJob.from_model(job, exports.download_url(runtime, slug, job, runtime.exports.link_base))


ExportJobConnection = Connection[ExportJob]


@strawberry.type
class ExportQueries:
    @strawberry.field(
        description="One export job: the caller's own, or any with `workspace export`. " + SIGNED_IN
    )
    async def export_job(self, info: Info[Context, None], id: strawberry.ID) -> ExportJob | None:
        job_id = uuid_of(str(id), "ExportJob", "id")
        async with info.context.db() as (session, caller):
            job = await exports.get_job(session, caller, job_id)
        return export_job_of(info, job, caller.tenant.slug)

    @strawberry.field(
        description="Export jobs, newest first: all of them with `workspace export` (admins), else your own. "
        + SIGNED_IN
    )
    async def export_jobs(
        self, info: Info[Context, None], first: int | None = 50, after: str | None = None
    ) -> ExportJobConnection:
        total = selection.connection_wants(info, "totalCount")
        async with info.context.db() as (session, caller):
            page = await exports.list_jobs(session, caller, first=first, after=after, want_total=total)
        return connection(page, lambda job: export_job_of(info, job, caller.tenant.slug))  # type: ignore[no-any-return]


@strawberry.type
class ExportMutations:
    @strawberry.mutation(description="A copy of everything held on one person (data access request, DPP6). Requires "
                                     "`contact export`. Without dataRequestId it follows the caller's field rules.")
    async def request_contact_export(
        self, info: Info[Context, None], contact_id: strawberry.ID,
        data_request_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="The data request it answers: then it is the data subject's complete copy (every field in "
                        "clear whatever the caller's field rules, every record the request names), audited as one "
                        "EXPORT naming the request. Also requires `data_request write`.")] = None,
        redact_names: Annotated[list[str] | None, strawberry.argument(
            description="Other people's names to replace in the copy's free text besides the contacts and users "
                        "the workspace knows: those an earlier copy's `reviewNames` showed (PDPO s.20(2)). At most "
                        "200, of 2 to 200 characters; matched as whole words, ignoring case.")] = None,
    ) -> ExportJob:
        cid = uuid_of(str(contact_id), "Contact", "contactId")
        rid = uuid_of(str(data_request_id), "DataRequest", "dataRequestId") if data_request_id else None
        async with info.context.mutation() as (session, caller):
            job = await exports.request_contact_export(session, caller, cid, rid, redact_names=redact_names)
        return export_job_of(info, job, caller.tenant.slug)

    @strawberry.mutation(
        description="Everything in the workspace, as JSON Lines files with a manifest. "
        + requires(Resource.WORKSPACE, Action.EXPORT)
    )
    async def request_workspace_export(self, info: Info[Context, None]) -> ExportJob:
        async with info.context.mutation() as (session, caller):
            job = await exports.request_workspace_export(session, caller)
        return export_job_of(info, job, caller.tenant.slug)
