"""Export benchmarks, one run: a workspace export of 100k contacts + 1M activities made by the CLI in a process
of its own (wall time, rows/s, that process's peak RSS), and a contact export with 10k activities (in-process).

BENCH_EXPORT_CONTACTS / BENCH_EXPORT_ACTIVITIES scale the workspace down when the machine is small.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid

import psutil
from harness import ROOT, bench_app, bulk_activities, bulk_contacts, copy_activities
from sqlalchemy import select

from cli import heap
from db.models import Contact, ExportJob
from db.sessions import session_factory
from resolvers.exports import runner as export_runner
from schema.ids import from_global, to_global

CONTACTS = int(os.environ.get("BENCH_EXPORT_CONTACTS", 100_000))
ACTIVITIES = int(os.environ.get("BENCH_EXPORT_ACTIVITIES", 1_000_000))
CONTACT_ACTIVITIES = 10_000
RSS_TARGET_MB = 250
CONTACT_TARGET_S = 2.0


def run_cli(slug: str) -> tuple[float, float, str]:
    """Seconds, peak RSS (MB) of the export process, and its output."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "main.py", "export", "workspace", "--slug", slug], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    out = proc.stdout.read().decode() if proc.stdout else ""
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"the export failed ({proc.returncode}): {out}")
    peak_mb = max(peak / 2**20, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return elapsed, peak_mb, out


async def main() -> None:
    async with bench_app() as b:
        tenant, admin = await b.workspace()
        b.runtime.job_sender = lambda *_: None  # no worker here: jobs are run in-process below
        start = time.perf_counter()
        await bulk_contacts(tenant, CONTACTS)
        await copy_activities(tenant, ACTIVITIES)
        print(f"setup: {CONTACTS:,} contacts + {ACTIVITIES:,} activities in {time.perf_counter() - start:.0f} s",
              flush=True)

        elapsed, peak_mb, out = run_cli(tenant.slug)
        async with session_factory(tenant.engine)() as session:
            job = await session.scalar(select(ExportJob).order_by(ExportJob.created_at.desc()).limit(1))
        assert job is not None and job.status == "SUCCEEDED", out
        rows = int(job.record_count or 0)
        print(f"workspace export (CLI process): {CONTACTS:,} contacts + {ACTIVITIES:,} activities, {rows:,} rows "
              f"in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s; peak RSS {peak_mb:.0f} MB "
              f"(target < {RSS_TARGET_MB} MB: {'ok' if peak_mb < RSS_TARGET_MB else 'MISSED'}); "
              f"ZIP {int(job.size_bytes or 0) / 2**20:.0f} MB", flush=True)

        async with session_factory(tenant.engine)() as session:
            contact_id: uuid.UUID = await session.scalar(select(Contact.id).order_by(Contact.created_at).limit(1))
        await bulk_activities(tenant, contact_id, CONTACT_ACTIVITIES)
        # The job runs here, in the benchmark's process; a worker process settles its heap once it is built
        # (`cli.server.worker`: the start-up objects frozen out of full collections), so this one does too. Without
        # it, collections walking the benchmark's own objects took about a fifth of each copy's time.
        heap.settle()
        samples, records = [], 0
        for _ in range(3):
            body = await b.gql("mutation($c:ID!){requestContactExport(contactId:$c){id}}",
                               {"c": to_global("Contact", contact_id)}, admin)
            job_id = from_global(body["data"]["requestContactExport"]["id"])[1]
            start = time.perf_counter()
            done = await export_runner.run(b.runtime, tenant.slug, job_id)
            samples.append(time.perf_counter() - start)
            assert done is not None and done.status == "SUCCEEDED", done
            records = int(done.record_count or 0)
        median = statistics.median(samples)
        verdict = "ok" if median < CONTACT_TARGET_S else "MISSED"
        print(f"contact export: 1 contact with {CONTACT_ACTIVITIES:,}+ activities, {records:,} records, median "
              f"{median:.2f} s of 3 (target < {CONTACT_TARGET_S:.0f} s: {verdict})", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
