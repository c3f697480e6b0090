"""`main.py serve --workers 2`: two worker processes behind one socket come up, stay up and answer, sharing the
databases and Redis of this test run (a login made through them works against either)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from tests import processes
from tests.factories.workspaces import PASSWORD, WorkspaceFactory

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serving_workers(parent: psutil.Process) -> list[int]:
    """The supervisor's live worker processes (not multiprocessing's resource tracker, its other child)."""
    alive = [c for c in parent.children() if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    return sorted(c.pid for c in alive if "spawn_main" in " ".join(c.cmdline()))


async def test_two_workers_come_up_and_stay_up(workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="crm-serve-workers-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    workers: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                assert process.poll() is None, Path(log.name).read_text()[-3000:]
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, Path(log.name).read_text()[-3000:]
                await asyncio.sleep(0.2)
            parent = psutil.Process(process.pid)
            # Both workers answer pings once started: none is killed and replaced after the first answer.
            while len(workers := _serving_workers(parent)) != 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert len(workers) == 2, workers
            login = "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}"
            answers = []
            for _ in range(6):  # new connections: the kernel spreads them over both workers' accept queues
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as fresh:
                    r = await fresh.post("/graphql", json={"query": login, "variables": {
                        "w": ws.slug, "e": ws.admin_email, "p": PASSWORD}})
                    answers.append(r.json())
            assert all(a.get("data", {}).get("login", {}).get("token") for a in answers), answers
            await asyncio.sleep(2)
            assert _serving_workers(parent) == workers
    finally:
        processes.stop(process)
        log.close()
        os.unlink(log.name)
    assert not [pid for pid in workers if psutil.pid_exists(pid)]  # no server left running
