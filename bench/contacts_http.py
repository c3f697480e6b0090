"""Side by side over real sockets: the API vs. a floor server doing the same work (`bench/floor_server.py`).

Both run as their own uvicorn processes on loopback against the same workspace database: 1,000 contacts,
of which a sales user's record scope (own or team) selects 300. The query is `contacts(first:100)` with
nine fields, as admin (every field in clear) and as the sales user (record scope, email clear only on own
contacts, HKID, salary and date of birth masked). Rounds alternate between the two servers so load changes
on the machine hit both alike. For 1 and 16 concurrent clients it prints requests/s, p50 latency and the
server's CPU time per request (user + system of the server process, from psutil), and the ratios: the CPU
ratio also as the median of each round's API-over-floor ratio with its 95% bootstrap interval (rounds run a
few seconds apart, so the machine's drift hits both samples of a round alike).

    .venv/bin/python bench/contacts_http.py [--requests 200] [--rounds 7] [--plain]

The API answers this query by its compiled read path (`schema.compiled`; each response is checked for it);
`--plain` sends `X-Crm-Executor: plain` so that Strawberry's executor answers instead (the API runs outside
production), for the before/after of the compiled path in the same setting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from harness import PASSWORD, Bench, bench_app, bulk_contacts, free_port, median_interval, serve_api, wait_http

from db.sessions import database_url
from schema.ids import from_global

ROOT = Path(__file__).resolve().parent.parent
FIELDS = "id firstName lastName email phone hkid salary dateOfBirth company"
QUERY = "query($n:Int!){contacts(first:$n){edges{node{" + FIELDS + "}}}}"


@dataclass
class Arm:
    name: str
    url: str
    pid: int
    body: Any
    headers: dict[str, str] | None = None
    executor: str | None = None  # the X-Crm-Executor answer expected

    async def one(self, client: httpx.AsyncClient, token: str, *, check: bool = True) -> None:
        headers = {"Authorization": f"Bearer {token}", **(self.headers or {})}
        r = await client.post(self.url, json=self.body, headers=headers)
        assert r.status_code == 200, r.text[:300]
        assert not check or self.executor is None or r.headers.get("x-crm-executor") == self.executor, r.headers
        data = r.json()
        assert "errors" not in data or data.get("data"), data
        assert len(data["data"]["contacts"]["edges"]) == 100


@dataclass
class Sample:
    seconds: float
    cpu: float
    latencies: list[float]


async def drive(arm: Arm, client: httpx.AsyncClient, token: str, requests: int, clients: int) -> list[float]:
    """`requests` calls to `arm` from `clients` concurrent loops on `client`; their latencies (s)."""
    latencies: list[float] = []
    left = requests

    async def client_loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            start = time.perf_counter()
            await arm.one(client, token)
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return latencies


def server_cpu(procs: list[psutil.Process]) -> float:
    """User + system CPU seconds of a server's processes."""
    return sum(sum(p.cpu_times()[:2]) for p in procs)


async def measure(arm: Arm, token: str, requests: int, clients: int) -> Sample:
    proc = psutil.Process(arm.pid)
    procs = [proc, *proc.children(recursive=True)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        for _ in range(5):  # warm the connections and the server's caches (a fresh server's first is not compiled)
            await arm.one(client, token, check=False)
        before = server_cpu(procs)
        start = time.perf_counter()
        latencies = await drive(arm, client, token, requests, clients)
        seconds = time.perf_counter() - start
        after = server_cpu(procs)
    return Sample(seconds, after - before, latencies)


def summary(samples: list[Sample], requests: int) -> tuple[float, float, float]:
    """(requests/s, p50 ms, CPU ms per request), medians over the rounds."""
    rps = statistics.median(requests / s.seconds for s in samples)
    p50 = statistics.median(statistics.median(s.latencies) * 1000 for s in samples)
    cpu = statistics.median(s.cpu / requests * 1000 for s in samples)
    return rps, p50, cpu


async def users(b: Bench) -> tuple[str, str, str, str]:
    tenant, admin = await b.workspace()
    team = (await b.gql('mutation{createTeam(name:"East"){id}}', None, admin))["data"]["createTeam"]["id"]
    rep_id, rep = await b.user(tenant, admin, ["sales"], team)
    mate_id, _ = await b.user(tenant, admin, ["sales"], team)
    other_id, _ = await b.user(tenant, admin, ["sales"], None)
    team_uuid = from_global(team)[1]
    await bulk_contacts(tenant, 150, owner=from_global(rep_id)[1], team=team_uuid)
    await bulk_contacts(tenant, 150, owner=from_global(mate_id)[1], team=team_uuid)
    await bulk_contacts(tenant, 700, owner=from_global(other_id)[1])
    return tenant.slug, tenant.database_name, admin, rep


def start_floor(b: Bench, env: dict[str, str], port: int, slug: str, database: str,
                application: str | None = None) -> subprocess.Popen[bytes]:
    """`bench/floor_server.py` on `port` against the workspace database (its connections named `application`)."""
    ws_dsn = database_url(b.ep.database_url, database).set(drivername="postgresql")
    if application is not None:  # asyncpg sends unknown DSN options as server settings
        ws_dsn = ws_dsn.update_query_dict({"application_name": application})
    catalog_dsn = database_url(b.ep.database_url, f"{b.settings.db_prefix}_catalog").set(drivername="postgresql")
    floor_env = {
        **env,
        "FLOOR_WORKSPACE_DSN": ws_dsn.render_as_string(hide_password=False),
        "FLOOR_CATALOG_DSN": catalog_dsn.render_as_string(hide_password=False),
        "FLOOR_SLUG": slug,
    }
    return subprocess.Popen([sys.executable, str(ROOT / "bench" / "floor_server.py"), "--port", str(port)],
                            env=floor_env)


async def run(requests: int, rounds: int, workers: int, plain: bool = False) -> None:
    async with bench_app() as b:
        slug, database, admin, rep = await users(b)
        env = {
            **os.environ,
            "DATABASE_URL": b.ep.database_url,
            "REDIS_URL": b.ep.redis_url,
            "CRM_RATE_LIMIT_PER_MINUTE": "10000000",
        }
        api_port, floor_port = free_port(), free_port()
        api = serve_api(env, api_port, workers=workers)
        floor = start_floor(b, env, floor_port, slug, database)
        try:
            await wait_http(f"http://127.0.0.1:{api_port}/healthz")
            await wait_http(f"http://127.0.0.1:{floor_port}/contacts", method="POST", expect_any=True)
            arms = {
                "api": lambda: Arm(
                    "api", f"http://127.0.0.1:{api_port}/graphql", api.pid, {"query": QUERY, "variables": {"n": 100}},
                    {"X-Crm-Executor": "plain"} if plain else None, None if plain else "compiled",
                ),
                "floor": lambda: Arm("floor", f"http://127.0.0.1:{floor_port}/contacts", floor.pid, {"first": 100}),
            }
            print(
                f"workspace: 1,000 contacts, sales scope 300; {requests} requests per arm and round, "
                f"{rounds} rounds, API workers: {workers}, executor: {'plain' if plain else 'compiled'}",
                flush=True,
            )
            for who, token in (("admin", admin), ("sales", rep)):
                for clients in (1, 16):
                    results: dict[str, list[Sample]] = {"api": [], "floor": []}
                    for i in range(rounds):
                        order = ("api", "floor") if i % 2 == 0 else ("floor", "api")
                        for name in order:
                            results[name].append(await measure(arms[name](), token, requests, clients))
                    api_rps, api_p50, api_cpu = summary(results["api"], requests)
                    fl_rps, fl_p50, fl_cpu = summary(results["floor"], requests)
                    # Each round's API sample over the floor's beside it: the machine's drift between rounds (the
                    # floor's own CPU per request moved by a third between runs) cancels out of each pair.
                    paired, low, high = median_interval(
                        [a.cpu / f.cpu for a, f in zip(results["api"], results["floor"], strict=True)])
                    print(
                        f"{who:5} {clients:2} client(s): API {api_rps:6.1f} req/s p50 {api_p50:6.1f} ms "
                        f"CPU {api_cpu:5.1f} ms/req | floor {fl_rps:6.1f} req/s p50 {fl_p50:5.1f} ms "
                        f"CPU {fl_cpu:4.1f} ms/req | CPU ratio {api_cpu / fl_cpu:.2f}x (paired by round "
                        f"{paired:.2f}x, 95% CI {low:.2f}-{high:.2f}), throughput ratio {api_rps / fl_rps:.2f}x",
                        flush=True,
                    )
        finally:
            for proc in (api, floor):
                proc.terminate()
            for proc in (api, floor):
                proc.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--plain", action="store_true", help="the API answers with Strawberry's executor")
    args = parser.parse_args()
    assert PASSWORD
    asyncio.run(run(args.requests, args.rounds, args.workers, args.plain))
