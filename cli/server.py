"""The long-running commands: `serve` (uvicorn, TLS 1.3 only when it terminates TLS), `worker`, `demo`."""

from __future__ import annotations

import asyncio
import signal
import ssl
import threading
from typing import Any

import uvicorn
from starlette.applications import Starlette

from cli.wiring import Endpoints, Wiring, with_runtime
from resolvers.workspaces import demo
from settings import Settings
from workers.process import WorkerProcess


def tls13_context(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
    """uvicorn's SSL context (certificate and key from the options) refusing anything older than TLS 1.3."""
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


async def _run_server(app: Starlette, host: str, port: int, on_ready: list[str], **ssl: Any) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", **ssl)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        for line in on_ready:
            print(line, flush=True)
    await task


def serve(
    wiring: Wiring, settings: Settings, host: str, port: int, ssl_certfile: str | None, ssl_keyfile: str | None
) -> None:
    with wiring.endpoints(settings) as ep:
        app = wiring.create_app(settings, ep, tls=bool(ssl_certfile))
        scheme = "https" if ssl_certfile else "http"
        tls = (
            {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile, "ssl_context_factory": tls13_context}
            if ssl_certfile
            else {}
        )
        asyncio.run(_run_server(app, host, port, [f"GraphQL: {scheme}://{host}:{port}/graphql"], **tls))


def start_worker(wiring: Wiring, settings: Settings, ep: Endpoints) -> Any:
    process = WorkerProcess(ep.redis_url, lambda: wiring.open_runtime(settings, ep), deployment=settings.db_prefix)
    process.start()
    return process


def worker(wiring: Wiring, settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with wiring.endpoints(settings) as ep:
        process = start_worker(wiring, settings, ep)
        print("worker: running (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        finally:
            process.stop()


def demo_server(wiring: Wiring, settings: Settings, host: str, port: int) -> None:
    with wiring.endpoints(settings) as ep:
        asyncio.run(with_runtime(wiring, settings, ep, lambda runtime: demo.ensure_demo(runtime.directory)))
        process = start_worker(wiring, settings, ep)
        try:
            ready = [f"GraphQL: http://{host}:{port}/graphql"]
            ready += [f"login: {d.role} {d.email} {d.password}" for d in demo.logins()]
            ready.append(f"workspace: {demo.SLUG}")
            asyncio.run(_run_server(wiring.create_app(settings, ep), host, port, ready))
        finally:
            process.stop()
