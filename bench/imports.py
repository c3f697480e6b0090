"""Import benchmark, one run: a 100k-row CSV (every row a new contact with name, e-mail, phone, company)
uploaded through `POST /imports` and imported for real by the job the `imports.run` actor runs, in this process:
rows/s and this process's peak RSS while the job runs (targets: >= 2,000 rows/s, < 250 MB).

It also prints the CPU time the job used, in this process and in the workspace database's server processes (when
PostgreSQL runs on this machine; a connection closed during the job counts through the postmaster's reaped
children): on a shared machine the wall time depends on the other work, the CPU time less.

BENCH_IMPORT_ROWS scales the file down when the machine is small.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import threading
import time
from collections.abc import Iterator

import phonenumbers
import psutil
from harness import bench_app
from sqlalchemy import text

from cli import heap
from db.tenancy import Tenant
from resolvers.imports import runner as import_runner
from schema.ids import from_global

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", 100_000))
RATE_TARGET = 2000
RSS_TARGET_MB = 250
PIDS = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")


def mobiles() -> Iterator[str]:
    for n in range(91_000_000, 99_999_999):
        number = f"+852{n}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            yield number


def csv_bytes(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["firstName", "lastName", "email", "phone", "company"])
    for i, phone in zip(range(rows), mobiles(), strict=False):
        writer.writerow([f"Tai Man {i}", "Chan", f"person{i}@import.example.com", phone, "Kowloon Trading"])
    return out.getvalue().encode()


class PeakRss:
    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.peak = max(self.peak, me.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def backend_cpu(tenant: Tenant) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL process serving the workspace's database (none if not local), and
    (key 0) of the server's processes that have exited (a connection the job opened and closed), as the postmaster
    has collected them."""
    async with tenant.engine.connect() as conn:
        pids = (await conn.execute(PIDS)).scalars()
        out = {}
        for pid in pids:
            try:
                process = psutil.Process(pid)
                times = process.cpu_times()
                postmaster = process.parent()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            out[pid] = times.user + times.system
            if postmaster is not None:
                with contextlib.suppress(psutil.Error):
                    reaped = postmaster.cpu_times()
                    out[0] = reaped.children_user + reaped.children_system
        return out


async def main() -> None:
    async with bench_app() as b:
        tenant, admin = await b.workspace()
        b.runtime.job_sender = lambda *_: None  # no worker here: the job runs in-process below
        data = csv_bytes(ROWS)
        response = await b.http.post("/imports", files={"file": ("contacts.csv", data, "text/csv")},
                                     headers={"Authorization": f"Bearer {admin}"})
        response.raise_for_status()
        body = await b.gql("mutation($u:ID!){startImport(uploadId:$u, dryRun:false, dedupeBy:[\"email\"]){id}}",
                           {"u": response.json()["uploadId"]}, admin)
        job_id = from_global(body["data"]["startImport"]["id"])[1]
        heap.settle()  # as `python main.py worker` does once it has started
        db_before = await backend_cpu(tenant)
        with PeakRss() as rss:
            start, cpu_start = time.perf_counter(), time.process_time()
            await import_runner.run(b.runtime, tenant.slug, job_id)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        db_after = await backend_cpu(tenant)
        db_cpu = sum(t - db_before.get(pid, 0.0) for pid, t in db_after.items())
        job = await b.gql("query($id:ID!){importJob(id:$id){status created failed}}",
                          {"id": body["data"]["startImport"]["id"]}, admin)
        print(f"import of {ROWS} rows ({len(data) / 2**20:.1f} MB CSV): {job['data']['importJob']}")
        print(f"  {elapsed:.1f} s, {ROWS / elapsed:,.0f} rows/s (target >= {RATE_TARGET:,}), "
              f"peak RSS {rss.peak / 2**20:.0f} MB (target < {RSS_TARGET_MB})")
        print(f"  CPU: {cpu:.1f} s in this process, {db_cpu:.1f} s in the database's server processes "
              f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    asyncio.run(main())
