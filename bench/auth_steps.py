"""CPU time of each sign-in step of a request, in-process: token check, session/user lookup, MFA check, rate limit.

Sequential `contacts(first:100)` requests (nine fields, as in bench/contacts_http.py) as admin and as a sales
user through the in-process app; each step is wrapped here (this process only) and timed with the thread's CPU
clock (`time.thread_time_ns`: waits for PostgreSQL and Redis are not counted, their client work is). Prints
the median CPU microseconds per request of each step and of the whole request.

    .venv/bin/python bench/auth_steps.py [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

os.environ.setdefault("CRM_RATE_LIMIT_PER_MINUTE", "10000000")

from harness import Bench, bench_app

import schema.context
from resolvers.identity import accounts, credentials, mfa
from resolvers.rate_limits import RequestLimits

FIELDS = "id firstName lastName email phone hkid salary dateOfBirth company"
QUERY = "query($n:Int!){contacts(first:$n){edges{node{" + FIELDS + "}}}}"
spent: dict[str, int] = defaultdict(int)


def timed_sync(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time_ns()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.thread_time_ns() - start

    return wrapper


def timed_async(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time_ns()
        try:
            return await fn(*args, **kwargs)
        finally:
            spent[name] += time.thread_time_ns() - start

    return wrapper


def instrument() -> None:
    credentials.read_token = timed_sync("token (JWT verify + decode)", credentials.read_token)  # type: ignore[assignment]
    accounts.authenticate = timed_async("authenticate (session/user/MFA SQL)", accounts.authenticate)  # type: ignore[assignment]
    mfa.enrolment_pending = timed_async("  of which MFA check", mfa.enrolment_pending)  # type: ignore[assignment]
    RequestLimits.hit = timed_async("rate limit (Redis)", RequestLimits.hit)  # type: ignore[method-assign]
    schema.context.Context._authenticate = timed_async(  # type: ignore[method-assign]
        "all sign-in (Context._authenticate)", schema.context.Context._authenticate
    )


async def run(b: Bench, who: str, token: str, requests: int) -> None:
    per_step: dict[str, list[int]] = defaultdict(list)
    body = {"query": QUERY, "variables": {"n": 100}}
    headers = {"Authorization": f"Bearer {token}"}
    for i in range(requests + 20):
        spent.clear()
        start = time.thread_time_ns()
        r = await b.http.post("/graphql", json=body, headers=headers)
        total = time.thread_time_ns() - start
        assert r.status_code == 200 and len(r.json()["data"]["contacts"]["edges"]) == 100, r.text[:300]
        if i < 20:
            continue  # warm-up
        per_step["whole request"].append(total)
        for name, ns in spent.items():
            per_step[name].append(ns)
    print(f"{who}: median CPU per request over {requests} requests")
    for name, values in per_step.items():
        print(f"  {name:40} {statistics.median(values) / 1000:8.0f} us")


async def main(requests: int) -> None:
    from contacts_http import users

    instrument()
    async with bench_app() as b:
        _slug, _db, admin, rep = await users(b)
        for who, token in (("admin", admin), ("sales", rep)):
            await run(b, who, token, requests)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
