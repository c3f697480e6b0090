"""The API through PgBouncer in transaction mode (`PGBOUNCER_URLS`): login, create a contact and read contacts
over HTTP, with many requests at once on a pool of two server connections (prepared statements must not collide),
and the statement timeout still applied. Starts its own pgbouncer (a config in a temporary directory, its own
port, `auth_type = trust`, in front of the test server) when the binary is present, and always stops it."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

import main
from db import roles
from db.sessions import statement_name
from resolvers.runtime import Runtime
from settings import Settings
from tests.api.helpers import on_runtime
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

PGBOUNCER = shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    PGBOUNCER is None, reason="pgbouncer is not installed (Debian: apt-get install pgbouncer); PgBouncer tests skipped"
)

READ = "{contacts(first:20){totalCount edges{node{id firstName email}}}}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, however it dies."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class PgBouncer:
    """pgbouncer in the foreground, as a child of the test process."""

    def __init__(self, server_url: str, users: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="crm-pgbouncer-"))
        self.port = _free_port()
        server = make_url(server_url)
        auth = "".join(f'"{user}" "{password}"\n' for user, password in users.items())
        (self.dir / "users.txt").write_text(auth)
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.host or '127.0.0.1'} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'users.txt'}\n"
            "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 200\n"
        )
        command = [str(PGBOUNCER), str(self.dir / "pgbouncer.ini")]
        if os.geteuid() == 0:  # pgbouncer will not run as root: as nobody, the death signal set after the switch
            nobody = pwd.getpwnam("nobody")
            for path in (self.dir, *self.dir.iterdir()):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("running as root without setpriv: cannot start pgbouncer as another user")
            command = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                       "--pdeathsig=KILL", *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"postgresql://127.0.0.1:{self.port}/postgres"

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("pgbouncer did not listen within 15 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pgbouncer(settings: Settings, endpoints: main.Endpoints) -> Iterator[PgBouncer]:
    owner = make_url(endpoints.database_url)
    if not owner.host:
        # The embedded server listens only on its private unix socket, which pgbouncer (run as `nobody` when the
        # tests run as root) may not open: these tests run against a TCP server (DATABASE_URL, as `.ci/run`'s
        # second pass does).
        pytest.skip("the test server is reached by a private unix socket (embedded); PgBouncer needs TCP")
    app_role, app_password = settings.app_role()
    users = {app_role: app_password, owner.username or "postgres": owner.password or ""}
    bouncer = PgBouncer(endpoints.database_url, users)
    try:
        yield bouncer
    finally:
        bouncer.stop()
    assert bouncer.process.poll() is not None


class Pooled:
    def __init__(self, runtime: Runtime, gql: GraphQLClient, workspaces: WorkspaceFactory) -> None:
        self.runtime, self.gql, self.workspaces = runtime, gql, workspaces


@pytest.fixture(scope="module")
async def pooled(settings: Settings, endpoints: main.Endpoints, pgbouncer: PgBouncer) -> AsyncIterator[Pooled]:
    """A second runtime and app on the session's catalog whose app-role connections all go through PgBouncer."""
    through = Settings(pgbouncer_urls=pgbouncer.url)
    runtime = await main.open_runtime(through, endpoints)
    runtime.versions.start()
    app = main.create_app(through, endpoints)

    with_state = on_runtime(app, runtime)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=with_state), base_url="http://pooled") as http:
            gql = GraphQLClient(http)
            yield Pooled(runtime, gql, WorkspaceFactory(runtime, gql))
    finally:
        await main.close_runtime(runtime)
        # The session's own runtime connects directly again: it sends its own statement timeout.
        await roles.ensure_role(endpoints.database_url, roles.AppRole(*settings.app_role()))


async def test_settings_name_a_pgbouncer_per_region(settings: Settings) -> None:
    assert Settings(pgbouncer_urls="postgresql://h:6432/postgres").poolers() == {
        settings.default_region: "postgresql://h:6432/postgres"
    }
    assert Settings(pgbouncer_urls="hk=postgresql://a:6432/x?sslmode=require, sg=postgresql://b:6432/y").poolers() == {
        "hk": "postgresql://a:6432/x?sslmode=require",
        "sg": "postgresql://b:6432/y",
    }
    ep = main.Endpoints("postgresql://s/postgres", {"hk": "postgresql://s/postgres"}, "redis://r")
    with pytest.raises(ValueError, match="region 'eu'"):
        main.server_poolers(Settings(pgbouncer_urls="eu=postgresql://p:6432/x"), ep)


async def test_the_api_works_through_pgbouncer_in_transaction_mode(
    pooled: Pooled, pgbouncer: PgBouncer, settings: Settings
) -> None:
    ws = await pooled.workspaces.create()  # created, seeded and logged in to through PgBouncer
    tenant = await pooled.runtime.directory.get(ws.slug)
    assert tenant is not None
    assert tenant.engine.url.port == pgbouncer.port
    assert pooled.runtime.directory.catalog.url.port == pgbouncer.port

    for i in range(3):
        await ws.contact(firstName=f"Pooled{i}", lastName="Chan", email=f"pooled{i}@example.hk")
    # Sixteen requests at once on two server connections: each transaction may land on another server
    # connection, so a statement cache or asyncpg's numbered statement names would collide or go missing.
    bodies = await asyncio.gather(*(pooled.gql.ok(READ, None, ws.admin_token) for _ in range(16)))
    for body in bodies:
        assert body["contacts"]["totalCount"] == 3
        assert sorted(e["node"]["firstName"] for e in body["contacts"]["edges"]) == ["Pooled0", "Pooled1", "Pooled2"]

    # The statement timeout cannot be a startup parameter through PgBouncer: the app role carries it.
    async with tenant.engine.connect() as conn:
        ms = "select extract(epoch from current_setting('statement_timeout')::interval) * 1000"
        timeout = (await conn.execute(text(ms))).scalar_one()
        # Another process on the same PgBouncer numbers its statements from 1 too: names must be unique.
        adapted: Any = (await conn.get_raw_connection()).dbapi_connection
        assert adapted._prepared_statement_cache is None
        assert adapted._prepared_statement_name_func is statement_name
    assert settings.statement_timeout_ms > 0
    assert timeout == settings.statement_timeout_ms
