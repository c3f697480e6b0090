"""Side by side over real sockets: the API vs. PostGraphile 4, plain and with row-level security (issue #16).

The same workspace database as `bench/contacts_http.py` (1,000 contacts, a sales user whose record scope, own
or team, selects 300) serves four processes on loopback, measured in rotating rounds by the same client:

* **api**: `python main.py serve`, `contacts(first:100)` with the nine fields of `contacts_http.py` as the sales
  user (record scope in SQL, masks, decryption of HKID, salary and date of birth, audit rows, commit);
* **postgraphile**: PostGraphile 4 (its CLI, `--schema public`) connected as the database owner, no JWT, no
  policies: `allContacts(first:100)` in the same order, every row of the workspace readable;
* **postgraphile+rls**: a second PostGraphile that verifies the API's own token (HS256, the same secret), sets
  `jwt.claims.sub` and switches to a `sales` database role made for the run, on which a row-level security
  policy gives the same record scope as our sales user: contacts owned by the user or by the user's team;
* **floor**: `bench/floor_server.py` (`bench/contacts_http.py`'s floor: Starlette + asyncpg doing the API's work
  for this one query, with none of its generality), so that the run also says how far the work itself is from
  PostGraphile's (the `floor/postgraphile+rls` line).

PostGraphile selects nine columns too, but its schema differs: the three encrypted fields come out as the
stored ciphertext (`hkidEnc`, `salaryEnc`, `dateOfBirthEnc`, bytea), so it does no decryption, no masks and no
audit. It is installed from the npm registry into `.data/bench-peers/` (git-ignored, reused by later runs);
without `npm` on PATH the bench prints a skip line and exits 0. Per target and client count it prints
requests/s, p50, the server process's CPU per request (user + system from /proc, via psutil, children
included) and, when PostgreSQL runs on this machine, the CPU of that target's PostgreSQL backends per request
(PostGraphile builds its JSON in SQL, so its process alone flatters it), then the ratios: ours/PostGraphile,
ours/floor and floor/PostGraphile+RLS.

    .venv/bin/python bench/peers.py [--requests 200] [--rounds 3] [--clients 1,16] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
from contacts_http import FIELDS, QUERY, Arm, drive, server_cpu, start_floor, users
from harness import RUN, Bench, bench_app, free_port, serve_api, wait_http
from sqlalchemy.engine import make_url

from db.sessions import database_url

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".data" / "bench-peers"
POSTGRAPHILE = "postgraphile@4.14.1"
PG_FIELDS = "id firstName lastName email phone hkidEnc salaryEnc dateOfBirthEnc company"
PG_QUERY = (
    "query($n:Int!){contacts: allContacts(first:$n, orderBy:[CREATED_AT_ASC, ID_ASC]){edges{node{" + PG_FIELDS + "}}}}"
)
APP_PLAIN, APP_RLS, APP_FLOOR = "peers-postgraphile", "peers-postgraphile-rls", "peers-floor"
# The sales scope of the API's default policy (own or team), as a row-level security policy on `jwt.claims.sub`.
SCOPE_POLICY = """create policy peers_sales_scope on contacts for select to {role} using (
  owner_id = nullif(current_setting('jwt.claims.sub', true), '')::uuid
  or team_id = (select u.team_id from users u where u.id = nullif(current_setting('jwt.claims.sub', true), '')::uuid)
)"""


def install() -> Path | None:
    """PostGraphile's CLI script under CACHE (installed once with npm), or None after printing why not."""
    cli = CACHE / "node_modules" / "postgraphile" / "cli.js"
    package = CACHE / "node_modules" / "postgraphile" / "package.json"
    wanted = POSTGRAPHILE.partition("@")[2]
    if package.exists() and json.loads(package.read_text())["version"] == wanted:
        return cli
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"installing {POSTGRAPHILE} from the npm registry into {CACHE} ...", flush=True)
    done = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(CACHE),
            "--no-audit",
            "--no-fund",
            "--no-save",
            "--loglevel=error",
            POSTGRAPHILE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not cli.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        print(f"bench/peers.py: skipped: npm could not install {POSTGRAPHILE}: {' | '.join(tail)}")
        return None
    return cli


async def setup_rls(owner_dsn: str, role: str, app_role: str) -> None:
    """The `sales` role, its grants and the scope policy on the workspace's contacts (as the owner). The API's
    login role gets a `using (true)` policy so that enabling row-level security changes nothing for it."""
    conn = await asyncpg.connect(owner_dsn)
    try:
        async with conn.transaction():
            await conn.execute(f'create role "{role}" nologin')
            await conn.execute(f'grant "{role}" to current_user')  # so that PostGraphile may `set role` to it
            await conn.execute(f'grant usage on schema public to "{role}"')
            await conn.execute(f'grant select on contacts to "{role}"')
            await conn.execute(f'grant select (id, team_id) on users to "{role}"')
            await conn.execute("alter table contacts enable row level security")
            await conn.execute(SCOPE_POLICY.format(role=f'"{role}"'))
            await conn.execute(
                f'create policy peers_app_all on contacts to "{app_role}" using (true) with check (true)'
            )
    finally:
        await conn.close()


async def drop_rls(owner_dsn: str, role: str) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute("drop policy if exists peers_sales_scope on contacts")
        await conn.execute("drop policy if exists peers_app_all on contacts")
        await conn.execute("alter table contacts disable row level security")
        if await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
            await conn.execute(f'drop owned by "{role}"')
            await conn.execute(f'drop role "{role}"')
    finally:
        await conn.close()


def start_postgraphile(
    cli: Path, workdir: Path, dsn: str, port: int, jwt: tuple[str, str] | None
) -> subprocess.Popen[bytes]:
    """PostGraphile's CLI as its own node process. The connection string and the JWT secret go through a
    `.postgraphilerc.js` that reads them from the environment, so neither shows in the process list."""
    workdir.mkdir(parents=True, exist_ok=True)
    options = ["connection: process.env.PEERS_DSN"]
    env = {**os.environ, "NODE_ENV": "production", "PEERS_DSN": dsn}
    if jwt is not None:
        secret, role = jwt
        env["PEERS_JWT_SECRET"] = secret
        options += [
            "jwtSecret: process.env.PEERS_JWT_SECRET",
            "jwtVerifyAlgorithms: ['HS256']",
            "jwtVerifyAudience: []",  # the API's tokens name no audience (PostGraphile expects 'postgraphile')
            f"defaultRole: {json.dumps(role)}",
        ]
    rc = workdir / ".postgraphilerc.js"
    rc.write_text("module.exports = { options: { " + ", ".join(options) + " } };\n")
    command = [
        "node",
        str(cli),
        "--schema",
        "public",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-graphiql",
        "--disable-query-log",
        "--disable-default-mutations",
    ]
    with (workdir / "stderr.log").open("wb") as log:  # its warnings, and why it stopped if it did
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=log)


def log_tail(workdir: Path) -> str:
    lines: list[str] = []
    for mode in ("plain", "rls"):
        log = workdir / mode / "stderr.log"
        if log.exists():
            lines += [f"postgraphile ({mode}): {line}" for line in log.read_text(errors="replace").splitlines()[-5:]]
    return "\n".join(lines)


class Backends:
    """CPU seconds of the PostgreSQL backends serving one target, read from /proc (PostgreSQL on this machine).

    A backend can start and end inside a measured window (SQLAlchemy closes an overflow connection that comes
    back to a full pool), so `watch` polls them every 50 ms: a backend's CPU counts from its value before the
    window (zero for one that started in it) to the last value seen; what one that ended did after its last
    poll is missed, and the count of backends opened in the window says how much that can be."""

    def __init__(
        self, monitor: asyncpg.Connection, database: str, *, user: str | None = None, application: str | None = None
    ) -> None:
        self.monitor, self.database, self.user, self.application = monitor, database, user, application

    async def cpu(self) -> dict[int, float]:
        pids = await self.monitor.fetch(
            "select pid from pg_stat_activity where datname = $1 and ($2::text is null or usename = $2)"
            " and ($3::text is null or application_name = $3) and pid <> pg_backend_pid()",
            self.database,
            self.user,
            self.application,
        )
        times: dict[int, float] = {}
        for row in pids:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):  # a backend that just ended
                times[row["pid"]] = sum(psutil.Process(row["pid"]).cpu_times()[:2])
        return times

    async def watch(self, before: dict[int, float], stop: asyncio.Event) -> tuple[float, int]:
        """(CPU seconds of the target's backends, backends opened) from the reading `before` until `stop` is set."""
        last = dict(before)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)
            last.update(await self.cpu())
            if stop.is_set():
                break
        return sum(t - before.get(pid, 0.0) for pid, t in last.items()), len(last.keys() - before.keys())


@dataclass
class Sample:
    seconds: float
    cpu: float
    db_cpu: float | None
    opened: int  # PostgreSQL backends the target opened during the window
    latencies: list[float]


async def measure(arm: Arm, backends: Backends | None, token: str, requests: int, clients: int) -> Sample:
    """`requests` calls from `clients` concurrent connections, after 5 warm-up calls; as contacts_http.measure,
    plus the CPU of the target's PostgreSQL backends."""
    proc = psutil.Process(arm.pid)
    procs = [proc, *proc.children(recursive=True)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    stop = asyncio.Event()
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for _ in range(5):
            await arm.one(client, token, check=False)
        watcher = asyncio.create_task(backends.watch(await backends.cpu(), stop)) if backends else None
        before = server_cpu(procs)
        start = time.perf_counter()
        latencies = await drive(arm, client, token, requests, clients)
        seconds = time.perf_counter() - start
        after = server_cpu(procs)
        stop.set()
        db_cpu, opened = await watcher if watcher else (None, 0)
    return Sample(seconds, after - before, db_cpu, opened, latencies)


@dataclass(frozen=True)
class Figures:
    rps: float
    p50: float
    cpu: float
    db_cpu: float | None
    opened: int  # PostgreSQL backends opened during the measured windows, every round together

    def __str__(self) -> str:
        db = f" + PostgreSQL {self.db_cpu:5.2f}" if self.db_cpu is not None else ""
        opened = f" ({self.opened} backends opened)" if self.opened else ""
        return f"{self.rps:6.1f} req/s  p50 {self.p50:6.2f} ms  CPU {self.cpu:5.2f}{db} ms/req{opened}"


def summary(samples: list[Sample], requests: int) -> Figures:
    """Medians over the rounds."""
    db = [s.db_cpu / requests * 1000 for s in samples if s.db_cpu is not None]
    return Figures(
        statistics.median(requests / s.seconds for s in samples),
        statistics.median(statistics.median(s.latencies) * 1000 for s in samples),
        statistics.median(s.cpu / requests * 1000 for s in samples),
        statistics.median(db) if db else None,
        sum(s.opened for s in samples),
    )


async def visible(url: str, token: str, query: str, path: str) -> int:
    """totalCount as the sales user (the scope check printed before measuring)."""
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(url, json={"query": query}, headers={"Authorization": f"Bearer {token}"})
        body = r.json()
    assert "errors" not in body, body
    return int(body["data"][path]["totalCount"])


def local_server(url: str) -> bool:
    host = make_url(url).host
    return host in (None, "", "127.0.0.1", "localhost", "::1") or str(host).startswith("/")


async def run(cli: Path, requests: int, rounds: int, clients_list: list[int], workers: int) -> None:
    async with bench_app() as b:
        await run_with(b, cli, requests, rounds, clients_list, workers)


async def run_with(b: Bench, cli: Path, requests: int, rounds: int, clients_list: list[int], workers: int) -> None:
    slug, database, _admin, rep = await users(b)
    owner = database_url(b.ep.database_url, database).set(drivername="postgresql")
    owner_dsn = owner.render_as_string(hide_password=False)
    role, app_role = f"{b.settings.db_prefix}_peers_sales", b.settings.app_role()[0]
    workdir = CACHE / f"run-{RUN}"
    env = {
        **os.environ,
        "DATABASE_URL": b.ep.database_url,
        "REDIS_URL": b.ep.redis_url,
        "CRM_RATE_LIMIT_PER_MINUTE": "10000000",
    }
    procs: list[subprocess.Popen[bytes]] = []
    monitor: asyncpg.Connection | None = None
    try:
        await setup_rls(owner_dsn, role, app_role)
        api_port, plain_port, rls_port = free_port(), free_port(), free_port()
        api = serve_api(env, api_port, workers=workers)
        procs.append(api)
        plain = start_postgraphile(
            cli,
            workdir / "plain",
            owner.update_query_dict({"application_name": APP_PLAIN}).render_as_string(hide_password=False),
            plain_port,
            None,
        )
        procs.append(plain)
        rls = start_postgraphile(
            cli,
            workdir / "rls",
            owner.update_query_dict({"application_name": APP_RLS}).render_as_string(hide_password=False),
            rls_port,
            (b.settings.secret_key(), role),
        )
        procs.append(rls)
        floor_port = free_port()
        floor = start_floor(b, env, floor_port, slug, database, APP_FLOOR)
        procs.append(floor)
        floor_url = f"http://127.0.0.1:{floor_port}/contacts"
        await wait_http(floor_url, method="POST", expect_any=True)
        api_url = f"http://127.0.0.1:{api_port}/graphql"
        plain_url, rls_url = f"http://127.0.0.1:{plain_port}/graphql", f"http://127.0.0.1:{rls_port}/graphql"
        await wait_http(f"http://127.0.0.1:{api_port}/healthz")
        try:
            await wait_http(plain_url, method="POST", expect_any=True)
            await wait_http(rls_url, method="POST", expect_any=True)
        except RuntimeError:
            print(log_tail(workdir), file=sys.stderr)
            raise

        count_ours = "{contacts(first:1){totalCount}}"
        count_pg = "{allContacts(first:1){totalCount}}"
        seen = (
            await visible(api_url, rep, count_ours, "contacts"),
            await visible(rls_url, rep, count_pg, "allContacts"),
            await visible(plain_url, rep, count_pg, "allContacts"),
        )
        assert seen[0] == seen[1] == 300 and seen[2] == 1000, f"the scopes differ: {seen}"

        backends: dict[str, Backends | None] = {
            "api": None, "postgraphile": None, "postgraphile+rls": None, "floor": None
        }
        if local_server(b.ep.database_url):
            monitor = await asyncpg.connect(owner_dsn)
            backends = {
                "api": Backends(monitor, database, user=app_role),
                "postgraphile": Backends(monitor, database, application=APP_PLAIN),
                "postgraphile+rls": Backends(monitor, database, application=APP_RLS),
                "floor": Backends(monitor, database, application=APP_FLOOR),
            }
        body = {"variables": {"n": 100}}
        arms = {
            "api": lambda: Arm("api", api_url, api.pid, {"query": QUERY, **body}, None, "compiled"),
            "postgraphile": lambda: Arm("postgraphile", plain_url, plain.pid, {"query": PG_QUERY, **body}),
            "postgraphile+rls": lambda: Arm("postgraphile+rls", rls_url, rls.pid, {"query": PG_QUERY, **body}),
            "floor": lambda: Arm("floor", floor_url, floor.pid, {"first": 100}),
        }
        names = list(arms)
        print(
            f"workspace: 1,000 contacts; rows visible to the sales user: API {seen[0]}, PostGraphile+RLS {seen[1]}, "
            f"PostGraphile {seen[2]} (no policy); {requests} requests per target and round, {rounds} rounds, "
            f"API workers: {workers}, {POSTGRAPHILE} (node {node_version()}, one process each)\n"
            f"api:          contacts(first:100){{{FIELDS}}}: record scope, decryption, masks, audit, commit\n"
            f"postgraphile: allContacts(first:100){{{PG_FIELDS}}}: the *Enc fields are ciphertext "
            f"(no decryption), no masks, no audit; +rls: JWT verified, `set role`, the scope as a policy\n"
            f"floor:        bench/floor_server.py, the sales user's page with the API's work and none of its "
            f"generality (JWT, scope in SQL, decryption, masks, one audit row, commit)\n"
            f"CPU: the server process (user+system, /proc) + its PostgreSQL backends, per request",
            flush=True,
        )
        for clients in clients_list:
            results: dict[str, list[Sample]] = {name: [] for name in names}
            for i in range(rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:  # each round starts with the next
                    results[name].append(await measure(arms[name](), backends[name], rep, requests, clients))
            figures = {name: summary(results[name], requests) for name in names}
            for name in names:
                print(f"sales {clients:2} client(s) {name:17} {figures[name]}", flush=True)
            for ours_name, name in (("api", "postgraphile"), ("api", "postgraphile+rls"), ("api", "floor"),
                                    ("floor", "postgraphile+rls")):
                ours, peer = figures[ours_name], figures[name]
                label = f"{'ours' if ours_name == 'api' else ours_name}/{name}"
                total = ""
                if ours.db_cpu is not None and peer.db_cpu is not None:
                    total = f", CPU with PostgreSQL {(ours.cpu + ours.db_cpu) / (peer.cpu + peer.db_cpu):.2f}x"
                print(
                    f"sales {clients:2} client(s) {label:22} throughput {ours.rps / peer.rps:.2f}x, "
                    f"p50 {ours.p50 / peer.p50:.2f}x, server CPU {ours.cpu / peer.cpu:.2f}x{total}",
                    flush=True,
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if monitor is not None:
            await monitor.close()
        await drop_rls(owner_dsn, role)
        shutil.rmtree(workdir, ignore_errors=True)


def node_version() -> str:
    return subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="1,16", help="comma-separated client counts")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("bench/peers.py: skipped: npm and node are not on PATH (PostGraphile 4 is installed with npm)")
        return
    cli = install()
    if cli is None:
        return
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    asyncio.run(run(cli, args.requests, args.rounds, clients, args.workers))


if __name__ == "__main__":
    main()
