"""Blocking work leaves the event loop: argon2 (hashing and verifying) and the Dramatiq enqueue run in worker
threads, so one login does not stall every other request; a page of records is projected (decrypted, masked,
audited) a slice of rows at a time, the loop free in between. bench/abuse.py measures the loop lag itself."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from resolvers import projection
from resolvers.identity import credentials
from resolvers.runtime import Runtime
from tests.factories.workspaces import PASSWORD, GraphQLClient, WorkspaceFactory

LOGIN = "mutation($w:String!,$e:String!,$p:String!){ login(workspace:$w,email:$e,password:$p){ token } }"


def recording(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[int]:
    """Replace owner.name by a wrapper that records the thread each call ran in."""
    threads: list[int] = []
    original: Callable[..., object] = getattr(owner, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return threads


async def test_twenty_concurrent_logins_verify_passwords_off_the_loop(
    gql: GraphQLClient, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    hashed = recording(monkeypatch, credentials, "hash_password")
    users = [await ws.user(f"clerk{i}", ["support"]) for i in range(4)]
    verified = recording(monkeypatch, credentials, "verify_password")
    loop_thread = threading.get_ident()
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:  # the probe: how late each 5 ms tick wakes (reported, not asserted)
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            ticks.append(time.perf_counter() - start - 0.005)

    probe = asyncio.create_task(ticker())
    answers = await asyncio.gather(
        *(gql.raw(LOGIN, {"w": ws.slug, "e": users[i % 4]["email"], "p": PASSWORD}) for i in range(20))
    )
    done.set()
    await probe
    assert all(a["data"]["login"]["token"] for a in answers), answers
    assert len(verified) == 20 and loop_thread not in verified
    assert len(hashed) == 4 and loop_thread not in hashed
    print(f"loop lag during 20 logins: max {max(ticks) * 1000:.1f} ms over {len(ticks)} ticks")


async def test_jobs_are_enqueued_off_the_loop(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    original = runtime.job_sender
    assert original is not None
    sent: list[tuple[str, int]] = []

    def sender(actor_name: str, kwargs: dict[str, str]) -> None:
        sent.append((actor_name, threading.get_ident()))
        original(actor_name, kwargs)

    monkeypatch.setattr(runtime, "job_sender", sender)
    data = await gql.ok("mutation{ requestWorkspaceExport { id status } }", token=ws.admin_token)
    assert data["requestWorkspaceExport"]["status"] == "QUEUED"
    # The sealer (`audit.seal`) is asked for after audited commits too, off the loop as well.
    assert [name for name, _ in sent if name != "audit.seal"] == ["exports.run"]
    assert threading.get_ident() not in {thread for _, thread in sent}


async def test_a_page_is_projected_in_slices_with_the_loop_free_in_between(
    gql: GraphQLClient, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    for i in range(2 * projection.SLICE_ROWS + 5):
        await ws.contact(firstName=f"Given{i}", lastName="Chan", hkid="A123456(3)", salary=30000 + i)
    turns = 0
    done = asyncio.Event()

    async def other_request() -> None:  # stands for every other request the loop serves meanwhile
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    calls: list[tuple[int, int]] = []  # (rows projected, turns of the other task so far)
    original = projection.project

    def recording_project(**kwargs: object) -> list[projection.Record]:
        rows = kwargs["rows"]
        assert isinstance(rows, list | tuple)
        calls.append((len(rows), turns))
        return original(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(projection, "project", recording_project)
    other = asyncio.create_task(other_request())
    # A fragment keeps this on Strawberry's executor (the compiled read path slices its rows the same way).
    data = await gql.ok(
        "{ contacts(first: 200) { edges { node { ...F } } } } fragment F on Contact { id firstName hkid salary }",
        token=ws.admin_token,
    )
    done.set()
    await other
    nodes = [e["node"] for e in data["contacts"]["edges"]]
    assert len(nodes) == 2 * projection.SLICE_ROWS + 5
    assert {n["hkid"] for n in nodes} == {"A123456(3)"} and len({n["salary"] for n in nodes}) == len(nodes)
    assert [rows for rows, _ in calls] == [projection.SLICE_ROWS, projection.SLICE_ROWS, 5]
    seen = [at for _, at in calls]
    assert seen[0] < seen[1] < seen[2], calls  # the other task ran between two slices
