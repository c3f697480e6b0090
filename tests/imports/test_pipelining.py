"""A real import decides batch N+1 while batch N is being written (resolvers/imports/runner.py): with one row per
batch, every row that matches what the previous row did depends on what that batch left in memory, not on what
the database shows yet. The outcome must not depend on the batch size, and the dry run must report exactly
what the real run does; a batch whose writes the database refuses is redone one row at a time, and the batch
after it decided again from what was really written."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.imports.test_imports import run_import, total, upload
from tests.imports.test_records import history
from tests.privacy.helpers import hong_kong_mobile, sql

Report = list[dict[str, str]]


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["firstName", "email", "phone", "company"], *rows])
    return out.getvalue().encode()


def same_contacts(report: Report) -> list[int]:
    """Each row's contact as the index of the first row naming it (ids differ between workspaces)."""
    first: dict[str, int] = {}
    return [first.setdefault(r["contactId"], i) if r["contactId"] else -1 for i, r in enumerate(report)]


async def import_in_batches(http: httpx.AsyncClient, gql: GraphQLClient, runtime: Runtime, ws: Workspace,
                            data: bytes, monkeypatch: pytest.MonkeyPatch, batch_rows: int,
                            ) -> tuple[dict[str, Any], Report]:
    """The dry run, then the real run, with `batch_rows` rows a batch: the real run's job and report."""
    monkeypatch.setattr(runtime, "import_batch_rows", batch_rows)
    upload_id = (await upload(http, ws.admin_token, "chain.csv", data)).json()["uploadId"]
    _, dry = await run_import(http, gql, runtime, ws, upload_id, True, k=["email", "phone"])
    job, real = await run_import(http, gql, runtime, ws, upload_id, False, k=["email", "phone"])
    assert [(r["row"], r["action"], r["field"], r["reason"]) for r in dry] == \
        [(r["row"], r["action"], r["field"], r["reason"]) for r in real]
    return job, real


async def test_each_batch_sees_what_the_previous_one_wrote_before_it_commits(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_phone, new_phone, third_phone = hong_kong_mobile(), hong_kong_mobile(), hong_kong_mobile()
    rows = [
        ["Pat", "pat@chain.example.com", new_phone, ""],  # updates the stored Pat: phone old -> new
        ["Pat", "", new_phone, "Chain Co"],  # Pat by the phone the previous batch gave them
        ["Nia", "nia@chain.example.com", "", ""],  # created
        ["Nia", "NIA@chain.example.com", third_phone, ""],  # the contact the previous batch created
        ["Nia", "", third_phone, "Nia Co"],  # by the phone the previous batch gave a contact created before it
        ["Oli", "", old_phone, ""],  # nobody holds Pat's old phone any more: created
        ["Pat", "pat@chain.example.com", "", "Chain Co"],  # nothing changes
        ["Bad", "not-an-email", "", ""],  # invalid
    ]
    expected = ["updated", "updated", "created", "updated", "updated", "created", "updated", "failed"]
    results = []
    for batch_rows in (1, 2, 500):
        ws = await workspaces.create()
        pat = await ws.contact(firstName="Pat", email="pat@chain.example.com", phone=old_phone)
        job, real = await import_in_batches(http, gql, runtime, ws, csv_file(rows), monkeypatch, batch_rows)
        assert [r["action"] for r in real] == expected, batch_rows
        assert (job["created"], job["updated"], job["failed"]) == (2, 5, 1)
        assert [r["contactId"] for r in real[:2]] == [pat, pat] and real[6]["contactId"] == pat
        assert await total(gql, ws) == 3
        pat_history = [(f, o, n) for f, o, n, _ in await history(gql, ws, pat) if f != "owner"]  # each ws's admin
        nia_history = [(f, o, n) for f, o, n, _ in await history(gql, ws, real[2]["contactId"]) if f != "owner"]
        assert sorted((c for c in pat_history if c[0] in ("phone", "company")), key=repr) == sorted(
            [("phone", None, old_phone), ("phone", old_phone, new_phone), ("company", None, "Chain Co")], key=repr)
        results.append((same_contacts(real), pat_history, nia_history))
    assert results[0] == results[1] == results[2]


async def test_a_refused_batch_is_redone_row_by_row_and_the_next_batch_decided_again(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [
        ["Ann", "ann@refused.example.com", "", ""],
        ["Ben", "ben@refused.example.com", "", "Refused Co"],  # the database refuses it: the batch is redone
        ["Ben", "ben@refused.example.com", "", ""],  # so Ben was never created: this row creates him
        ["Ann", "ann@refused.example.com", "", "Ann Co"],  # Ann was: updated
    ]
    for batch_rows in (2, 500):
        ws = await workspaces.create()
        await sql(runtime, ws.slug, "ALTER TABLE contacts ADD CONSTRAINT test_refused "
                                    "CHECK (company IS DISTINCT FROM 'Refused Co')")
        job, real = await import_in_batches(http, gql, runtime, ws, csv_file(rows), monkeypatch, batch_rows)
        assert [r["action"] for r in real] == ["created", "failed", "created", "updated"], batch_rows
        assert real[1]["reason"] == "the database refused the row"
        assert real[3]["contactId"] == real[0]["contactId"] != real[2]["contactId"]
        assert (job["created"], job["updated"], job["failed"]) == (2, 1, 1)
        assert await total(gql, ws) == 2
