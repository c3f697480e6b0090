"""Stopping the servers and workers that tests start as subprocesses: never one left running."""

from __future__ import annotations

import subprocess

KILL_WAIT_S = 15.0


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM `process`, SIGKILL it if it outlives `timeout` seconds, and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=KILL_WAIT_S)
