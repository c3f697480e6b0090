"""A killed import worker loses nothing and imports nothing twice: `python main.py worker` is SIGKILLed in the middle
of an import (some batches committed, one in flight), another worker takes the job over once its heartbeat is
stale, and the job finishes with every row imported exactly once.

Real processes on this run's settings (same databases, same Redis), as tests/webhooks/test_worker.py does.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import time

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.imports.test_imports import START, upload
from tests.privacy.helpers import sql
from tests.webhooks.test_worker import START_TIMEOUT, worker_process

ROWS = 6000
BATCH_ROWS = 100  # the workers' CRM_IMPORT_BATCH_ROWS: many checkpoints, so the kill lands mid-import
# The message comes back after the broker's heartbeat timeout (20 s); the job is taken over once its own heartbeat
# is 30 s old (retries back off from 15 s), then the rest of the rows are imported.
FINISH_TIMEOUT = 300.0

pytestmark = pytest.mark.slow


async def job_state(runtime: Runtime, slug: str, job_id: object) -> tuple[str, int, int]:
    [(status, rows_done, attempts)] = await sql(
        runtime, slug, "SELECT status, rows_done, attempts FROM import_jobs WHERE id = :id", {"id": job_id})
    return status, rows_done, attempts


async def test_a_worker_killed_mid_import_leaves_every_row_imported_exactly_once(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = await workspaces.create()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["firstName", "lastName", "email", "company"])
    for i in range(ROWS):
        writer.writerow([f"Tai Man {i}", "Chan", f"person{i}@killed.example.com", "Kowloon Trading"])
    response = await upload(http, ws.admin_token, "contacts.csv", out.getvalue().encode())
    assert response.status_code == 201, response.text
    monkeypatch.setenv("CRM_IMPORT_BATCH_ROWS", str(BATCH_ROWS))  # read by the worker processes below

    with worker_process() as first:
        started = await gql.ok(START, {"u": response.json()["uploadId"], "d": False, "k": ["email"]}, ws.admin_token)
        job_id = from_global(started["startImport"]["id"])[1]
        deadline = time.monotonic() + START_TIMEOUT
        while (state := await job_state(runtime, ws.slug, job_id))[1] < 5 * BATCH_ROWS:
            assert state[0] in ("QUEUED", "RUNNING") and time.monotonic() < deadline, state
            await asyncio.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=20)
    status, killed_at, attempts = await job_state(runtime, ws.slug, job_id)
    assert (status, attempts) == ("RUNNING", 1) and 0 < killed_at < ROWS  # killed mid-import
    [(imported,)] = await sql(runtime, ws.slug, "SELECT count(*) FROM contacts WHERE email LIKE '%@killed.example.com'")
    assert imported == killed_at  # each batch committed whole with its checkpoint, the one in flight not at all

    with worker_process():
        deadline = time.monotonic() + FINISH_TIMEOUT
        while (state := await job_state(runtime, ws.slug, job_id))[0] != "SUCCEEDED":
            assert state[0] == "RUNNING" and time.monotonic() < deadline, state
            await asyncio.sleep(0.5)
    assert state == ("SUCCEEDED", ROWS, 2)  # taken over once, resumed after the last committed batch

    job = (await gql.ok("query($id:ID!){importJob(id:$id){created updated skipped failed}}",
                        {"id": started["startImport"]["id"]}, ws.admin_token))["importJob"]
    assert job == {"created": ROWS, "updated": 0, "skipped": 0, "failed": 0}
    [(contacts, emails)] = await sql(runtime, ws.slug, "SELECT count(*), count(DISTINCT lower(email)) FROM contacts "
                                                       "WHERE email LIKE '%@killed.example.com'")
    assert contacts == emails == ROWS  # every row once, no duplicates
    [(reported, rows, created)] = await sql(
        runtime, ws.slug, "SELECT count(*), count(DISTINCT row), count(*) FILTER (WHERE action = 'created') "
                          "FROM import_rows WHERE job_id = :id", {"id": job_id})
    assert reported == rows == created == ROWS
    [(history,)] = await sql(runtime, ws.slug, "SELECT count(*) FROM contact_history h JOIN contacts c "
                                               "ON c.id = h.contact_id WHERE h.field = 'email' "
                                               "AND c.email LIKE '%@killed.example.com'")
    assert history == ROWS  # the rolled-back batch left no history behind
