"""The event loop the servers run on: uvloop (libuv's loop, installed with `uvicorn[standard]`) by default,
the standard library's with `CRM_EVENT_LOOP=asyncio`.

`serve`, `demo` and the heavy-lane process start uvicorn inside a loop of their own (`run`); `serve --workers N`
hands the same name to uvicorn's `loop` setting. Measured side by side on the bench's sales page, uvloop took
0.97x the CPU per request of the standard library's selector loop (95% interval 0.93-1.07): a small gain, and
the loop `serve --workers` already ran on through uvicorn's default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import uvloop

from settings import EventLoop

T = TypeVar("T")


def loop_factory(choice: EventLoop) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """A new loop of the chosen kind (None: the standard library's default)."""
    return uvloop.new_event_loop if choice == "uvloop" else None


def run(main: Coroutine[Any, Any, T], choice: EventLoop) -> T:
    """`asyncio.run(main)` on a loop of the chosen kind."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
