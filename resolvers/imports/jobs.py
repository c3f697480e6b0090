"""The API side of imports: store an upload (streamed to the file store, size-limited, its encoding checked),
start a job (its mapping and dedupe keys checked first), read a job, find its report. Importing needs
`contact write` and `contact import`; a job and its upload are visible to whoever may import.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.files import FileStore
from db.models import ImportJob, ImportUpload
from resolvers.contacts.attachments import clean_filename
from resolvers.errors import BadInput, NotFound
from resolvers.imports import mapping
from resolvers.imports.runner import report_key
from resolvers.imports.source import Source
from resolvers.runtime import Caller

MAX_BYTES = 200 * 1024 * 1024
CHUNK = 1 << 20
ENTITY = "contact"


class TooLarge(BadInput):
    """Over the upload limit (HTTP 413)."""


def require(caller: Caller) -> None:
    caller.access.require(ENTITY, "write")
    caller.access.require(ENTITY, "import")


def _copy(source: BinaryIO, temp: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(temp, "wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > MAX_BYTES:
                raise TooLarge(f"imports are at most {MAX_BYTES // (1024 * 1024)} MB", field="file")
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


async def store_upload(session: AsyncSession, caller: Caller, filename: str | None, source: BinaryIO) -> ImportUpload:
    require(caller)
    store = FileStore(caller.runtime.export_dir)
    upload_id = uuid.uuid4()
    key = store.key(caller.tenant.slug, "imports", f"{upload_id.hex}.upload")
    temp = store.temp_path(key, "upload")
    try:
        size, sha256 = await asyncio.to_thread(_copy, source, temp)
        name = clean_filename(filename)
        await asyncio.to_thread(Source, temp, name)  # refuses an undecodable file now rather than in the job
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    store.publish(temp, key)
    upload = ImportUpload(id=upload_id, file_key=key, filename=name, size_bytes=size, sha256=sha256,
                          uploaded_by=caller.principal.id, uploaded_by_kind=caller.principal.kind)
    session.add(upload)
    await session.flush()
    caller.audit.event("CREATE", entity_type="import_upload", entity_id=str(upload_id),
                       details={"sizeBytes": size, "sha256": sha256})
    return upload


async def start(session: AsyncSession, caller: Caller, upload_id: uuid.UUID, given_mapping: Mapping[str, Any] | None,
                dedupe_by: list[str] | None, dry_run: bool) -> ImportJob:
    require(caller)
    if given_mapping is not None and not isinstance(given_mapping, dict):
        raise BadInput("mapping is an object: column name -> contact field", field="mapping")
    upload = await session.get(ImportUpload, upload_id)
    if upload is None:
        raise NotFound("no such upload")
    plan = mapping.plan(caller, given_mapping, dedupe_by)
    principal = caller.principal
    job = ImportJob(id=uuid.uuid4(), upload_id=upload_id, status="QUEUED", dry_run=dry_run, mapping=plan.mapping,
                    dedupe_by=list(plan.dedupe_by), requested_by=principal.id, requested_by_kind=principal.kind,
                    requested_roles=sorted(principal.roles), created_at=caller.runtime.now())
    session.add(job)
    await session.flush()
    caller.audit.event("CREATE", entity_type="import", entity_id=str(job.id),
                       details={"uploadId": str(upload_id), "dryRun": dry_run, "dedupeBy": list(plan.dedupe_by)})
    caller.enqueue("imports.run", slug=caller.tenant.slug, job_id=str(job.id))
    return job


async def get(session: AsyncSession, caller: Caller, job_id: uuid.UUID) -> ImportJob:
    require(caller)
    job = await session.scalar(select(ImportJob).where(ImportJob.id == job_id))
    if job is None:
        raise NotFound("no such import")
    return job


async def report_path(session: AsyncSession, caller: Caller, job_id: uuid.UUID) -> Path:
    job = await get(session, caller, job_id)
    store = FileStore(caller.runtime.export_dir)
    path = store.path(report_key(store, caller.tenant.slug, job.id))
    if job.status != "SUCCEEDED" or not path.is_file():
        raise NotFound("the report is ready once the import has succeeded")
    caller.audit.event("EXPORT", entity_type="import", entity_id=str(job.id), details={"phase": "import_report"})
    return path
