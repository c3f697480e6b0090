"""Blocking and CPU-bound calls run off the event loop, in small dedicated thread pools.

One event loop serves every workspace, so a call that holds it (argon2 takes ~50 ms of CPU; a Dramatiq
enqueue is a blocking Redis round trip) stalls every other request. The pools are bounded: at most
`CPU_THREADS` password hashes at once (argon2 releases the GIL, so they run in parallel, but more of them
than cores only queue), and `BLOCKING_THREADS` blocking I/O calls. Excess calls wait in the pool's queue,
not on the loop. Bulk imports parse their next batch and seal a batch's history here too: pure Python, which
holds the GIL, but runs while the loop waits on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

CPU_THREADS = 2
BLOCKING_THREADS = 4

_cpu = ThreadPoolExecutor(max_workers=CPU_THREADS, thread_name_prefix="crm-cpu")
_blocking = ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="crm-blocking")

P = ParamSpec("P")
T = TypeVar("T")


async def _run(pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))


async def cpu(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a CPU-bound call (password hashing, an import batch's parsing) in the bounded CPU pool."""
    return await _run(_cpu, fn, *args, **kwargs)


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking I/O call (a synchronous Redis client) in the bounded blocking pool."""
    return await _run(_blocking, fn, *args, **kwargs)
