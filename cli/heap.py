"""A long-running process's garbage collector, settled once it is built: `serve` (each `--workers` process) and
`worker` (a long job holds tens of thousands of objects per batch, an import's rows and history, enough to set
off a full collection every few batches, each of which walked the whole start-up heap: a third of an import's
Python time).

CPython's full collections scan every tracked object, and at start-up the API holds about 190,000 of them
(modules, the schema, SQLAlchemy's and Strawberry's structures) that live as long as the process. Under the
most expensive accepted query a full collection ran every 2 s and stopped the event loop 300-1,100 ms (a gc
callback timing each collection, with `/healthz` polled beside it). `settle()` collects once and freezes what
is alive (`gc.freeze()`: the start-up objects move to a permanent generation that collections skip): full
collections then cost 25-55 ms of CPU. The thresholds stay CPython's: a young generation of 10,000 (tried) made
the middle collections scan up to ten times as many of a request's live objects (75 ms of CPU each).
Only those processes call it: tests build many apps in one process.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.collect()
    gc.freeze()
