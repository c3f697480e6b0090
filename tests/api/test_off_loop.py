"""Blocking work leaves the event loop: argon2 (hashing and verifying) and the Dramatiq enqueue run in worker
threads, so one login does not stall every other request; a page of records is projected (decrypted, masked,
audited) a slice of rows at a time, the loop free in between. bench/abuse.py measures the loop lag itself."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from resolvers import offload, projection, turns
from resolvers.identity import credentials
from resolvers.runtime import Runtime
from tests.audit.helpers import execute
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


async def test_password_changes_hash_in_the_cpu_pool_at_a_lower_priority_than_the_loop(
    gql: GraphQLClient, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await workspaces.create()
    user = await ws.user("clerk", ["support"])
    seen: list[tuple[str, int, int]] = []  # (call, thread, its nice value)

    def recording(name: str) -> Callable[..., object]:
        original: Callable[..., object] = getattr(credentials, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            tid = threading.get_native_id()
            seen.append((name, threading.get_ident(), os.getpriority(os.PRIO_PROCESS, tid)))
            return original(*args, **kwargs)

        return wrapper

    for name in ("verify_password", "hash_password"):
        monkeypatch.setattr(credentials, name, recording(name))
    data = await gql.ok(
        "mutation($c:String!,$n:String!){ changePassword(currentPassword:$c, newPassword:$n) }",
        {"c": PASSWORD, "n": "another password 2026"},
        token=user["token"],
    )
    assert data["changePassword"] is True
    assert [name for name, _, _ in seen] == ["verify_password", "hash_password"]
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for _, thread, nice in seen:
        assert thread != threading.get_ident()
        assert nice == min(loop_nice + offload.CPU_NICE, 19), seen  # the loop's thread preempts the hash


async def test_a_list_of_objects_is_completed_in_turns_with_the_same_answer(
    gql: GraphQLClient, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    contact = await ws.contact(firstName="Siu Ming", lastName="Chan", hkid="A123456(3)", salary=30000)
    for i in range(30):
        await gql.ok(
            "mutation($i:ActivityInput!){ createActivity(input:$i){ id } }",
            {"i": {"contactId": contact, "kind": "NOTE", "subject": f"call {i}"}},
            ws.admin_token,
        )
    query = "{ activities(first: 50) { edges { node { id subject contact { id firstName hkid salary } } } } }"
    loop_turns = turns.current()
    loop_turns.slice_s = 10.0  # every object completed at once: the reference answer
    before = loop_turns.ticks
    reference = await gql.raw(query, token=ws.admin_token)
    assert loop_turns.ticks == before
    other = 0
    done = asyncio.Event()

    async def other_request() -> None:  # stands for every other request the loop serves meanwhile
        nonlocal other
        while not done.is_set():
            other += 1
            await asyncio.sleep(0)

    loop_turns.slice_s = 0.0  # every object waits for a turn of its own
    task = asyncio.create_task(other_request())
    try:
        answer = await gql.raw(query, token=ws.admin_token)
    finally:
        loop_turns.slice_s = turns.SLICE_S
        done.set()
        await task
    assert answer == reference and "errors" not in answer, answer
    assert len(answer["data"]["activities"]["edges"]) == 30
    # 30 activities and 30 contacts, each completed in its own turn, the other task running in between.
    assert loop_turns.ticks - before >= 60 and other >= 60, (loop_turns.ticks - before, other)


async def test_turns_run_queued_steps_in_order_a_slice_at_a_time() -> None:
    loop_turns = turns.Turns(asyncio.get_running_loop(), slice_s=0.004)
    ran: list[int] = []

    def step(i: int) -> int:
        end = time.perf_counter() + 0.002
        while time.perf_counter() < end:  # 2 ms of CPU
            pass
        ran.append(i)
        if i == 3:
            raise ValueError("step 3 fails")
        return i * 10

    futures = [loop_turns.later(lambda i=i: step(i)) for i in range(12)]
    futures[5].cancel()  # a cancelled request's step is skipped
    assert not loop_turns.may_run_now()  # steps are queued: a new one waits its turn
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert ran == [i for i in range(12) if i != 5]
    assert isinstance(results[3], ValueError) and isinstance(results[5], asyncio.CancelledError)
    assert [r for i, r in enumerate(results) if i not in (3, 5)] == [i * 10 for i in range(12) if i not in (3, 5)]
    assert loop_turns.ticks >= 11 // 3  # at most 3 steps of 2 ms fit in a 4 ms slice


async def test_passwords_hash_with_one_lane_and_older_hashes_are_replaced_at_login(
    gql: GraphQLClient, runtime: Runtime, workspaces: WorkspaceFactory
) -> None:
    ws = await workspaces.create()
    user = await ws.user("clerk", ["support"])

    async def stored_hash() -> str:
        return str((await execute(runtime, ws.slug, "select password_hash from users where email = :e",
                                  {"e": user["email"]})).scalar_one())

    assert (await stored_hash()).startswith("$argon2id$v=19$m=65536,t=3,p=1$")  # one native thread per hash
    four_lanes = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)  # the former form
    await execute(runtime, ws.slug, "update users set password_hash = :h where email = :e",
                  {"h": four_lanes, "e": user["email"]})
    wrong = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": "not the password"})
    assert wrong["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await stored_hash() == four_lanes  # a failed attempt changes nothing
    answer = await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": PASSWORD})
    assert answer["data"]["login"]["token"], answer
    replaced = await stored_hash()
    assert replaced.startswith("$argon2id$v=19$m=65536,t=3,p=1$") and credentials.verify_password(replaced, PASSWORD)
    assert (await gql.raw(LOGIN, {"w": ws.slug, "e": user["email"], "p": PASSWORD}))["data"]["login"]["token"]
