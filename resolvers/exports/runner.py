"""Running export jobs: claim, build the archive under a temporary name, publish it, record the result.

Why this is not one unit of work: progress must be visible while the job runs and a dead worker's job must
be recognisable, so the claim, the heartbeats and the result are separate short transactions, and the rows
are read in one REPEATABLE READ snapshot of their own. Idempotent under at-least-once delivery:

* the claim is a conditional UPDATE (QUEUED -> RUNNING, or RUNNING whose heartbeat is stale) that bumps
  `attempts`; that number fences every later write, so a worker that lost the job cannot publish;
* the archive is written to `<job>.zip.a<attempt>.<random>.part` and renamed over `<job>.zip` in the
  transaction that marks the job SUCCEEDED: a re-run after a crash still leaves exactly one artifact.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.errors import AccessDenied
from db import audit as audit_log
from db.audit import AuditActor, AuditBuffer
from db.files import PART_SUFFIX, FileStore, sha256_of
from db.models import ExportJob
from db.tenancy import Tenant
from db.units import Units
from resolvers.errors import NotFound
from resolvers.exports import contact_copy as contact_export
from resolvers.exports import workspace_archive as workspace_export
from resolvers.exports.archive import ExportZip
from resolvers.exports.context import ExportContext, ExportRefused, JobLost, Progress, Summary
from resolvers.exports.jobs import DOWNLOAD_TTL, download_url, new_operator_job, requester
from resolvers.exports.rows import Tally, scope_of
from resolvers.runtime import Runtime
from resolvers.webhooks import events as webhook_events

log = logging.getLogger("crm.exports")
MAX_ATTEMPTS = 5
PART_IDLE_SECONDS = 600


def _fenced(job: ExportJob) -> list[ColumnElement[bool]]:
    return [ExportJob.id == job.id, ExportJob.attempts == job.attempts, ExportJob.status == "RUNNING"]


async def claim(session: AsyncSession, job_id: uuid.UUID, stale_seconds: float) -> ExportJob | None:
    """QUEUED -> RUNNING, or take over a RUNNING job whose worker stopped beating; None if not claimable."""
    stale = func.now() - timedelta(seconds=stale_seconds)
    stmt = (
        update(ExportJob)
        .where(
            ExportJob.id == job_id,
            or_(
                ExportJob.status == "QUEUED",
                and_(ExportJob.status == "RUNNING",
                     or_(ExportJob.heartbeat_at.is_(None), ExportJob.heartbeat_at < stale)),
            ),
        )
        .values(status="RUNNING", attempts=ExportJob.attempts + 1, progress=0.0, heartbeat_at=func.now(),
                started_at=func.coalesce(ExportJob.started_at, func.now()))
        .returning(ExportJob)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def run(runtime: Runtime, slug: str, job_id: uuid.UUID, *,
              on_progress: Callable[[float], None] | None = None) -> ExportJob | None:
    """Run one job to its end; None when there was nothing to do (finished, or another worker has it)."""
    tenant = await runtime.directory.get(slug)
    if tenant is None:
        return None
    async with runtime.units.session(tenant.engine) as session:
        job = await claim(session, job_id, runtime.exports.stale_seconds)
    if job is None:
        return None
    store = FileStore(runtime.export_dir)
    key = store.key(slug, "exports", f"{job.id}.zip")
    temp = store.temp_path(key, f"a{job.attempts}")
    options = runtime.exports
    progress = Progress(delay_seconds=options.batch_delay_ms / 1000, on_change=on_progress)
    heart = asyncio.create_task(_heartbeat(runtime.units, tenant, job, progress, options.heartbeat_seconds))
    try:
        try:
            summary = await _build(runtime, tenant, job, store, temp, progress)
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
        finished = await _finish(runtime, tenant, job, store, temp, key, summary)
    except JobLost:
        temp.unlink(missing_ok=True)
        log.info("export %s: attempt %s lost the job to another worker", job.id, job.attempts)
        return None
    except ExportRefused as exc:
        temp.unlink(missing_ok=True)
        return await _fail(runtime.units, tenant, job, str(exc), final=True)
    except Exception:
        temp.unlink(missing_ok=True)
        final = job.attempts >= MAX_ATTEMPTS
        log.exception("export %s: attempt %s failed%s", job.id, job.attempts, " (giving up)" if final else "")
        failed = await _fail(runtime.units, tenant, job, "internal error while exporting", final=final)
        if final:
            return failed
        raise  # Dramatiq retries; the job is QUEUED again
    except BaseException:  # cancelled or shutting down: the reconciler picks the job up again
        temp.unlink(missing_ok=True)
        raise
    for leftover in store.leftovers(key):  # parts of attempts that died
        leftover.unlink(missing_ok=True)
    await _notify(runtime, tenant, finished)
    return finished


async def _build(runtime: Runtime, tenant: Tenant, job: ExportJob, store: FileStore, temp: Path,
                 progress: Progress) -> tuple[Summary, Tally, int, str]:
    tally = Tally(AuditActor(job.requested_by, job.requested_by_kind))
    async with runtime.units.read(tenant) as session:
        caller = await requester(session, runtime, tenant, job, tally)
    try:
        caller.access.require("contact" if job.kind == "CONTACT" else "workspace", "export")
        if job.data_request_id is not None:
            caller.access.require("data_request", "write")
    except AccessDenied as exc:
        raise ExportRefused("the requester may no longer make this export") from exc
    if job.data_request_id is not None:  # the data subject's complete copy, not the requester's view
        caller = dataclasses.replace(caller, access=caller.access.complete_copy())
    archive = ExportZip(temp)
    try:
        async with runtime.units.snapshot(tenant) as read:
            ctx = ExportContext(job, caller, tally, scope_of(caller.access), read, store, progress,
                                runtime.exports.batch_rows)
            builder = contact_export.build if job.kind == "CONTACT" else workspace_export.build
            summary = await builder(ctx, archive)
    finally:
        await asyncio.to_thread(archive.close)
    size = temp.stat().st_size
    return summary, tally, size, await asyncio.to_thread(sha256_of, temp)


async def _heartbeat(units: Units, tenant: Tenant, job: ExportJob, progress: Progress, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            async with units.session(tenant.engine) as session:
                result = await session.execute(
                    update(ExportJob).where(*_fenced(job)).values(heartbeat_at=func.now(), progress=progress.fraction)
                )
            if not result.rowcount:  # type: ignore[attr-defined]
                progress.lost = True
                return
        except Exception:  # a database blip: the next beat tries again; a long outage makes the job stale
            log.warning("export %s: heartbeat failed", job.id, exc_info=True)


async def _finish(runtime: Runtime, tenant: Tenant, job: ExportJob, store: FileStore, temp: Path, key: str,
                  built: tuple[Summary, Tally, int, str]) -> ExportJob:
    summary, tally, size, sha256 = built
    now = runtime.now()
    audit = AuditBuffer(AuditActor(job.requested_by, job.requested_by_kind, request_id=f"export:{job.id.hex}"))
    async with runtime.units.workspace(tenant.engine, audit) as unit:
        session = unit.session
        finished = (
            await session.execute(
                update(ExportJob).where(*_fenced(job)).values(
                    status="SUCCEEDED", progress=1.0, finished_at=now, expires_at=now + DOWNLOAD_TTL, file_key=key,
                    size_bytes=size, sha256=sha256, record_count=summary.records, error=None, heartbeat_at=func.now(),
                ).returning(ExportJob)
            )
        ).scalar_one_or_none()
        if finished is None:
            raise JobLost("the job was taken over before it finished")
        audit.event(
            "EXPORT",
            entity_type="contact" if job.kind == "CONTACT" else "workspace",
            entity_id=str(job.contact_id) if job.kind == "CONTACT" else tenant.slug,
            fields=list(tally.fields),
            categories=list(tally.categories),
            details={"exportId": str(job.id), "kind": job.kind, "phase": "completed", "records": summary.records,
                     "files": summary.counts, "withheld": list(tally.withheld), "sizeBytes": size, "sha256": sha256,
                     "notes": summary.notes,
                     **({"dataRequestId": str(job.data_request_id)} if job.data_request_id else {})},
        )
        await audit_log.flush(session, audit)
        await webhook_events.record(session, "export.finished", job.id, now)  # the webhook sweep delivers it
        store.publish(temp, key)  # under the row lock of the fenced UPDATE: one attempt publishes
    return finished


async def _fail(units: Units, tenant: Tenant, job: ExportJob, reason: str, *, final: bool) -> ExportJob | None:
    values: dict[str, object] = {"error": reason[:1000], "heartbeat_at": func.now()}
    values.update({"status": "FAILED", "finished_at": func.now()} if final else {"status": "QUEUED"})
    async with units.session(tenant.engine) as session:
        return (
            await session.execute(update(ExportJob).where(*_fenced(job)).values(**values).returning(ExportJob))
        ).scalar_one_or_none()


async def _notify(runtime: Runtime, tenant: Tenant, job: ExportJob) -> None:
    if not job.notify_email:
        return
    url = download_url(runtime, tenant.slug, job, runtime.exports.link_base)
    what = "A contact's data" if job.kind == "CONTACT" else f"The workspace {tenant.slug}"
    body = (
        f"{what} has been exported for you.\n\nDownload (valid until {job.expires_at:%Y-%m-%d %H:%M} UTC):\n{url}\n\n"
        f"Size: {job.size_bytes} bytes\nSHA-256: {job.sha256}\n\nAnyone with the link can download the file until "
        "then: keep it private."
    )
    try:
        await runtime.mailer.send([job.notify_email], f"Your CRM export is ready ({tenant.slug})", body)
    except Exception:  # the export stands; the link is also on `exportJob.downloadUrl`
        log.warning("export %s: the e-mail to the requester failed", job.id, exc_info=True)


async def expire(runtime: Runtime, slug: str) -> int:
    """Finished exports past their 24 hours: files deleted, then EXPIRED; and parts left by dead writers.
    Deleting first makes a crash in between harmless: the next run deletes nothing and marks them."""
    tenant = await runtime.directory.get(slug)
    if tenant is None:
        return 0
    store = FileStore(runtime.export_dir)
    now = runtime.now()
    async with runtime.units.session(tenant.engine) as session:
        due = (await session.execute(
            select(ExportJob.id, ExportJob.file_key).where(ExportJob.status == "SUCCEEDED", ExportJob.expires_at <= now)
        )).all()
        await asyncio.to_thread(store.delete, [k for _, k in due if k])
        if due:
            await session.execute(update(ExportJob).where(ExportJob.id.in_([i for i, _ in due]),
                                                          ExportJob.status == "SUCCEEDED").values(status="EXPIRED"))
        running = set((await session.execute(select(ExportJob.id).where(ExportJob.status == "RUNNING"))).scalars())
    folder = store.path(store.key(slug, "exports", "x")).parent
    running_names = {str(r) for r in running}
    for part in folder.glob(f"*{PART_SUFFIX}") if folder.is_dir() else ():
        idle = time.time() - part.stat().st_mtime  # a live writer keeps touching its part
        if idle > DOWNLOAD_TTL.total_seconds() or (idle > PART_IDLE_SECONDS and part.name.split(".")[0]
                                                   not in running_names):
            part.unlink(missing_ok=True)
    return len(due)


async def reconcile(runtime: Runtime, slug: str) -> int:
    """Re-send jobs whose message was lost (QUEUED, not sent for a while) or whose worker died (RUNNING with a
    stale heartbeat); give up on jobs that keep dying. The claim stays the only gate: duplicates are no-ops."""
    tenant = await runtime.directory.get(slug)
    if tenant is None or runtime.job_sender is None:
        return 0
    stale = func.now() - timedelta(seconds=runtime.exports.stale_seconds)
    async with runtime.units.session(tenant.engine) as session:
        queued = list((await session.execute(
            update(ExportJob).where(ExportJob.status == "QUEUED",
                                    func.coalesce(ExportJob.heartbeat_at, ExportJob.created_at) < stale)
            .values(heartbeat_at=func.now()).returning(ExportJob.id)  # heartbeat of a QUEUED job: last sent
        )).scalars())
        await session.execute(
            update(ExportJob).where(ExportJob.status == "RUNNING", ExportJob.heartbeat_at < stale,
                                    ExportJob.attempts >= MAX_ATTEMPTS)
            .values(status="FAILED", finished_at=func.now(), error="gave up: the export kept stopping half-way")
        )
        stuck = list((await session.execute(
            select(ExportJob.id).where(ExportJob.status == "RUNNING", ExportJob.heartbeat_at < stale)
        )).scalars())
    for job_id in [*queued, *stuck]:
        await runtime.send_job("exports.run", {"slug": slug, "export_id": str(job_id)})
    if queued or stuck:
        log.info("exports of %s: re-sent %d queued and %d stuck job(s)", slug, len(queued), len(stuck))
    return len(queued) + len(stuck)


async def operator_export(runtime: Runtime, slug: str, on_progress: Callable[[float], None]) -> ExportJob | None:
    """`main.py export workspace --slug S`: the same job as `requestWorkspaceExport`, run in this process."""
    tenant = await runtime.directory.get(slug)
    if tenant is None:
        raise NotFound(f"no workspace {slug!r}")
    async with runtime.units.session(tenant.engine) as session:
        job = await new_operator_job(session)
    return await run(runtime, slug, job.id, on_progress=on_progress)


def file_path(runtime: Runtime, job: ExportJob) -> Path | None:
    return FileStore(runtime.export_dir).path(job.file_key) if job.file_key else None
