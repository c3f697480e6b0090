"""`main.py serve` runs its heavy-lane process (`cli.heavy_lane`): a heavy operation is answered by it, at a lower OS
priority; killed, it is started again while heavy operations keep being answered; `serve` stopped, it is gone."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

from cli.heavy_lane import HEAVY_LANE_NICE
from tests import processes
from tests.factories.workspaces import WorkspaceFactory

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0
T = TypeVar("T")
HEAVY = "{ contacts(first: 20) { edges { node { id firstName } } } }"  # cost 81


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _heavy_lanes(parent: psutil.Process) -> list[psutil.Process]:
    alive = [c for c in parent.children() if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    return [c for c in alive if "--heavy-lane-socket" in c.cmdline()]


async def _until(check: Callable[[], Awaitable[T | None]], seconds: float, log: str) -> T:
    """The first truthy answer of `check`, asked every 0.2 s for at most `seconds` (then `serve`'s log)."""
    deadline = time.monotonic() + seconds
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, Path(log).read_text()[-3000:]
        await asyncio.sleep(0.2)


async def test_serve_relays_heavy_operations_to_its_heavy_lane_process(workspaces: WorkspaceFactory) -> None:
    ws = await workspaces.create()
    await ws.contact(firstName="Lane", lastName="Wong")
    port = _free_port()
    log = tempfile.NamedTemporaryFile(prefix="crm-serve-heavy-", suffix=".log", delete=False)  # noqa: SIM115
    env = {**os.environ, "CRM_HEAVY_QUERY_COST": "80"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    parent = psutil.Process(process.pid)
    lanes_seen: list[int] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            auth = {"Authorization": f"Bearer {ws.admin_token}"}

            async def heavy() -> httpx.Response:
                r = await client.post("/graphql", json={"query": HEAVY}, headers=auth)
                assert r.status_code == 200 and r.json()["data"]["contacts"]["edges"], r.text  # always answered
                return r

            async def relayed() -> httpx.Response | None:
                try:
                    r = await heavy()
                except httpx.TransportError:  # serve is still starting
                    return None
                return r if r.headers.get("x-crm-lane") == "heavy-process" else None

            await _until(relayed, START_TIMEOUT, log.name)
            [lane] = _heavy_lanes(parent)
            lanes_seen.append(lane.pid)
            assert lane.nice() == HEAVY_LANE_NICE
            assert "x-crm-lane" not in (await client.post("/graphql", json={"query": "{ me { id } }"},
                                                          headers=auth)).headers

            lane.send_signal(signal.SIGKILL)  # crashed: heavy operations run in serve until it is back
            lane.wait(timeout=10)
            await heavy()

            async def restarted() -> list[psutil.Process]:
                return [p for p in _heavy_lanes(parent) if p.pid not in lanes_seen]

            [again] = await _until(restarted, START_TIMEOUT, log.name)
            lanes_seen.append(again.pid)
            await _until(relayed, START_TIMEOUT, log.name)
    finally:
        processes.stop(process, timeout=30)
        log.close()
        output = Path(log.name).read_text()
        os.unlink(log.name)
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]  # unwound (db.embedded), not killed
    for pid in lanes_seen:  # serve stopped its heavy lane on the way out
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
