"""Running an import job (the `imports.run` actor): claim it, read the file in batches, apply every row, keep the
counts, the per-row report and a checkpoint in `import_jobs` / `import_rows`, then write the CSV report.

* A real run commits each batch of rows with its report rows, counts and checkpoint as one unit of work
  (`runtime.units`; nothing here commits itself): a worker killed midway
  leaves a consistent prefix, and the next delivery of the message (or a takeover after `STALE_SECONDS`)
  resumes after the checkpoint. It is a pipeline (`_pipeline`): batch N+1 is read and decided on a connection
  of its own (`Units.reads`), its decisions and sealing in a worker thread, while batch N is stored and
  committed; batch N+1 starts from what batch N wrote (`rows.Earlier`: the database may not show it yet), and
  is decided again once N has committed if N had to be redone one row at a time.
* A dry run applies every row the same way inside ONE transaction that is rolled back at the end, so a later
  row sees what an earlier one would have created (duplicates inside the file) exactly as the real run will;
  its report rows and counts are written on a second connection. Nothing else of it is written: no contact,
  no history, no audit row but the job's own, no webhook event.

Memory stays flat: the file is streamed, `Runtime.import_batch_rows` rows are held at a time, three batches at
most (one being stored, one decided, the one after it read and validated in a worker thread: `_Ahead`;
resolvers/imports/rows.py applies each batch with a few set-based statements), and the report is streamed
from the database to the file store.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import uuid
from collections.abc import Awaitable, Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from sqlalchemy import Table, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import bulk
from db.audit import AuditActor, AuditBuffer
from db.files import FileStore
from db.models import ImportJob, ImportRow, ImportUpload
from db.tenancy import Tenant
from db.units import ReadLane
from resolvers import offload
from resolvers.errors import DomainError
from resolvers.exports.context import ExportRefused
from resolvers.exports.jobs import requester
from resolvers.ids import global_id
from resolvers.imports import mapping, rows
from resolvers.imports.source import Source
from resolvers.runtime import Caller, Runtime

# A running job's heartbeat moves on with every batch (well under a second each): a job silent this long has lost
# its worker (killed), and the next delivery of its message takes it over.
STALE_SECONDS = 30.0
REPORT_COLUMNS = ("row", "action", "contactId", "field", "reason")


class JobLost(Exception):
    """Another worker took the job over (its attempt number moved on)."""


class JobBusy(Exception):
    """The job is RUNNING with a fresh heartbeat: raised so that the message is retried (Dramatiq's backoff) until
    the job has finished or its heartbeat is `STALE_SECONDS` old (its worker was killed), then taken over."""


def report_key(store: FileStore, slug: str, job_id: uuid.UUID) -> str:
    return store.key(slug, "imports", f"{job_id.hex}.report.csv")


def _actor(job: ImportJob) -> AuditActor:
    return AuditActor(job.requested_by, job.requested_by_kind, request_id=f"import:{job.id.hex}")


async def _claim(runtime: Runtime, tenant: Tenant, job_id: uuid.UUID) -> ImportJob | None:
    now = runtime.now()
    stale = now - timedelta(seconds=STALE_SECONDS)
    async with runtime.units.session(tenant.engine) as session:
        job = (
            await session.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id, or_(ImportJob.status == "QUEUED",
                                                   (ImportJob.status == "RUNNING") & (ImportJob.heartbeat_at < stale)))
                .values(status="RUNNING", attempts=ImportJob.attempts + 1, heartbeat_at=now,
                        started_at=func.coalesce(ImportJob.started_at, now))
                .returning(ImportJob)
            )
        ).scalar_one_or_none()
        if job is not None and job.dry_run:  # a dry run starts over: its rows were rolled back
            await session.execute(delete(ImportRow).where(ImportRow.job_id == job_id))
            await session.execute(update(ImportJob).where(ImportJob.id == job_id).values(
                rows_done=0, created=0, updated=0, skipped=0, failed=0, progress=0.0))
            job.rows_done = job.created = job.updated = job.skipped = job.failed = 0
    return job


async def _record(session: AsyncSession, runtime: Runtime, job: ImportJob, outcomes: list[rows.Outcome],
                  progress: float) -> None:
    """Report rows, counts and the checkpoint, fenced on the job's attempt."""
    if not outcomes:
        return
    await bulk.copy_many(session, cast(Table, ImportRow.__table__), [
        {"job_id": job.id, "row": o.row, "action": o.action, "contact_id": o.contact_id, "field": o.field,
         "reason": o.reason} for o in outcomes
    ])
    counts = {a: sum(1 for o in outcomes if o.action == a) for a in ("created", "updated", "skipped", "failed")}
    done = await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job.id, ImportJob.attempts == job.attempts, ImportJob.status == "RUNNING")
        .values(rows_done=outcomes[-1].row, progress=min(progress, 0.99), heartbeat_at=runtime.now(),
                **{a: getattr(ImportJob, a) + n for a, n in counts.items()})
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise JobLost(str(job.id))


def _batches(source: Source, after: int, size: int) -> Generator[list[rows.Raw], None, None]:
    batch: list[rows.Raw] = []
    for number, raw in source.rows():
        if number <= after:
            continue
        batch.append((number, raw))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Ahead:
    """The file's batches, each parsed and validated (`rows.parse_batch`) in a worker thread while the job applies
    the previous one: reading and validating the next batch overlaps the database's work on the current one. A
    batch is parsed against the latest `rules` the job has set; `rows.apply_batch` parses it again if the rules it
    applies it with differ. At most two batches are held."""

    def __init__(self, source: Source, after: int, size: int, rules: rows.Rules) -> None:
        self.rules = rules
        self._source = source
        self._batches = _batches(source, after, size)
        self._pending: asyncio.Future[rows.Parsed | None] | None = None

    def _read(self) -> rows.Parsed | None:
        batch = next(self._batches, None)
        return None if batch is None else rows.parse_batch(self.rules, batch, self._source.progress)

    async def next(self) -> rows.Parsed | None:
        current = await (self._pending or offload.cpu(self._read))
        self._pending = None if current is None else asyncio.ensure_future(offload.cpu(self._read))
        return current

    async def close(self) -> None:
        if self._pending is not None:  # the job stopped early: let the thread finish, then close the file
            with contextlib.suppress(Exception):
                await self._pending
        self._batches.close()


@dataclass
class _Next:
    """A batch decided ahead, with the requester and plan it was decided for."""

    caller: Caller
    plan: mapping.Plan
    decided: rows.Decided


async def _decide(runtime: Runtime, tenant: Tenant, job: ImportJob, lane: ReadLane, ahead: _Ahead,
                  parsed: rows.Parsed, earlier: rows.Earlier) -> _Next:
    """A batch decided on a connection of its own (the requester as they are now, then its reads), so that it runs
    while the previous batch is stored: `earlier` is what that batch wrote."""
    async with lane.read() as session:
        caller = await requester(session, runtime, tenant, job, AuditBuffer(_actor(job)))
        plan = mapping.plan(caller, job.mapping, job.dedupe_by)
        ahead.rules = rows.Rules(caller.access.table.registry, plan, tenant.cipher)
        return _Next(caller, plan, await rows.decide(session, caller, plan, parsed, earlier))


async def _store(runtime: Runtime, tenant: Tenant, job: ImportJob, batch: _Next) -> bool:
    """One unit of work: the batch's writes, its report rows, counts and checkpoint, its audit events; whether it
    was redone one row at a time (`rows.store`)."""
    async with runtime.units.workspace(tenant.engine, batch.caller.audit) as unit:
        outcomes, redone = await rows.store(unit.session, batch.caller, batch.plan, batch.decided)
        await _record(unit.session, runtime, job, outcomes, batch.decided.parsed.progress)
        # sent once the batch commits: one webhook delivery message per webhook and batch
        unit.jobs.extend({(a, tuple(sorted(k.items()))): (a, k) for a, k in batch.caller.jobs}.values())
    return redone


async def _real_run(runtime: Runtime, tenant: Tenant, job: ImportJob, source: Source) -> None:
    """Batch N+1 is parsed, decided and sealed while batch N is stored: the job's Python and the database's work
    overlap. At most one batch is being stored, one decided and one parsed; batch N+1 starts from what batch N
    wrote (`rows.Earlier`), and is decided again, after N commits, if N was redone one row at a time."""
    async with runtime.units.read(tenant) as session:  # the rules the first batch is parsed with
        first = await requester(session, runtime, tenant, job, AuditBuffer(_actor(job)))
        rules = rows.Rules(first.access.table.registry, mapping.plan(first, job.mapping, job.dedupe_by), tenant.cipher)
    ahead = _Ahead(source, job.rows_done, runtime.import_batch_rows, rules)
    try:
        async with runtime.units.reads(tenant) as lane:
            await _pipeline(runtime, tenant, job, lane, ahead)
    finally:
        await ahead.close()


async def _pipeline(runtime: Runtime, tenant: Tenant, job: ImportJob, lane: ReadLane, ahead: _Ahead) -> None:
    def decide(parsed: rows.Parsed, earlier: rows.Earlier) -> Awaitable[_Next]:
        return _decide(runtime, tenant, job, lane, ahead, parsed, earlier)

    parsed = await ahead.next()
    current = None if parsed is None else await decide(parsed, rows.NOTHING_EARLIER)
    while current is not None:
        storing = asyncio.ensure_future(_store(runtime, tenant, job, current))
        try:
            upcoming = None if (parsed := await ahead.next()) is None else await decide(parsed, current.decided.earlier)
        except Exception:
            await storing  # batch N ends (commits) first, as it did before batch N+1 was looked at
            raise
        except BaseException:  # cancelled: so is the batch being stored (rolled back), as an awaited one would be
            storing.cancel()
            await asyncio.gather(storing, return_exceptions=True)
            raise
        if await storing and upcoming is not None:  # redone: batch N+1 was decided from writes not made
            upcoming = await decide(upcoming.decided.parsed, rows.NOTHING_EARLIER)
        current = upcoming


async def _dry_run(runtime: Runtime, tenant: Tenant, job: ImportJob, source: Source) -> None:
    async with runtime.units.read(tenant) as session:  # everything the rows do is rolled back
        caller = await requester(session, runtime, tenant, job, AuditBuffer(_actor(job)))
        plan = mapping.plan(caller, job.mapping, job.dedupe_by)
        ahead = _Ahead(source, 0, runtime.import_batch_rows,
                       rows.Rules(caller.access.table.registry, plan, tenant.cipher))
        try:
            while (parsed := await ahead.next()) is not None:
                caller.audit, caller.jobs = AuditBuffer(_actor(job)), []  # what the real run would audit and send
                outcomes = await rows.apply_batch(session, caller, plan, parsed)
                async with runtime.units.session(tenant.engine) as side:  # the report rows and progress are kept
                    await _record(side, runtime, job, outcomes, parsed.progress)
        finally:
            await ahead.close()


async def _write_report(runtime: Runtime, tenant: Tenant, job: ImportJob) -> None:
    store = FileStore(runtime.export_dir)
    key = report_key(store, tenant.slug, job.id)
    temp = store.temp_path(key, "report")
    async with runtime.units.read(tenant) as session:
        result = await session.stream(
            select(ImportRow.row, ImportRow.action, ImportRow.contact_id, ImportRow.field, ImportRow.reason)
            .where(ImportRow.job_id == job.id).order_by(ImportRow.row).execution_options(yield_per=2000)
        )
        with open(temp, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(REPORT_COLUMNS)
            async for chunk in result.partitions():
                writer.writerows(
                    (r.row, r.action, "" if r.contact_id is None or (job.dry_run and r.action == "created")
                     else global_id("Contact", r.contact_id), r.field or "", r.reason or "")
                    for r in chunk
                )
    await asyncio.to_thread(store.publish, temp, key)


async def _finish(runtime: Runtime, tenant: Tenant, job: ImportJob, status: str, error: str | None) -> None:
    audit = AuditBuffer(_actor(job))
    async with runtime.units.workspace(tenant.engine, audit) as unit:
        finished = (
            await unit.session.execute(
                update(ImportJob)
                .where(ImportJob.id == job.id, ImportJob.attempts == job.attempts)
                .values(status=status, error=error, progress=1.0 if status == "SUCCEEDED" else ImportJob.progress,
                        finished_at=runtime.now(), heartbeat_at=runtime.now())
                .returning(ImportJob)
            )
        ).scalar_one_or_none()
        if finished is None:
            raise JobLost(str(job.id))
        audit.event("CREATE", entity_type="import", entity_id=str(job.id), details={
            "phase": "finished", "status": status, "dryRun": job.dry_run, "created": finished.created,
            "updated": finished.updated, "skipped": finished.skipped, "failed": finished.failed})


async def run(runtime: Runtime, slug: str, job_id: uuid.UUID) -> None:
    tenant = await runtime.directory.get(slug)
    if tenant is None:
        return
    job = await _claim(runtime, tenant, job_id)
    if job is None:
        async with runtime.units.read(tenant) as session:
            status = await session.scalar(select(ImportJob.status).where(ImportJob.id == job_id))
        if status == "RUNNING":  # elsewhere, or on a worker that was killed: try again later
            raise JobBusy(str(job_id))
        return  # done already (or no such job)
    async with runtime.units.read(tenant) as session:
        upload = await session.get(ImportUpload, job.upload_id)
    try:
        if upload is None:
            raise ExportRefused("the uploaded file is gone")
        source = Source(FileStore(runtime.export_dir).path(upload.file_key), upload.filename)
        await (_dry_run if job.dry_run else _real_run)(runtime, tenant, job, source)
        await _write_report(runtime, tenant, job)
    except (DomainError, ExportRefused) as exc:  # the file or the requester's rights: no retry helps
        await _finish(runtime, tenant, job, "FAILED", str(exc)[:1000])
        return
    await _finish(runtime, tenant, job, "SUCCEEDED", None)
