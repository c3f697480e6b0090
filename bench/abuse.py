"""Under abuse the API keeps answering: `/healthz` p99 while 4 clients send the most expensive accepted query,
and the event-loop lag during 20 concurrent logins (issue 11, items 2 and 4).

The API runs as `main.py serve` on a free loopback port (its own process, `--workers N`) against one
workspace of 1,000 contacts with 50,000 activities, once per arm, one after the other in one run:
`process` (serve's default: heavy operations relayed to the heavy-lane process, `cli/heavy_lane.py`) and
`in-process` (`CRM_HEAVY_LANE_PROCESS=false`: they run in the API process's own lane). Several query shapes are
built to fit just under `CRM_MAX_QUERY_COST` (schema/limits.py computes the same estimate the server applies);
each is timed three times (median), and the slowest is the load. Then, per arm:

1. `/healthz` is polled (one request every 10 ms, from a process of its own) idle and while 4 clients send that
   query back to back; the ratio of the two p99 latencies is printed (target <= 3x), with the CPU the API
   process and the heavy-lane process used meanwhile. The 4 clients run in a third process and stand for
   other machines, so they cost as little as a client can: a request encoded once, each answer read by its
   Content-Length and checked, not parsed. (An httpx client parsing each answer with orjson spent enough of
   the two cores, at the moments the answers arrived, to delay the server's `/healthz` answers: p99 2.9-3.2 ms
   against 1.7-2.3 ms with these clients, on the same server; perf sched showed the API process runnable
   behind the load generator.)
2. (first arm) 20 logins are sent at once, 5 times; a probe inside the server (`CRM_LOOP_LAG_LOG`,
   resolvers/loop_lag.py) logs how late its 5 ms sleeps wake, and the worst lag during the logins is printed
   (target < 50 ms). The heavy-lane process logs its own lag to a file of its own.

    .venv/bin/python bench/abuse.py [--workers 1] [--seconds 10] [--arms process,in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from graphql import parse
from harness import (
    DATA_DIR,
    PASSWORD,
    Bench,
    bench_app,
    bulk_contacts,
    copy_activities,
    free_port,
    serve_api,
    wait_http,
)

from resolvers import loop_lag
from schema.limits import DEFAULT_MAX_COST, MAX_ALIASES, operation_costs
from schema.root import build_schema

CONTACT = (
    "id firstName lastName email phone hkid taxId dateOfBirth dateOfBirthMasked linkedinUrl bio salary "
    "salaryMasked company jobTitle customFields lastActivityAt stage vip createdAt updatedAt legalHold "
    "correctionPending"
)
ACTIVITY = "id subject body kind private occurredAt"
SHAPES: dict[str, Callable[[int], str]] = {
    "contacts(first:n){every Contact field}": lambda n: f"contacts(first:{n}){{edges{{node{{{CONTACT}}}}}}}",
    "contacts(first:n){id names activities(first:50){Activity fields}}": lambda n: (
        f"contacts(first:{n}){{edges{{node{{id firstName lastName activities(first:50)"
        f"{{edges{{node{{{ACTIVITY}}}}}}}}}}}}}"
    ),
    "activities(first:n){Activity fields contact{every Contact field}}": lambda n: (
        f"activities(first:{n}){{edges{{node{{{ACTIVITY} contact{{{CONTACT}}}}}}}}}"
    ),
}
HEALTH_EVERY_S = 0.01
TARGET_RATIO = 3.0
TARGET_LAG_MS = 50.0


def cost(query: str) -> int:
    return sum(c for _, c in operation_costs(build_schema()._schema, parse(query)))


def fit(shape: Callable[[int], str], budget: int) -> tuple[str, int]:
    """The largest page (at most 200) and then the most aliases of that shape whose total cost fits `budget`."""
    n = max((n for n in range(1, 201) if cost("{" + shape(n) + "}") <= budget), default=0)
    assert n, "even one row is over the budget"
    aliases = 1
    while aliases < MAX_ALIASES and cost(query(shape, n, aliases + 1)) <= budget:
        aliases += 1
    return query(shape, n, aliases), n


def query(shape: Callable[[int], str], n: int, aliases: int) -> str:
    return "{" + " ".join(f"a{i}: {shape(n)}" for i in range(aliases)) + "}"


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def poll_health_here(base: str, seconds: float) -> list[float]:
    """Milliseconds of each `/healthz` answer, one request every 10 ms for `seconds`, on one keep-alive
    connection, in this (otherwise idle) process."""
    url = urllib.parse.urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - start) * 1000)
        assert response.status == 200
        time.sleep(HEALTH_EVERY_S)
    connection.close()
    return latencies


async def poll_health(base: str, seconds: float) -> list[float]:
    """`poll_health_here` in a process of its own: in this one, the heavy clients' JSON parsing (half a megabyte
    per answer) would delay reading `/healthz` answers and count against the server."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--poll", base, "--seconds", str(seconds), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await child.communicate()
    assert child.returncode == 0, "the /healthz poller failed"
    return [float(x) for x in json.loads(out)]


async def idle_health(base: str, seconds: float) -> list[float]:
    return await poll_health(base, seconds)


async def send_load(base: str, token: str, body: str, seconds: float, clients: int) -> tuple[int, int]:
    """`clients` keep-alive connections send `body` back to back for `seconds`; how many queries were answered and
    how many failed (cancelled by the operation timeout). The clients stand for other machines, so each is as
    cheap as a client can be: one request encoded once, the answer read by its Content-Length and checked for
    an error, never parsed (parsing half a megabyte per answer here would take the cores from the server)."""
    url = urllib.parse.urlsplit(base)
    payload = json.dumps({"query": body}).encode()
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    deadline = time.monotonic() + seconds
    done = failed = 0

    async def client_loop() -> None:
        nonlocal done, failed
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        while time.monotonic() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 "), head[:200]
            length = next(int(line.split(b":", 1)[1]) for line in head.lower().split(b"\r\n")
                          if line.startswith(b"content-length:"))
            answer = await reader.readexactly(length)
            if b'"errors":[{' in answer:  # past CRM_OPERATION_TIMEOUT_S when the queries queue behind each other
                failed += 1
            else:
                done += 1
        writer.close()

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return done, failed


async def loaded_health(base: str, token: str, body: str, seconds: float, clients: int) -> tuple[list[float], int, int]:
    """`/healthz` latencies while `clients` send `body` back to back; how many queries were answered and how many
    failed. The clients run in a process of their own (see `send_load`)."""
    load = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--load", base, "--seconds", str(seconds + 1), "--clients", str(clients),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )
    assert load.stdin is not None and load.stdout is not None
    load.stdin.write(json.dumps({"token": token, "body": body}).encode() + b"\n")
    await load.stdin.drain()
    await asyncio.sleep(0.5)  # every client has a query in flight
    latencies = await poll_health(base, seconds)
    out, _ = await load.communicate()
    assert load.returncode == 0, "the load clients failed"
    done, failed = json.loads(out)
    return latencies, done, failed


async def one_query_ms(base: str, token: str, body: str) -> tuple[float, int, bool]:
    """Milliseconds, answer size, and whether the heavy-lane process answered."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        start = time.perf_counter()
        r = await client.post("/graphql", json={"query": body}, headers={"Authorization": f"Bearer {token}"})
        elapsed = (time.perf_counter() - start) * 1000
    assert r.status_code == 200 and not r.json().get("errors"), r.text[:500]
    return elapsed, len(r.content), r.headers.get("x-crm-lane") == "heavy-process"


async def login_lag(base: str, slug: str, emails: list[str], log: Path, rounds: int) -> tuple[list[float], int]:
    """The worst loop lag (ms) the server logged during each round of len(emails) concurrent logins, and how many
    logins failed (cancelled by the operation timeout when argon2 queues on a busy machine)."""
    login = "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}"
    worst: list[float] = []
    failed = 0
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=40)) as client:
        for _ in range(rounds):
            start = time.time()
            answers = await asyncio.gather(*(
                client.post("/graphql", json={"query": login, "variables": {"w": slug, "e": e, "p": PASSWORD}})
                for e in emails
            ))
            await asyncio.sleep(0.1)  # the probe's last tick lands in the file
            failed += sum(1 for a in answers if not (a.json().get("data") or {}).get("login"))
            worst.append(loop_lag.worst_lag_ms(log, start, time.time()))
            await asyncio.sleep(0.3)
    return worst, failed


async def setup(b: Bench) -> tuple[str, str, list[str]]:
    tenant, admin = await b.workspace()
    await bulk_contacts(tenant, 1000)
    await copy_activities(tenant, 50_000)
    emails = []
    for i in range(4):
        email = f"clerk{i}-{tenant.slug}@example.com"
        await b.gql(
            "mutation($i:UserInput!){createUser(input:$i){id}}",
            {"i": {"email": email, "password": PASSWORD, "displayName": f"Clerk {i}", "roles": ["support"]}},
            admin,
        )
        emails.append(email)
    return tenant.slug, admin, emails


ARMS = {
    "process": "heavy operations in the heavy-lane process (serve's default)",
    "in-process": "heavy operations in the API process's own lane (CRM_HEAVY_LANE_PROCESS=false)",
}


def heavy_lane_of(api: psutil.Process) -> psutil.Process | None:
    return next((c for c in api.children() if "--heavy-lane-socket" in c.cmdline()), None)


def cpu_s(procs: list[psutil.Process]) -> list[float]:
    return [sum(p.cpu_times()[:2]) for p in procs]


def runqueue_wait_s(proc: psutil.Process) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere)."""
    total = 0
    for task in Path(f"/proc/{proc.pid}/task").glob("*/schedstat"):
        try:
            total += int(task.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


async def one_arm(arm: str, env: dict[str, str], workers: int, seconds: float, admin: str, slug: str,
                  emails: list[str], log: Path, logins: bool) -> float:
    """One server configuration: the query shapes timed, `/healthz` idle and loaded, the loop lag during logins;
    returns the p99 ratio."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = serve_api({**env, "CRM_HEAVY_LANE_PROCESS": str(arm == "process").lower()}, port, workers=workers)
    try:
        await wait_http(f"{base}/healthz")
        print(f"\n== {arm}: {ARMS[arm]}", flush=True)
        timed: list[tuple[float, str, str]] = []
        for name, shape in SHAPES.items():
            body, n = fit(shape, DEFAULT_MAX_COST)
            deadline = time.monotonic() + 60  # the heavy-lane process starts beside the API: wait for its answers
            while (await one_query_ms(base, admin, body))[2] != (arm == "process") and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            runs = [await one_query_ms(base, admin, body) for _ in range(3)]
            assert all(r[2] == (arm == "process") for r in runs), "answered by the wrong process"
            ms, size = statistics.median(r[0] for r in runs), runs[0][1]
            aliases = body.count(": ")
            print(f"  {name.replace('first:n', f'first:{n}')} x{aliases} aliases: cost {cost(body)}, "
                  f"{ms:.0f} ms, {size / 1e6:.2f} MB", flush=True)
            timed.append((ms, name, body))
        _, name, body = max(timed)
        print(f"most expensive accepted query: {name}", flush=True)

        front = psutil.Process(api.pid)
        procs = [front, *front.children()] if workers > 1 else [front]
        lane = heavy_lane_of(front)
        named = ["API", *(["heavy lane"] if lane else [])]
        watched = [*procs[:1], *([lane] if lane else [])]
        waited = runqueue_wait_s(front)
        idle = await idle_health(base, seconds)
        waited_idle, waited = runqueue_wait_s(front) - waited, runqueue_wait_s(front)
        before, wall = cpu_s(watched), time.monotonic()
        loaded, queries, failed = await loaded_health(base, admin, body, seconds, clients=4)
        wall = time.monotonic() - wall
        used = [after - b for after, b in zip(cpu_s(watched), before, strict=True)]
        waited_loaded = runqueue_wait_s(front) - waited
        start, end = time.time() - seconds - 1, time.time()
        ratio = p99(loaded) / p99(idle)
        print(f"/healthz idle: p50 {statistics.median(idle):.1f} ms p99 {p99(idle):.1f} ms ({len(idle)} polls)")
        print(f"/healthz under 4 clients ({queries} queries answered, {failed} timed out, in {seconds:g} s): "
              f"p50 {statistics.median(loaded):.1f} ms p99 {p99(loaded):.1f} ms, max {max(loaded):.0f} ms "
              f"({len(loaded)} polls); worst loop lag {loop_lag.worst_lag_ms(log, start, end):.0f} ms; CPU used "
              + ", ".join(f"{n} {u / wall:.0%}" for n, u in zip(named, used, strict=True)))
        print(f"the API process waited for a CPU {waited_idle * 1000:.0f} ms idle, "
              f"{waited_loaded * 1000:.0f} ms loaded")
        print(f"ratio p99 loaded / idle: {ratio:.1f}x (target <= {TARGET_RATIO:g}x)", flush=True)

        if logins:
            quiet = time.time()
            await asyncio.sleep(3)  # the machine's own noise: the probe's worst lag with no request at all
            print(f"loop lag idle (3 s, no request): worst {loop_lag.worst_lag_ms(log, quiet, time.time()):.1f} ms")
            worst, failed = await login_lag(base, slug, emails * 5, log, rounds=5)
            print(f"loop lag during 20 concurrent logins: worst {max(worst):.1f} ms, median of 5 rounds "
                  f"{statistics.median(worst):.1f} ms, {failed} of 100 logins failed "
                  f"(target < {TARGET_LAG_MS:g} ms)", flush=True)
        return ratio
    finally:
        api.terminate()
        api.wait(timeout=30)


async def run(workers: int, seconds: float, arms: list[str]) -> None:
    log = DATA_DIR / "loop-lag.log"
    async with bench_app() as b:
        slug, admin, emails = await setup(b)
        env = {
            **os.environ,
            "DATABASE_URL": b.ep.database_url,
            "REDIS_URL": b.ep.redis_url,
            "CRM_RATE_LIMIT_PER_MINUTE": "10000000",
            "CRM_LOGIN_LIMIT_PER_ACCOUNT": "1000000",
            "CRM_LOGIN_LIMIT_PER_ADDRESS": "1000000",
            "CRM_LOGIN_LIMIT_PER_WORKSPACE": "1000000",
            "CRM_LOOP_LAG_LOG": str(log),
        }
        print(f"workspace: 1,000 contacts, 50,000 activities; API workers: {workers}; cost budget {DEFAULT_MAX_COST}",
              flush=True)
        ratios = {arm: await one_arm(arm, env, workers, seconds, admin, slug, emails, log, logins=i == 0)
                  for i, arm in enumerate(arms)}
        print("\n" + "; ".join(f"{arm}: p99 ratio {r:.1f}x" for arm, r in ratios.items())
              + f" (target <= {TARGET_RATIO:g}x)", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--arms", default="process,in-process", help=f"comma-separated, of: {', '.join(ARMS)}")
    parser.add_argument("--poll", metavar="BASE_URL", help=argparse.SUPPRESS)  # the poller's own process
    parser.add_argument("--load", metavar="BASE_URL", help=argparse.SUPPRESS)  # the load clients' own process
    parser.add_argument("--clients", type=int, default=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.poll:
        print(json.dumps(poll_health_here(args.poll, args.seconds)))
    elif args.load:
        given = json.loads(sys.stdin.readline())
        print(json.dumps(asyncio.run(send_load(args.load, given["token"], given["body"], args.seconds, args.clients))))
    else:
        chosen = args.arms.split(",")
        assert set(chosen) <= set(ARMS), f"--arms takes {', '.join(ARMS)}"
        asyncio.run(run(args.workers, args.seconds, chosen))
