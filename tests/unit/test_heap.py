"""`cli.heap.QuietCollections`: full collections wait until no request is in flight, but not past FORCE_AFTER_S."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from cli import heap


@pytest.fixture
def thresholds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    saved = gc.get_threshold()
    monkeypatch.setattr(heap, "CHECK_EVERY_S", 0.01)
    yield
    gc.set_threshold(*saved)


def _full_collection_due() -> None:
    for _ in range(heap.DUE_AFTER + 1):
        gc.collect(1)  # each middle collection counts towards the next full one
    assert gc.get_count()[2] >= heap.DUE_AFTER


class Held:
    """An ASGI app whose requests stay in flight until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.release.wait()


async def test_a_due_collection_waits_for_the_requests_in_flight(thresholds: None) -> None:
    app = Held()
    quiet = heap.QuietCollections(app)
    request = asyncio.create_task(quiet({"type": "http"}, None, None))
    await asyncio.sleep(0.02)
    assert gc.get_threshold()[2] == heap.NEVER  # CPython no longer collects everything on its own
    assert quiet.in_flight == 1
    _full_collection_due()
    await asyncio.sleep(0.1)
    assert quiet.collections == 0
    app.release.set()
    await request
    await asyncio.sleep(0.1)
    assert quiet.in_flight == 0
    assert quiet.collections == 1 and quiet.forced == 0
    assert gc.get_count()[2] < heap.DUE_AFTER
    assert quiet._watch is not None
    quiet._watch.cancel()


async def test_a_process_that_is_never_quiet_still_collects(thresholds: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "FORCE_AFTER_S", 0.05)
    app = Held()
    quiet = heap.QuietCollections(app)
    request = asyncio.create_task(quiet({"type": "http"}, None, None))
    await asyncio.sleep(0.02)
    _full_collection_due()
    await asyncio.sleep(0.2)
    assert quiet.collections == 1 and quiet.forced == 1
    app.release.set()
    await request
    assert quiet._watch is not None
    quiet._watch.cancel()


async def test_lifespan_and_websockets_are_not_requests_in_flight(thresholds: None) -> None:
    app = Held()
    app.release.set()
    quiet = heap.QuietCollections(app)
    await quiet({"type": "lifespan"}, None, None)
    await quiet({"type": "websocket"}, None, None)
    assert quiet._watch is None and quiet.in_flight == 0
