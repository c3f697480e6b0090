"""A loop-lag probe for benchmarks: how late the event loop wakes a task that sleeps `TICK_S`.

Enabled only by `CRM_LOOP_LAG_LOG` (bench/abuse.py sets it). Each tick that wakes more than `REPORT_MS` late
appends `<unix time> <lag ms> <pid>` to that file, so a benchmark in another process can read the worst
stall of the loop during any window it measured. A line is a few bytes written to a line-buffered file in
append mode (several `serve --workers` processes share one file without interleaving lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

TICK_S = 0.005
REPORT_MS = 1.0


async def _probe(path: Path) -> None:
    pid = os.getpid()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", buffering=1) as out:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lag_ms = (time.perf_counter() - start - TICK_S) * 1000
            if lag_ms > REPORT_MS:
                out.write(f"{time.time():.4f} {lag_ms:.2f} {pid}\n")


@contextlib.asynccontextmanager
async def running(path: Path | None) -> AsyncIterator[None]:
    """Run the probe for the duration of the block (nothing at all when `path` is None)."""
    if path is None:
        yield
        return
    task = asyncio.create_task(_probe(path))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def worst_lag_ms(path: Path, start: float, end: float) -> float:
    """The largest lag logged between the unix times `start` and `end` (0 when none passed `REPORT_MS`)."""
    worst = 0.0
    if not path.exists():
        return worst
    for line in path.read_text().splitlines():
        at, lag, _ = line.split()
        if start <= float(at) <= end:
            worst = max(worst, float(lag))
    return worst
