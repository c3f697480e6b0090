"""The app factory (Starlette + GraphQL + health) and the runtime; `python main.py ...` runs the command line (`cli`).

With no DATABASE_URL / REDIS_URL, embedded PostgreSQL and Redis are started under CRM_DATA_DIR (or
attached to, when another command of this deployment already runs them).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TypedDict

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import cli
from authz.reload import PolicyVersions
from authz.store import PolicyStore
from cli import heap, heavy_lane
from console.app import mount as console_mount
from db import migrate, roles, tenancy
from db.embedded import EmbeddedServers
from db.sessions import EngineRouter, create_engine
from resolvers import loop_lag, offload
from resolvers.exports.options import ExportOptions
from resolvers.identity.throttle import LoginLimits
from resolvers.mail import Mailer
from resolvers.rate_limits import RequestLimits
from resolvers.runtime import Runtime
from resolvers.webhooks.options import WebhookOptions
from schema import attachments, downloads, export_downloads, graphiql, imports, letter_downloads
from schema.heavy_relay import HeavyRelay
from schema.http_view import CrmGraphQL
from schema.root import build_schema
from schema.transport import GraphQLTransport
from settings import Settings
from workers.broker import make_broker, sender

log = logging.getLogger(__name__)

# The catalog engine's pool (the app role): part of the documented connection bound (README "Connections").
CATALOG_POOL_SIZE = 3
CATALOG_MAX_OVERFLOW = 5


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
    with EmbeddedServers(
        settings.data_dir, want_postgres=want_pg, want_redis=not settings.redis_url,
        max_connections=settings.embedded_max_connections,
    ) as servers:
        if want_pg:
            assert servers.postgres_url is not None
            regions[settings.default_region] = servers.postgres_url
        redis_url = settings.redis_url or servers.redis_url
        assert redis_url is not None
        yield Endpoints(regions[settings.default_region], regions, redis_url)


def server_poolers(settings: Settings, ep: Endpoints) -> dict[str, str]:
    """Server URL -> the PgBouncer in front of it (`PGBOUNCER_URLS`, by region)."""
    poolers: dict[str, str] = {}
    for region, url in settings.poolers().items():
        if region not in ep.regions:
            known = ", ".join(sorted(ep.regions))
            raise ValueError(f"PGBOUNCER_URLS names the region {region!r}, which has no server (configured: {known})")
        poolers[ep.regions[region]] = url
    return poolers


async def open_runtime(settings: Settings, ep: Endpoints) -> Runtime:
    app_role = roles.AppRole(*settings.app_role())
    poolers = server_poolers(settings, ep)
    await ensure_app_role(ep, app_role, poolers, settings.statement_timeout_ms)
    catalog = await open_catalog(settings, ep, app_role, poolers.get(ep.database_url))
    redis = Redis.from_url(ep.redis_url)
    directory = tenancy.TenantDirectory(
        catalog=catalog,
        router=EngineRouter(
            max_engines=settings.max_engines,
            pool_size=settings.pool_size,
            max_overflow=settings.pool_max_overflow,
            max_connections_per_server=settings.max_connections_per_server,
            idle_seconds=settings.pool_idle_seconds,
            statement_timeout_ms=settings.statement_timeout_ms,
            login=(app_role.name, app_role.password),
            poolers=poolers,
        ),
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
        api_key_default_days=settings.api_key_default_days,
        job_sender=sender(make_broker(ep.redis_url, settings.db_prefix)),  # a worker replaces it with its own
        mailer=Mailer(settings.smtp_url, settings.mail_from),
        exports=ExportOptions(settings.public_url, settings.export_batch_rows, settings.export_stale_seconds,
                              settings.export_batch_delay_ms),
        rate_limits=RequestLimits(redis, ep.redis_url, settings.rate_limit_per_minute, namespace=settings.db_prefix),
        login_limits=LoginLimits(settings.login_limit_per_account, settings.login_limit_per_address,
                                 settings.login_limit_per_workspace, settings.login_window_seconds),
        webhooks=WebhookOptions(allow_private=settings.webhook_allow_private and not settings.production),
        import_batch_rows=settings.import_batch_rows,
    )


async def warn_if_server_too_small(conn: AsyncConnection, settings: Settings) -> None:
    """Log when one API process may open more connections than the default region's server accepts (README
    "Connections"): past that, PostgreSQL refuses connections with "too many clients already"."""
    room = int((await conn.execute(text(
        "select current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
    ))).scalar_one())
    per_process = settings.max_connections_per_server + CATALOG_POOL_SIZE + CATALOG_MAX_OVERFLOW
    if per_process > room:
        log.warning(
            "one API process may open %d connections (CRM_MAX_CONNECTIONS_PER_SERVER=%d + catalog %d) but the "
            "server accepts %d: lower the bound or raise max_connections",
            per_process, settings.max_connections_per_server, CATALOG_POOL_SIZE + CATALOG_MAX_OVERFLOW, room,
        )


async def open_catalog(
    settings: Settings, ep: Endpoints, app_role: roles.AppRole, pooler_url: str | None = None
) -> AsyncEngine:
    """The catalog, migrated and granted by the owner, then opened as the app role (which owns nothing), through
    the default region's PgBouncer when there is one."""
    name = f"{settings.db_prefix}_catalog"
    await tenancy.create_database(ep.database_url, name)
    owner = create_engine(ep.database_url, name, pool_size=1, max_overflow=0)
    try:
        await migrate.upgrade(owner, "catalog")
        async with owner.begin() as conn:
            await roles.grant_catalog(conn, app_role.name)
            await warn_if_server_too_small(conn, settings)
    finally:
        await owner.dispose()
    return create_engine(ep.database_url, name, pool_size=CATALOG_POOL_SIZE, max_overflow=CATALOG_MAX_OVERFLOW,
                         login=(app_role.name, app_role.password), pooler_url=pooler_url)


async def ensure_app_role(
    ep: Endpoints, role: roles.AppRole, poolers: dict[str, str] | None = None, statement_timeout_ms: int = 0
) -> None:
    """The app role on every region's server, created by the owner; a region other than the default that
    cannot be reached now is left to `migrate` (its workspaces cannot be used either). On a server behind
    PgBouncer, which refuses `statement_timeout` as a startup parameter, the role carries the timeout itself."""
    poolers = poolers or {}

    def timeout(server: str) -> int | None:
        return statement_timeout_ms if server in poolers else None

    await roles.ensure_role(ep.database_url, role, statement_timeout_ms=timeout(ep.database_url))
    for server in set(ep.regions.values()) - {ep.database_url}:
        try:
            await roles.ensure_role(server, role, statement_timeout_ms=timeout(server))
        except (OSError, SQLAlchemyError) as exc:
            log.warning("app role not ensured on a region server: %s", type(exc).__name__)


async def close_runtime(runtime: Runtime) -> None:
    await runtime.versions.stop()
    await runtime.directory.router.dispose()
    await runtime.directory.catalog.dispose()
    await runtime.redis.aclose()


class State(TypedDict):
    runtime: Runtime


def create_app(
    settings: Settings, ep: Endpoints, *, tls: bool = False, heavy_lane_socket: str | None = None
) -> Starlette:
    """The app. With `heavy_lane_socket`, heavy operations are relayed to the heavy-lane process listening there
    (`schema.heavy_relay`, started by `serve`); without, they run in this process's own lane."""
    graphql = CrmGraphQL(
        build_schema(production=settings.production, max_cost=settings.max_query_cost),
        production=settings.production,
        max_document_chars=settings.max_document_chars,
        operation_timeout_s=settings.operation_timeout_s,
        heavy_cost=settings.heavy_query_cost,
        heavy_at_once=settings.heavy_queries_at_once,
    )
    relay = HeavyRelay(graphql, view=graphql, socket_path=heavy_lane_socket) if heavy_lane_socket else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        runtime = await open_runtime(settings, ep)
        runtime.versions.start()
        offload.start()  # the CPU pool's threads, before the first login waits for one
        try:
            async with loop_lag.running(settings.loop_lag_log):
                yield {"runtime": runtime}
        finally:
            if relay is not None:
                await relay.aclose()
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
        Route("/graphql", GraphQLTransport(relay or graphql, max_body_bytes=settings.max_body_bytes),
              methods=["GET", "POST"]),
        *([] if settings.production else graphiql.routes()),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *downloads.routes(),
        *export_downloads.routes(),
        *letter_downloads.routes(),
        *attachments.routes(),
        *imports.routes(),
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


def asgi_app() -> ASGIApp:
    """The app of one `serve --workers N` process: the parent hands it the servers in the environment."""
    settings = Settings()
    with endpoints(settings) as ep:  # DATABASE_URL and REDIS_URL are set: this starts no server
        app = create_app(settings, ep, tls=os.environ.get("CRM_SERVE_TLS") == "1",
                         heavy_lane_socket=os.environ.get(heavy_lane.SOCKET_ENV) or None)
    heap.settle()
    return heap.QuietCollections(app)


WIRING = cli.Wiring(endpoints=endpoints, open_runtime=open_runtime, close_runtime=close_runtime, create_app=create_app)


def main(argv: list[str] | None = None) -> int:
    """The command line (`cli`), given this module's app factory and runtime."""
    return cli.run(argv, WIRING)


if __name__ == "__main__":
    sys.exit(main())
