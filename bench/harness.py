"""Benchmark harness: the app in-process on real servers, a workspace with bulk data, timed GraphQL calls.

Uses DATABASE_URL / REDIS_URL when set, else embedded servers under a throwaway data dir. Every
database it creates is dropped at the end.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = secrets.token_hex(4)
DATA_DIR = ROOT / ".data" / f"bench-{RUN}"
os.environ["CRM_DB_PREFIX"] = f"crmb{RUN}"
os.environ["CRM_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("CRM_SECRET_KEY", "bench-secret-" + secrets.token_urlsafe(16))
os.environ.setdefault("CRM_MASTER_KEY", "bench-master-" + secrets.token_urlsafe(16))

import httpx  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

import main  # noqa: E402
from db import tenancy  # noqa: E402
from db.models import Activity, Contact  # noqa: E402
from db.queries import contacts as contact_q  # noqa: E402
from db.sessions import session_factory  # noqa: E402
from db.tenancy import Tenant  # noqa: E402
from resolvers.contacts.validation import hkid_check_digit  # noqa: E402
from resolvers.runtime import Runtime  # noqa: E402
from resolvers.workspaces import create as workspaces  # noqa: E402
from settings import Settings  # noqa: E402

PASSWORD = "bench password 2026"


class Bench:
    def __init__(self, settings: Settings, ep: main.Endpoints, runtime: Runtime, http: httpx.AsyncClient) -> None:
        self.settings, self.ep, self.runtime, self.http = settings, ep, runtime, http

    async def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        body = r.json()
        if body.get("errors") and not body.get("data"):
            raise RuntimeError(body["errors"])
        return body

    async def workspace(self) -> tuple[Tenant, str]:
        slug = f"bench-{secrets.token_hex(3)}"
        email = f"admin-{secrets.token_hex(3)}@example.com"
        tenant = await workspaces.create_workspace(
            self.runtime.directory,
            workspaces.NewWorkspace(slug, "Bench", self.settings.default_region, email, PASSWORD),
        )
        return tenant, await self.login(slug, email)

    async def login(self, slug: str, email: str) -> str:
        body = await self.gql(
            "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}",
            {"w": slug, "e": email, "p": PASSWORD},
        )
        return str(body["data"]["login"]["token"])

    async def user(self, tenant: Tenant, admin: str, roles: list[str], team_id: str | None) -> tuple[str, str]:
        email = f"u-{secrets.token_hex(3)}@example.com"
        body = await self.gql(
            "mutation($i:UserInput!){createUser(input:$i){id}}",
            {
                "i": {
                    "email": email,
                    "password": PASSWORD,
                    "displayName": "Bench User",
                    "roles": roles,
                    "teamId": team_id,
                }
            },
            admin,
        )
        return body["data"]["createUser"]["id"], await self.login(tenant.slug, email)


async def bulk_contacts(
    tenant: Tenant, count: int, *, owner: uuid.UUID | None = None, team: uuid.UUID | None = None, batch: int = 2000
) -> None:
    """Insert `count` contacts with every PII field filled (encrypted columns encrypted)."""
    now = datetime.now(UTC)
    async with session_factory(tenant.engine)() as session, session.begin():
        rows = []
        for i in range(count):
            cid = uuid.uuid4()
            digits = f"{i % 10**6:06d}"
            values = {
                "firstName": f"Given{i}",
                "lastName": f"Family{i}",
                "email": f"person{i}@example.hk",
                "phone": f"+8529{i % 10**7:07d}",
                "hkid": f"A{digits}({hkid_check_digit('A', digits)})",
                "taxId": f"TX-{i:08d}",
                "dateOfBirth": date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                "salary": 20000 + i,
                "company": f"Company {i % 97}",
                "jobTitle": "Manager",
                "bio": "Likes dim sum.",
                "linkedinUrl": f"https://www.linkedin.com/in/person{i}",
                "stage": "LEAD",
                "vip": i % 10 == 0,
                "owner": owner,
                "team": team,
            }
            created = now - timedelta(seconds=count - i)
            rows.append(
                {
                    "id": cid,
                    "custom_fields": {},
                    "created_at": created,
                    "updated_at": created,
                    **contact_q.encode(values, cid, tenant.cipher),
                }
            )
            if len(rows) >= batch:
                await session.execute(insert(Contact), rows)
                rows = []
        if rows:
            await session.execute(insert(Contact), rows)


async def bulk_activities(tenant: Tenant, contact_id: uuid.UUID, count: int, *, batch: int = 2000) -> None:
    """Insert `count` activities of one contact (subjects, bodies, every fifth a purchase with an amount)."""
    now = datetime.now(UTC)
    kinds = ("NOTE", "EMAIL", "CALL", "MEETING", "PURCHASE")
    rows = [
        {
            "id": uuid.uuid4(),
            "contact_id": contact_id,
            "kind": kinds[i % 5],
            "subject": f"Subject {i}",
            "body": f"Discussed order {i} and delivery to Kwun Tong.",
            "private": False,
            "amount_cents": 10_000 + i if i % 5 == 4 else None,
            "occurred_at": now - timedelta(minutes=i),
            "created_at": now - timedelta(minutes=i),
        }
        for i in range(count)
    ]
    async with session_factory(tenant.engine)() as session, session.begin():
        for start in range(0, count, batch):
            await session.execute(insert(Activity), rows[start : start + batch])


async def copy_activities(tenant: Tenant, count: int, *, batch: int = 50_000) -> None:
    """`count` activities spread over every contact of the workspace, written with COPY (millions in seconds)."""
    kinds = ("NOTE", "EMAIL", "CALL", "MEETING", "PURCHASE")
    columns = ["id", "contact_id", "kind", "subject", "body", "private", "amount_cents", "occurred_at", "created_at"]
    now = datetime.now(UTC)
    async with tenant.engine.connect() as conn:
        ids = list((await conn.execute(text("select id from contacts order by created_at"))).scalars())
        apg = (await conn.get_raw_connection()).driver_connection
        assert apg is not None and ids
        for start in range(0, count, batch):
            records = [
                (
                    uuid.uuid4(),
                    ids[i % len(ids)],
                    kinds[i % 5],
                    f"Subject {i}",
                    f"Discussed order {i} and delivery to Kwun Tong.",
                    False,
                    10_000 + i if i % 5 == 4 else None,
                    now - timedelta(seconds=count - i),
                    now - timedelta(seconds=count - i),
                )
                for i in range(start, min(start + batch, count))
            ]
            await apg.copy_records_to_table("activities", records=records, columns=columns)
        await conn.commit()


async def _round(
    a: Callable[[], Awaitable[Any]], b: Callable[[], Awaitable[Any]], i: int, around: Callable[[bool], Any] | None
) -> dict[bool, float]:
    """One interleaved round: milliseconds of `a` (False) and `b` (True), in the order a, b on even rounds and
    b, a on odd ones; `around(True)` / `around(False)` bracket the `b` sample."""
    pair: dict[bool, float] = {}
    for second in (False, True) if i % 2 == 0 else (True, False):
        if second and around:
            around(True)
        gc.collect()
        start = time.perf_counter()
        await (b if second else a)()
        pair[second] = (time.perf_counter() - start) * 1000
        if second and around:
            around(False)
    return pair


async def paired(
    a: Callable[[], Awaitable[Any]],
    b: Callable[[], Awaitable[Any]],
    repeat: int,
    around: Callable[[bool], Any] | None = None,
) -> tuple[float, float]:
    """Median milliseconds of `a` and `b`, measured interleaved (a, b, b, a, ...) so that load changes on the
    machine hit both arms alike. `around(True)` is called before each `b` sample and `around(False)` after."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    for i in range(repeat + 1):
        pair = await _round(a, b, i, around)
        if i > 0:  # the first round warms up
            for second, elapsed in pair.items():
                samples[second].append(elapsed)
    return statistics.median(samples[False]), statistics.median(samples[True])


@dataclass(frozen=True)
class PairedRatio:
    """Medians of two interleaved arms, the median of their per-round ratios, and its 95% bootstrap interval."""

    a_ms: float
    b_ms: float
    ratio: float
    low: float
    high: float
    rounds: int

    def __str__(self) -> str:
        return f"{self.ratio:.3f}x (95% CI {self.low:.3f}-{self.high:.3f}, {self.rounds} rounds)"


def _bootstrap(ratios: list[float], draws: int = 2000) -> tuple[float, float]:
    rng = random.Random(7)  # a fixed seed: the interval is a function of the samples only
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(draws))
    return medians[int(draws * 0.025)], medians[int(draws * 0.975) - 1]


def median_interval(ratios: list[float]) -> tuple[float, float, float]:
    """The median of per-round ratios and its 95% bootstrap interval: (median, low, high)."""
    low, high = _bootstrap(ratios)
    return statistics.median(ratios), low, high


async def paired_ratio(
    a: Callable[[], Awaitable[Any]],
    b: Callable[[], Awaitable[Any]],
    *,
    precision: float,
    min_rounds: int = 15,
    max_rounds: int = 151,
    around: Callable[[bool], Any] | None = None,
) -> PairedRatio:
    """Like `paired`, but samples until the 95% interval of the a/b ratio is narrower than `precision` on each
    side (or `max_rounds`), so the noise of the figure is known and below the margin it is compared with."""
    samples: dict[bool, list[float]] = {False: [], True: []}
    ratios: list[float] = []
    low = high = 0.0
    for i in range(max_rounds + 1):
        pair = await _round(a, b, i, around)
        if i == 0:
            continue  # the first round warms up
        samples[False].append(pair[False])
        samples[True].append(pair[True])
        ratios.append(pair[False] / pair[True])
        if len(ratios) >= min_rounds and len(ratios) % 5 == 0:
            median, low, high = median_interval(ratios)
            if high - median < precision and median - low < precision:
                break
    median, low, high = median_interval(ratios)
    return PairedRatio(
        statistics.median(samples[False]), statistics.median(samples[True]), median, low, high,
        len(ratios),
    )


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int) -> float:
    """Median milliseconds of `repeat` calls (after one warm-up)."""
    await fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


@asynccontextmanager
async def bench_app(*, owner: bool = True) -> AsyncIterator[Bench]:
    """`owner=False` for a second runtime on the same servers: it leaves the databases alone."""
    settings = Settings()
    with main.endpoints(settings) as ep:
        runtime = await main.open_runtime(settings, ep)
        runtime.versions.start()
        app = main.create_app(settings, ep)

        async def with_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["state"] = {"runtime": runtime}
            await app(scope, receive, send)

        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=with_state), base_url="http://bench", timeout=120
            ) as http:
                yield Bench(settings, ep, runtime, http)
        finally:
            await main.close_runtime(runtime)
            if owner:
                await drop_databases(ep, settings.db_prefix)
    if owner:
        shutil.rmtree(DATA_DIR, ignore_errors=True)


async def drop_databases(ep: main.Endpoints, prefix: str) -> None:
    for server in set(ep.regions.values()):
        await tenancy.drop_databases_with_prefix(server, prefix)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_api(env: dict[str, str], port: int, *, workers: int = 1) -> subprocess.Popen[bytes]:
    """`python main.py serve` as its own process on loopback (same databases and Redis as `env` names)."""
    command = [sys.executable, str(ROOT / "main.py"), "serve", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


async def wait_http(url: str, *, method: str = "GET", expect_any: bool = False, seconds: float = 60) -> None:
    """Until `url` answers (200, or any status with `expect_any`), at most `seconds`."""
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                r = await client.request(method, url)
                if expect_any or r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {seconds} s")
            await asyncio.sleep(0.2)
