"""The heavy-lane process of `serve` and `demo`: the same app, on a Unix socket, at a lower OS priority.

`HeavyLaneProcess` (in the `serve` process) makes a directory only this user can enter, starts
`main.py serve --heavy-lane-socket <dir>/graphql.sock` with the servers' endpoints in its environment,
starts it again (after a second) whenever it exits, and stops it with `serve`. The API processes relay every
heavy operation to it (`schema.heavy_relay`; the socket's path reaches `--workers` processes as
`CRM_HEAVY_LANE_SOCKET`), so the CPU those operations take is scheduled by the OS beside the API's loop rather
than inside it: at `HEAVY_LANE_NICE` the kernel runs an API process first whenever both want a core.

`serve_heavy_lane` is that process: uvicorn on the socket, trusting `X-Forwarded-For` (only this user's
processes can reach the socket, and the relay sets the header from the address it saw). It exits when the
process that started it is gone, so a killed `serve` leaves no heavy lane behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from cli import event_loop
from settings import EventLoop

log = logging.getLogger("crm.heavy_lane")
SOCKET_ENV = "CRM_HEAVY_LANE_SOCKET"
HEAVY_LANE_NICE = 10  # CFS weight 110 against the API's 1024: the API's loop preempts it at once
RESTART_AFTER_S = 1.0
STOP_WAIT_S = 20.0
PARENT_CHECK_S = 1.0
MAIN = Path(__file__).resolve().parents[1] / "main.py"


class HeavyLaneProcess:
    """The heavy-lane child of one `serve`: started on enter, restarted when it exits, stopped on exit."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.directory = tempfile.mkdtemp(prefix="crm-heavy-")  # mode 0700: only this user reaches the socket
        self.socket = os.path.join(self.directory, "graphql.sock")
        self.env = {**env, **_own_loop_lag_log(env)}
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor = threading.Thread(target=self._supervise, name="heavy-lane-supervisor", daemon=True)

    def __enter__(self) -> HeavyLaneProcess:
        self._supervisor.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.socket)  # a crashed child's socket file
                self._process = subprocess.Popen(
                    [sys.executable, str(MAIN), "serve", "--heavy-lane-socket", self.socket], env=self.env,
                    start_new_session=True,  # stopped by this process only (Ctrl-C reaches `serve`, which stops it)
                )
            code = self._process.wait()
            if self._stopping.is_set():
                return
            log.warning("the heavy-lane process exited (code %s); starting it again in %g s", code, RESTART_AFTER_S)
            self._stopping.wait(RESTART_AFTER_S)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor.is_alive():
            self._supervisor.join(timeout=STOP_WAIT_S)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def running(enabled: bool, env: Mapping[str, str]) -> Iterator[str | None]:
    """The heavy-lane process's socket while the block runs (None when `enabled` is false)."""
    if not enabled:
        yield None
        return
    with HeavyLaneProcess(env) as lane:
        yield lane.socket


def _own_loop_lag_log(env: Mapping[str, str]) -> dict[str, str]:
    """The loop-lag probe (benchmarks) of the heavy lane writes a file of its own: it is meant to be busy."""
    path = env.get("CRM_LOOP_LAG_LOG")
    return {"CRM_LOOP_LAG_LOG": f"{path}.heavy-lane"} if path else {}


def _exit_with_parent() -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.warning("the serve process that started this heavy lane is gone: stopping")
    os.kill(os.getpid(), signal.SIGTERM)


def serve_heavy_lane(app: ASGIApp, socket_path: str, loop: EventLoop) -> None:
    """Serve `app` on `socket_path` at `HEAVY_LANE_NICE` until SIGTERM, or until the parent exits."""
    os.nice(HEAVY_LANE_NICE)
    threading.Thread(target=_exit_with_parent, name="heavy-lane-parent-watch", daemon=True).start()
    config = uvicorn.Config(app, uds=socket_path, log_level="warning", lifespan="on", proxy_headers=True,
                            forwarded_allow_ips="*")
    event_loop.run(uvicorn.Server(config).serve(), loop)
