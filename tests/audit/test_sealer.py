"""The sealer end to end: requests over HTTP leave unsealed batches and ask for `audit.seal`; the actor (as a worker
runs it) links them; `auditChain` and `audit verify` report both sides; an edited unsealed row is caught."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import httpx
import pytest

from resolvers.runtime import Runtime
from tests.audit.helpers import CONTACT_SELECTION, execute, ok
from tests.audit.test_cli import cli
from tests.factories.workspaces import WorkspaceFactory
from workers import audit as audit_actors
from workers.broker import WorkerRuntime
from workers.scheduler import SCHEDULE

CHAIN = "query{auditChain{ok checkedBatches firstBrokenSeq reason unsealedBatches}}"
LIST = f"query{{contacts(first:20){{edges{{node{{{CONTACT_SELECTION}}}}}}}}}"


def actor(runtime: Runtime, name: str) -> Callable[..., object]:
    """One audit actor as a worker process registers it, on this test's runtime."""

    async def same_runtime() -> Runtime:
        return runtime

    return audit_actors.actors(WorkerRuntime(same_runtime))[name]  # type: ignore[return-value]


async def unsealed_count(runtime: Runtime, slug: str) -> int:
    result = await execute(runtime, slug, "SELECT count(*) FROM audit_batches WHERE chain_position IS NULL")
    return int(result.scalar_one())


async def test_requests_leave_unsealed_batches_that_the_actor_seals(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "job_sender", None)  # no worker in this test: the actor is run by hand below
    ws = await workspaces.create()
    for i in range(3):
        await ws.contact(firstName=f"Wong{i}", email=f"w{i}@example.com", hkid="A123456(3)")
    await ok(http, LIST, token=ws.admin_token)
    before = await unsealed_count(runtime, ws.slug)
    assert before >= 4  # three creations and the list read, at least (sign-in and set-up write more)

    report = (await ok(http, CHAIN, token=ws.admin_token))["auditChain"]
    assert report["ok"] is True and report["unsealedBatches"] >= before and report["firstBrokenSeq"] is None

    await actor(runtime, "audit.seal")(ws.slug)  # type: ignore[operator]
    await actor(runtime, "audit.seal")(ws.slug)  # type: ignore[operator]  (again: nothing to do)
    assert await unsealed_count(runtime, ws.slug) == 0
    report = (await ok(http, CHAIN, token=ws.admin_token))["auditChain"]
    # the previous auditChain request's own READ batch was sealed too; this one is flushed after verifying
    assert report == {"ok": True, "checkedBatches": report["checkedBatches"], "firstBrokenSeq": None,
                      "reason": None, "unsealedBatches": 0}

    code, out, err = await cli("audit", "verify", "--workspace", ws.slug)
    assert code == 0 and "ok" in out, (out, err)
    assert "not sealed yet" in out  # the last auditChain request's batch


async def test_an_edited_unsealed_row_fails_verify_and_auditchain(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "job_sender", None)
    ws = await workspaces.create()
    code, out, err = await cli("audit", "seal", "--workspace", ws.slug)
    assert code == 0 and f"workspace {ws.slug}: sealed" in out, (out, err)
    await ws.contact(firstName="Lee", email="lee@example.com")
    seq = (await execute(runtime, ws.slug, "SELECT max(seq) FROM audit_batches WHERE chain_position IS NULL"))
    victim = int(seq.scalar_one())
    await execute(runtime, ws.slug, "UPDATE audit_log SET fields = ARRAY['company'] WHERE batch_seq = :s",
                  {"s": victim})
    report = (await ok(http, CHAIN, token=ws.admin_token))["auditChain"]
    assert report["ok"] is False and report["firstBrokenSeq"] == victim
    assert report["reason"] == f"row edited or removed in unsealed batch {victim}"
    code, out, err = await cli("audit", "verify", "--workspace", ws.slug)
    assert code == 1 and f"unsealed batch {victim}" in out and "BROKEN" in out, (out, err)


async def test_an_audited_commit_asks_for_a_sealer_run_throttled_with_a_trailing_one(
    workspaces: WorkspaceFactory, http: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    await ws.contact(firstName="Ho", email="ho@example.com")  # so that each list read audits a READ
    sent: list[dict[str, str]] = []
    loop_thread = threading.get_ident()

    def sender(actor_name: str, kwargs: dict[str, str]) -> None:
        assert threading.get_ident() != loop_thread  # sent off the event loop, like every job
        if actor_name == "audit.seal" and kwargs == {"slug": ws.slug}:
            sent.append(kwargs)

    monkeypatch.setattr(runtime, "job_sender", sender)
    await asyncio.sleep(2.2)  # past the throttle window of the set-up's own requests and their trailing message
    sent.clear()
    for _ in range(5):
        await ok(http, LIST, token=ws.admin_token)
    await asyncio.sleep(0.1)
    assert len(sent) == 1  # at once for the first commit; the others wait for the window's end
    await asyncio.sleep(1.2)
    assert len(sent) == 2  # one trailing message covers the burst's last batches
    await asyncio.sleep(1.2)
    assert len(sent) == 2  # nothing more without new commits


def test_the_workers_sweep_every_workspace_periodically() -> None:
    periods = {p.actor_name: p.every_seconds for p in SCHEDULE}
    assert periods["audit.seal_all"] <= 60
    assert {"audit.seal", "audit.seal_all"} <= set(audit_actors.actors(None))  # type: ignore[arg-type]
