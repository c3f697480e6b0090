"""Contact imports: `POST /imports` (the file), `startImport`, `importJob`, and `GET /imports/{id}/report.csv`.
Adapters only: parse, call one resolver, wrap. Needs `contact write` and `contact import`.

    POST /imports                  multipart/form-data, one part `file` (CSV or JSON Lines; UTF-8, UTF-16 or Big5;
                                   at most 200 MB): 201 {"uploadId", "filename", "sizeBytes", "sha256", "encoding"}
    GET  /imports/{id}/report.csv  row, action (created | updated | skipped | failed), contactId, field, reason
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import strawberry
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from strawberry.scalars import JSON
from strawberry.types import Info

from db.models import ImportUpload
from resolvers.errors import BadInput
from resolvers.imports import jobs as imports
from schema.context import Context, build_context
from schema.ids import to_global, uuid_of
from schema.routes import handle, path_id, receive_file, send_file


@strawberry.enum(description="Where an import stands.")
class ImportStatus(enum.Enum):
    QUEUED = strawberry.enum_value("QUEUED", description="Waiting for a worker.")
    RUNNING = strawberry.enum_value("RUNNING", description="Rows are being applied; see `progress`.")
    SUCCEEDED = strawberry.enum_value("SUCCEEDED", description="Every row applied or reported; the report is ready.")
    FAILED = strawberry.enum_value("FAILED", description="Stopped: see `error` (rows committed so far stay).")


@strawberry.type(description="A bulk contact import (or its dry run) and its counts.")
class ImportJob:
    id: strawberry.ID
    status: ImportStatus
    progress: float = strawberry.field(description="0 to 1, by the bytes of the file read.")
    dry_run: bool = strawberry.field(description="A dry run wrote nothing; its counts are what the real run does.")
    created: int
    updated: int = strawberry.field(description="Rows that matched an existing contact on a `dedupeBy` key.")
    skipped: int = strawberry.field(description="Rows holding a value on the suppression list (an erased person).")
    failed: int = strawberry.field(description="Invalid or not allowed rows; the report says why.")
    report_url: str | None = strawberry.field(description="The CSV report (same Bearer auth), once SUCCEEDED.")
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


def _mapping(value: JSON | None) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise BadInput("mapping is an object: column name -> contact field", field="mapping")


def import_job_of(info: Info[Context, None], job: Any) -> ImportJob:
    gid = to_global("ImportJob", job.id)
    base = info.context.runtime.exports.public_url or str(info.context.request.base_url)
    report = f"{base.rstrip('/')}/imports/{gid}/report.csv" if job.status == "SUCCEEDED" else None
    return ImportJob(
        id=strawberry.ID(gid), status=ImportStatus(job.status), progress=job.progress, dry_run=job.dry_run,
        created=job.created, updated=job.updated, skipped=job.skipped, failed=job.failed, report_url=report,
        error=job.error, created_at=job.created_at, finished_at=job.finished_at,
    )


@strawberry.type
class ImportQueries:
    @strawberry.field(description="An import job by id. Requires `contact import`.")
    async def import_job(self, info: Info[Context, None], id: strawberry.ID) -> ImportJob | None:
        job_id = uuid_of(str(id), "ImportJob", "id")
        async with info.context.db() as (session, caller):
            return import_job_of(info, await imports.get(session, caller, job_id))


@strawberry.type
class ImportMutations:
    @strawberry.mutation(
        description="Imports the contacts of an upload (`POST /imports`) as a background job: each row goes through "
        "createContact's validation, field rules and suppression list; rows matching a contact on a `dedupeBy` key "
        "update it. Requires `contact write` and `contact import`."
    )
    async def start_import(
        self,
        info: Info[Context, None],
        upload_id: Annotated[strawberry.ID, strawberry.argument(description="From `POST /imports`.")],
        dry_run: Annotated[bool, strawberry.argument(description="Report what would happen; write nothing.")],
        mapping: Annotated[JSON | None, strawberry.argument(
            description='Column -> contact field, e.g. {"E-mail": "email", "Passport": "customFields.passportNo"}; '
            "by default columns named as ContactInput fields map to themselves.")] = None,
        dedupe_by: Annotated[list[str] | None, strawberry.argument(
            description="Match existing contacts on: email (case-folded), phone (E.164), hkid (blind index).")] = None,
    ) -> ImportJob:
        uid = uuid_of(str(upload_id), "ImportUpload", "uploadId")
        async with info.context.mutation() as (session, caller):
            job = await imports.start(session, caller, uid, _mapping(mapping), dedupe_by, dry_run)
        return import_job_of(info, job)


def _too_large() -> Exception:
    return imports.TooLarge("imports are at most 200 MB", field="file")


async def upload(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def work() -> Response:
        imports.require(await ctx.caller())  # authenticate and authorise before reading a large body

        async def store(part: UploadFile) -> ImportUpload:
            async with ctx.mutation() as (session, caller):
                return await imports.store_upload(session, caller, part.filename, part.file)

        row = await receive_file(request, imports.MAX_BYTES, _too_large, store)
        return JSONResponse({"uploadId": to_global("ImportUpload", row.id), "filename": row.filename,
                             "sizeBytes": row.size_bytes, "sha256": row.sha256}, status_code=201)

    return await handle(ctx, "uploadImport", work,
                        status_of=lambda exc: 413 if isinstance(exc, imports.TooLarge) else None)


async def report(request: Request) -> Response:
    ctx = build_context(request, None, request.state.runtime)

    async def open_file() -> Path:
        job_id = path_id(request, "ImportJob", "no such import")
        async with ctx.db() as (session, caller):
            return await imports.report_path(session, caller, job_id)

    def respond(path: Path) -> Response:
        return FileResponse(path, media_type="text/csv", filename="import-report.csv",
                            headers={"Cache-Control": "no-store", "X-Request-Id": ctx.request_id})

    return await send_file(ctx, "importReport", open_file, respond)


def routes() -> list[Route]:
    return [
        Route("/imports", upload, methods=["POST"]),
        Route("/imports/{id}/report.csv", report, methods=["GET"]),
    ]

