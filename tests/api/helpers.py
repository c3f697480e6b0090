"""Shared helpers of the API tests: the app built with other settings, and a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

import main
from resolvers.runtime import Runtime
from settings import Settings


def on_runtime(app: ASGIApp, runtime: Runtime) -> ASGIApp:
    """`app` with `runtime` in every request's state, as its lifespan would set it (httpx's ASGI transport runs no
    lifespan)."""

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = {"runtime": runtime}
        await app(scope, receive, send)

    return with_state


@asynccontextmanager
async def app_client(
    settings: Settings, endpoints: main.Endpoints, runtime: Runtime, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app built from `settings` with `overrides` (e.g. crm_env), on the session's runtime."""
    app = main.create_app(settings.model_copy(update=overrides), endpoints)

    with_state = on_runtime(app, runtime)

    transport = httpx.ASGITransport(app=with_state, client=("10.9.8.7", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@contextmanager
def serving(config: uvicorn.Config, sock: socket.socket | None = None) -> Iterator[uvicorn.Server]:
    """uvicorn serving `config` (on `sock`, else where the config says) in a thread with its own event loop,
    once it has started; stopped on exit."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock] if sock else None)), daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "the server did not start"
        yield server
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def live_server(settings: Settings, endpoints: main.Endpoints) -> Iterator[str]:
    """`serve` as production runs it (uvicorn, its own event loop and runtime) in a thread, on a free loopback
    port; yields its base URL and stops it on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(main.create_app(settings, endpoints), log_level="warning", lifespan="on")
    try:
        with serving(config, sock):
            yield f"http://127.0.0.1:{port}"
    finally:
        sock.close()
