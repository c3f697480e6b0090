"""What the command line gets from the app module (main.py), and the two ways every command runs.

main.py keeps the app factory and the runtime; it hands them to `cli.run` as a `Wiring`, so the command
line never imports main.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette

from cli import heap
from resolvers.errors import DomainError
from resolvers.runtime import Runtime
from settings import Settings


class Endpoints(Protocol):
    """`main.Endpoints`: where PostgreSQL and Redis are."""

    @property
    def database_url(self) -> str: ...

    @property
    def regions(self) -> Mapping[str, str]: ...

    @property
    def redis_url(self) -> str: ...


@dataclass(frozen=True)
class Wiring:
    endpoints: Callable[[Settings], contextlib.AbstractContextManager[Any]]
    open_runtime: Callable[[Settings, Any], Awaitable[Runtime]]
    close_runtime: Callable[[Runtime], Awaitable[None]]
    create_app: Callable[..., Starlette]


async def with_runtime(wiring: Wiring, settings: Settings, ep: Endpoints, work: Any) -> Any:
    """`work(runtime)` in a command's process. Once the runtime is built the heap is settled (`cli.heap`), as in
    `serve` and `worker`: a long command (a workspace export, `audit verify`) otherwise spent a fifth of its
    time in full collections walking the start-up objects."""
    runtime = await wiring.open_runtime(settings, ep)
    heap.settle()
    try:
        return await work(runtime)
    finally:
        await wiring.close_runtime(runtime)


def run_command(wiring: Wiring, settings: Settings, work: Any, render: Any) -> int:
    """Run `work(runtime)` and print `render(result)`; a refusal is one `error: ...` line on stderr, exit 2."""
    with wiring.endpoints(settings) as ep:
        try:
            result = asyncio.run(with_runtime(wiring, settings, ep, work))
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
    print(render(result), flush=True)
    return 0
