"""Blocking and CPU-bound calls run off the event loop, in small dedicated thread pools.

One event loop serves every workspace, so a call that holds it (argon2 takes ~50 ms of CPU; a Dramatiq
enqueue is a blocking Redis round trip) stalls every other request. The pools are bounded: at most
`CPU_THREADS` password hashes at once (argon2 releases the GIL, so they run in parallel, but more of them
than cores only queue), and `BLOCKING_THREADS` blocking I/O calls. Excess calls wait in the pool's queue,
not on the loop. Bulk imports parse their next batch and seal a batch's history here too: pure Python, which
holds the GIL, but runs while the loop waits on the database.

Moving argon2 to threads is not enough on its own: the hashing threads are CPU-bound, and the kernel schedules
them as equals of the event loop's thread (measured: 20 concurrent logins on 2 cores stalled the loop 126-245 ms,
asyncio's debug mode showing trivial callbacks "taking" 150 ms: the loop thread waiting for a core, not working).
So hashes use one lane each (`credentials`), the CPU pool's threads lower their own scheduling priority by
`CPU_NICE` when they start (Linux keeps a nice value per thread; argon2's native threads inherit it), so the
loop's thread preempts a hash whenever it has work while hashes still use every idle cycle, and `start()` starts
the pool's threads at start-up (a lazily started thread makes the loop wait for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

CPU_THREADS = 2
BLOCKING_THREADS = 4
CPU_NICE = 5  # added to the process's nice value for the CPU pool's threads (a third of the loop's weight)

P = ParamSpec("P")
T = TypeVar("T")


def _lower_priority() -> None:
    """The CPU pool's thread initializer: this thread (only) runs `CPU_NICE` steps nicer than the process."""
    if hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):  # a platform without per-thread priorities: hashes still run
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + CPU_NICE)


_cpu = ThreadPoolExecutor(max_workers=CPU_THREADS, thread_name_prefix="crm-cpu", initializer=_lower_priority)
_blocking = ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="crm-blocking")


def start() -> None:
    """Start every thread of the CPU pool now (at the app's start-up): a pool starts its threads lazily, and
    `Thread.start()` waits, on the calling thread, until the new thread runs: on a busy machine the first
    logins of a process held the loop 214 ms that way (asyncio debug mode's slow-callback log)."""
    barrier = threading.Barrier(CPU_THREADS)
    for future in [_cpu.submit(barrier.wait, 5) for _ in range(CPU_THREADS)]:
        with contextlib.suppress(threading.BrokenBarrierError):  # a thread busy already: it has started
            future.result()


async def _run(pool: ThreadPoolExecutor, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool, lambda: fn(*args, **kwargs))


async def cpu(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a CPU-bound call (password hashing, an import batch's parsing) in the bounded CPU pool, at a lower
    priority than the loop."""
    return await _run(_cpu, fn, *args, **kwargs)


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking I/O call (a synchronous Redis client) in the bounded blocking pool."""
    return await _run(_blocking, fn, *args, **kwargs)
