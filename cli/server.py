"""The long-running commands: `serve` (uvicorn, TLS 1.3 only when it terminates TLS, with its heavy-lane process),
`worker`, `demo`."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import ssl
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from cli import event_loop, heap, heavy_lane
from cli.wiring import Endpoints, Wiring, with_runtime
from resolvers.workspaces import demo
from settings import EventLoop, Settings
from workers.process import WorkerProcess

# How long the `--workers` supervisor waits for a worker's answer before it kills it as hung (uvicorn's default: 5).
WORKER_HEALTHCHECK_S = 60


def tls13_context(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
    """uvicorn's SSL context (certificate and key from the options) refusing anything older than TLS 1.3."""
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


async def _run_server(app: ASGIApp, host: str, port: int, on_ready: list[str], **ssl: Any) -> None:
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
    wiring: Wiring,
    settings: Settings,
    host: str,
    port: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    workers: int = 1,
    heavy_lane_socket: str | None = None,
) -> None:
    if heavy_lane_socket is not None:
        _serve_heavy_lane(wiring, settings, heavy_lane_socket)
        return
    settings = with_public_url(settings, "https" if ssl_certfile else "http", host, port)
    # SIGTERM unwinds this block (db.embedded turns it into SystemExit), so the heavy-lane process is stopped.
    with wiring.endpoints(settings) as ep, heavy_lane.running(settings.heavy_lane_process, endpoint_env(ep)) as lane:
        scheme = "https" if ssl_certfile else "http"
        tls = (
            {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile, "ssl_context_factory": tls13_context}
            if ssl_certfile
            else {}
        )
        ready = [f"GraphQL: {scheme}://{host}:{port}/graphql", f"Console: {scheme}://{host}:{port}/admin"]
        if workers > 1:
            _serve_processes(ep, host, port, workers, "\n".join(ready), lane, settings.event_loop, **tls)
            return
        app = wiring.create_app(settings, ep, tls=bool(ssl_certfile), heavy_lane_socket=lane)
        heap.settle()
        event_loop.run(_run_server(heap.QuietCollections(app), host, port, ready, **tls), settings.event_loop)


def with_public_url(settings: Settings, scheme: str, host: str, port: int) -> Settings:
    """Outside production, with no `CRM_PUBLIC_URL`, the links the API and its worker make (downloads, password
    resets, the console's) name the address this server listens on (loopback for a wildcard host), not a fixed
    port 8000; the processes it starts learn it from the environment. Production requires the setting."""
    if settings.public_url or settings.production:
        return settings
    named = "127.0.0.1" if host in {"", "0.0.0.0", "::"} else (f"[{host}]" if ":" in host else host)
    url = f"{scheme}://{named}:{port}"
    os.environ["CRM_PUBLIC_URL"] = url
    return settings.model_copy(update={"public_url": url})


def endpoint_env(ep: Endpoints) -> dict[str, str]:
    """This process's environment with the servers it runs or names as DATABASE_URL / REDIS_URL /
    REGION_DATABASE_URLS: what a child process of the API needs to reach the same ones (it starts none)."""
    regions = ",".join(f"{region}={url}" for region, url in ep.regions.items())
    return {**os.environ, "DATABASE_URL": ep.database_url, "REDIS_URL": ep.redis_url, "REGION_DATABASE_URLS": regions}


def _serve_heavy_lane(wiring: Wiring, settings: Settings, socket_path: str) -> None:
    """The heavy-lane process (`cli.heavy_lane`): the parent's endpoints are in the environment."""
    with wiring.endpoints(settings) as ep:
        app = wiring.create_app(settings, ep)
        heap.settle()
        heavy_lane.serve_heavy_lane(heap.QuietCollections(app), socket_path, settings.event_loop)


def _serve_processes(
    ep: Endpoints, host: str, port: int, workers: int, ready: str, lane: str | None, loop: EventLoop,
    **tls: Any,
) -> None:
    """`workers` uvicorn processes on one socket. They share state only through PostgreSQL and Redis (policy
    reload, rate limits, login throttles, caches' invalidation), so they reach the servers this process runs or
    names (`endpoint_env`), and relay heavy operations to the one heavy-lane process (`lane`)."""
    os.environ.update(endpoint_env(ep))
    if lane is not None:
        os.environ[heavy_lane.SOCKET_ENV] = lane
    if tls:
        os.environ["CRM_SERVE_TLS"] = "1"
    announcer = threading.Thread(target=_announce_when_up, args=(host, port, ready, bool(tls)), daemon=True)
    announcer.start()
    uvicorn.run(
        "main:asgi_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        lifespan="on",
        loop=loop,
        # A spawned worker imports main.py (the whole app) before it can answer the supervisor's ping: on a
        # busy machine that took longer than uvicorn's 5 s, and the supervisor killed and respawned workers
        # that never got to serve.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        **tls,
    )


def _own_certificate() -> ssl.SSLContext:
    """A client context for asking our own server on `host:port` whether it is up (its certificate may name
    another host, or be self-signed): nothing is sent but `GET /healthz`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _announce_when_up(host: str, port: int, line: str, tls: bool) -> None:
    """Print `line` once a worker answers `/healthz` (the socket accepts as soon as the parent binds it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        connection = (
            http.client.HTTPSConnection(host, port, timeout=2, context=_own_certificate())
            if tls else http.client.HTTPConnection(host, port, timeout=2)
        )
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                print(line, flush=True)
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)


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
        heap.settle()
        print("worker: running (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        finally:
            process.stop()


def demo_server(wiring: Wiring, settings: Settings, host: str, port: int) -> None:
    settings = with_public_url(settings, "http", host, port)
    with wiring.endpoints(settings) as ep:
        asyncio.run(with_runtime(wiring, settings, ep, lambda runtime: demo.ensure_demo(runtime.directory)))
        process = start_worker(wiring, settings, ep)
        try:
            ready = [f"GraphQL: http://{host}:{port}/graphql", f"Console: http://{host}:{port}/admin"]
            ready += [f"login: {d.role} {d.email} {d.password}" for d in demo.logins()]
            ready.append(f"workspace: {demo.SLUG}")
            with heavy_lane.running(settings.heavy_lane_process, endpoint_env(ep)) as lane:
                app = wiring.create_app(settings, ep, heavy_lane_socket=lane)
                heap.settle()
                event_loop.run(_run_server(heap.QuietCollections(app), host, port, ready), settings.event_loop)
        finally:
            process.stop()
