"""Does the API scale with its processes? `serve` vs `serve --workers 2` under wrk, 1 and 16 connections.

The workspace and the query of `bench/contacts_http.py` (1,000 contacts; `contacts(first:100)` with nine fields
as the sales user: record scope, masks, decryption, audit rows, commit). The load comes from wrk (Debian's
`wrk`, written in C), not from Python: on two cores a Python client parsing 16 streams of 30 KB answers takes
the CPU the second worker needs, and the figure would measure the client. For each server (1 worker, then 2
workers) it runs wrk with 1 connection, then with 16, for `--seconds` each after a warm-up, and prints
requests/s, wrk's p50 and p99, the server's CPU per request (its processes, user + system) and non-2xx answers.
Every answer is checked before and after each run to be the compiled path's 100 contacts with no error. Then
the ratio the issue asks for: 16 connections on 2 workers over 1 connection on 1 worker (target >= 1.8x).

    .venv/bin/python bench/scaling.py [--seconds 10]

Without `wrk` on PATH it prints a skip line and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from contacts_http import QUERY, users
from harness import bench_app, free_port, serve_api, wait_http

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float
    non_2xx: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, script: Path, connections: int, seconds: int, server: psutil.Process) -> Run:
    procs = [server, *server.children(recursive=True)]
    before = sum(sum(p.cpu_times()[:2]) for p in procs)
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", str(script), url],
        check=True, capture_output=True, text=True,
    ).stdout
    cpu = sum(sum(p.cpu_times()[:2]) for p in procs) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Run(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        cpu_ms=cpu / max(requests, 1) * 1000,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


async def check(url: str, body: dict[str, object], token: str, *, compiled: bool = True) -> None:
    """One answer as wrk gets it: the compiled path's 100 contacts, no error (a fresh server's first answer comes
    from the plain executor, which teaches the document cache the schema's rules)."""
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.status_code
    assert not compiled or r.headers.get("x-crm-executor") == "compiled", r.headers
    data = r.json()
    assert "errors" not in data and len(data["data"]["contacts"]["edges"]) == 100, data


async def run(seconds: int) -> None:
    if shutil.which("wrk") is None:
        print("bench/scaling.py: skipped, wrk is not on PATH (Debian's package `wrk`)")
        return
    async with bench_app() as b:
        _, _, _, rep = await users(b)
        env = {**os.environ, "DATABASE_URL": b.ep.database_url, "REDIS_URL": b.ep.redis_url,
               "CRM_RATE_LIMIT_PER_MINUTE": "100000000"}
        body = {"query": QUERY, "variables": {"n": 100}}
        results: dict[tuple[int, int], Run] = {}
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "post.lua"
            script.write_text(WRK_SCRIPT.format(body=json.dumps(json.dumps(body)), token=rep))
            for workers in (1, 2):
                port = free_port()
                api = serve_api(env, port, workers=workers)
                url = f"http://127.0.0.1:{port}/graphql"
                try:
                    await wait_http(f"http://127.0.0.1:{port}/healthz")
                    for _ in range(20):  # each on a new connection: every worker gets its first (plain) answers
                        await check(url, body, rep, compiled=False)
                    server = psutil.Process(api.pid)
                    for connections in (1, 16):
                        wrk(url, script, connections, 2, server)  # warm: every worker's caches and pools
                        result = results[workers, connections] = wrk(url, script, connections, seconds, server)
                        await check(url, body, rep)
                        print(
                            f"{workers} worker(s), {connections:2} connection(s): {result.rps:6.1f} req/s, "
                            f"p50 {result.p50_ms:6.1f} ms, p99 {result.p99_ms:6.1f} ms, server CPU "
                            f"{result.cpu_ms:5.1f} ms/req, non-2xx {result.non_2xx}",
                            flush=True,
                        )
                finally:
                    api.terminate()
                    api.wait(timeout=30)
    base = results[1, 1].rps
    ratio = results[2, 16].rps / base
    print(
        f"16 connections on 2 workers / 1 connection on 1 worker: {ratio:.2f}x (target >= 1.8: "
        f"{'met' if ratio >= 1.8 else 'NOT met'}); 16 connections on 1 worker: {results[1, 16].rps / base:.2f}x; "
        f"machine: {os.cpu_count()} CPUs",
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.seconds))
