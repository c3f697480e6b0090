"""The API process's garbage collector, settled once the app is built (`serve`, each `--workers` process).

CPython's full collections scan every tracked object, and at start-up the API holds about 190,000 of them
(modules, the schema, SQLAlchemy's and Strawberry's structures) that live as long as the process. Under the
most expensive accepted query a full collection ran every 2 s and stopped the event loop 300-1,100 ms (a gc
callback timing each collection, with `/healthz` polled beside it). `settle()` collects once and freezes what
is alive (`gc.freeze()`: the start-up objects move to a permanent generation that collections skip), and raises
the youngest generation's threshold so that a request's short-lived objects mostly die before a collection
promotes them towards the full ones. Only serving processes call it: tests build many apps in one process.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 10_000  # allocations between two young collections (CPython's default: 700)


def settle() -> None:
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
