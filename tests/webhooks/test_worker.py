"""At least once: a worker process killed with SIGKILL in the middle of a delivery (the receiver has the request,
the worker has not recorded it) loses nothing; another worker delivers the event again, with the same id.

Real processes: `python main.py worker` on this run's settings (same databases, same Redis), a receiver on
loopback that holds the first request open until the worker is dead.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from resolvers.runtime import Runtime
from tests import processes
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.webhooks.helpers import Receiver, create_webhook, deliveries, receiver, webhook_options

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
# A dead worker's message comes back after the broker's heartbeat timeout (20 s), or with the next sweep (60 s).
REDELIVERY_TIMEOUT = 180.0

pytestmark = pytest.mark.slow


@contextmanager
def worker_process() -> Iterator[subprocess.Popen[bytes]]:
    log = tempfile.NamedTemporaryFile(prefix="crm-worker-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "CRM_WEBHOOK_ALLOW_PRIVATE": "1"}
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "worker"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while b"worker: running" not in Path(log.name).read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker did not start: {Path(log.name).read_text()[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        processes.stop(process)
        log.close()
        os.unlink(log.name)


async def wait_for_requests(rx: Receiver, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(rx.requests) < count:
        assert time.monotonic() < deadline, f"{len(rx.requests)} request(s) received, {count} expected"
        await asyncio.sleep(0.2)


async def test_a_worker_killed_mid_delivery_still_delivers_the_event(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    hold = threading.Event()
    with receiver(hold=hold) as rx:
        with webhook_options(runtime, allow_private=True):
            hook = await create_webhook(gql, ws, rx.url, ["contact.created"])
        with worker_process() as first:
            await ws.contact(firstName="Cheung")
            await wait_for_requests(rx, 1, START_TIMEOUT)
            os.killpg(first.pid, signal.SIGKILL)  # the request is open at the receiver: mid-delivery
            first.wait(timeout=20)
        hold.set()
        [pending] = await deliveries(gql, ws, hook["webhook"]["id"])
        assert (pending["status"], pending["attempts"]) == ("PENDING", 0)  # the killed attempt recorded nothing
        with worker_process():
            await wait_for_requests(rx, 2, REDELIVERY_TIMEOUT)
            for _ in range(50):  # the second worker commits the attempt just after the receiver answers
                [done] = await deliveries(gql, ws, hook["webhook"]["id"])
                if done["status"] != "PENDING":
                    break
                await asyncio.sleep(0.2)
    first_id, second_id = (json.loads(r.body)["id"] for r in rx.requests[:2])
    assert first_id == second_id == done["eventId"]
    assert (done["status"], done["attempts"], done["responseCode"]) == ("SUCCEEDED", 1, 200)
