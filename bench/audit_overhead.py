"""Audit overhead benchmark: `contacts` list requests of a restricted (sales) user, audit flush on versus off.

Run with `.venv/bin/python bench/audit_overhead.py [--reps N]`. The app runs in-process (the ASGI app over
httpx, as the tests do) on `DATABASE_URL` / `REDIS_URL` when set, else on embedded servers under a throwaway
data dir `.data/bench-<rand>`. A workspace with 1,000 contacts (bulk-inserted with the workspace cipher) owned
by a sales rep; the rep lists them selecting 9 fields, 6 of them PII (HKID and salary masked), so every
request audits one READ event per contact.

"off" replaces `db.audit.flush` with a no-op *in this process only* (the events are still collected, not
written): the product has no switch for it. On and off requests are interleaved (the order alternates every
repetition) and each is timed from request to parsed response. Prints median times and the ratio; the target
is <= 1.10x. `first` is capped at 200 by the API (a page of 1,000 is refused), so "1000" reads all contacts
in 5 pages of 200. Every database created is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RUN = secrets.token_hex(4)
DATA_DIR = ROOT / ".data" / f"bench-{RUN}"
os.environ["CRM_DB_PREFIX"] = f"crmbench{RUN}"
os.environ["CRM_DATA_DIR"] = str(DATA_DIR)
os.environ.setdefault("CRM_SECRET_KEY", "bench-secret-" + secrets.token_urlsafe(24))
os.environ.setdefault("CRM_MASTER_KEY", "bench-master-" + secrets.token_urlsafe(24))
os.environ.setdefault("CRM_ENV", "development")

import httpx  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

import db.audit  # noqa: E402
import main  # noqa: E402
from db.models import Contact  # noqa: E402
from db.models.meta import audit_events  # noqa: E402
from db.queries import contacts as contact_q  # noqa: E402
from db.sessions import database_url, session_factory  # noqa: E402
from db.tenancy import Tenant  # noqa: E402
from resolvers import workspaces  # noqa: E402
from resolvers.runtime import Runtime  # noqa: E402
from schema.ids import from_global  # noqa: E402
from settings import Settings  # noqa: E402

CONTACTS = 1_000
PASSWORD = "bench password 2026"
FIELDS = "id firstName lastName email phone hkid salaryMasked company stage"
LIST = (
    "query($first:Int!,$after:String){contacts(first:$first,after:$after){"
    f"edges{{node{{{FIELDS}}}}} pageInfo{{hasNextPage endCursor}}}}}}"
)

_real_flush = db.audit.flush


async def _no_flush(session: Any, buffer: db.audit.AuditBuffer) -> int:
    """The "off" side: drop the buffered events instead of writing them (benchmark only)."""
    count = len(buffer)
    buffer.clear()
    return count


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    async def login(self, slug: str, email: str) -> str:
        data = await self.gql(
            "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}",
            {"w": slug, "e": email, "p": PASSWORD},
        )
        return str(data["login"]["token"])


async def setup(runtime: Runtime, client: Client, region: str) -> tuple[Tenant, str]:
    """A workspace, a sales rep in a team, and 1,000 contacts owned by the rep; returns the rep's token."""
    slug = f"bench-{secrets.token_hex(3)}"
    admin_email = f"admin-{secrets.token_hex(3)}@example.com"
    tenant = await workspaces.create_workspace(
        runtime.directory, workspaces.NewWorkspace(slug, "Audit bench", region, admin_email, PASSWORD)
    )
    admin = await client.login(slug, admin_email)
    team = (await client.gql('mutation{createTeam(name:"east"){id}}', token=admin))["createTeam"]["id"]
    rep_email = f"rep-{secrets.token_hex(3)}@example.com"
    user = {"email": rep_email, "password": PASSWORD, "displayName": "Rep", "roles": ["sales"], "teamId": team}
    rep = (await client.gql("mutation($i:UserInput!){createUser(input:$i){id}}", {"i": user}, admin))["createUser"]
    owner, team_id = from_global(rep["id"])[1], from_global(team)[1]
    rows = []
    for i in range(CONTACTS):
        contact_id = uuid.uuid4()
        values = {
            "firstName": f"Tai Man {i}",
            "lastName": "Chan",
            "email": f"chan{i}@example.com",
            "phone": f"+8529{i:07d}",
            "hkid": "A123456(3)",
            "salary": 30_000 + i,
            "dateOfBirth": date(1980, 1, 1 + i % 28),
            "company": "Acme Trading",
            "owner": owner,
            "team": team_id,
        }
        rows.append({"id": contact_id, "custom_fields": {}, **contact_q.encode(values, contact_id, tenant.cipher)})
    async with session_factory(tenant.engine)() as session, session.begin():
        await session.execute(insert(Contact), rows)
    return tenant, await client.login(slug, rep_email)


async def read_all(client: Client, token: str, first: int) -> int:
    """Read `first` contacts: one request, or pages of 200 when `first` is above the API's cap."""
    page = min(first, 200)
    seen, after = 0, None
    while seen < first:
        data = await client.gql(LIST, {"first": page, "after": after}, token)
        edges = data["contacts"]["edges"]
        seen += len(edges)
        if not data["contacts"]["pageInfo"]["hasNextPage"]:
            break
        after = data["contacts"]["pageInfo"]["endCursor"]
    return seen


async def timed(work: Callable[[], Awaitable[int]], expected: int) -> float:
    gc.collect()
    started = time.perf_counter()
    got = await work()
    elapsed = time.perf_counter() - started
    if got != expected:
        raise RuntimeError(f"read {got} contacts, expected {expected}")
    return elapsed


async def read_events(tenant: Tenant) -> int:
    async with tenant.engine.connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(audit_events).where(audit_events.c.action == "READ"))
            or 0
        )


async def bench(settings: Settings, ep: main.Endpoints, reps: int) -> float:
    runtime = await main.open_runtime(settings, ep)
    runtime.versions.start()
    app = main.create_app(settings, ep)

    async def with_state(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["state"] = {"runtime": runtime}
        await app(scope, receive, send)

    worst = 0.0
    try:
        transport = httpx.ASGITransport(app=with_state, client=("10.0.0.1", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as http:
            client = Client(http)
            tenant, token = await setup(runtime, client, settings.default_region)
            try:
                await client.gql(LIST, {"first": 1000}, token)
                print("contacts(first: 1000) in one request: accepted")
            except RuntimeError as exc:
                code = exc.args[0][0]["extensions"]["code"]
                print(f"contacts(first: 1000) in one request: refused ({code}, at most 200 a page); 5 pages of 200")
            for first in (100, 1000):
                for _ in range(3):  # warm-up: caches, prepared statements, pools
                    for flush in (_real_flush, _no_flush):
                        db.audit.flush = flush
                        await read_all(client, token, first)
                on: list[float] = []
                off: list[float] = []
                for rep in range(reps):
                    order = ((_real_flush, on), (_no_flush, off))
                    for flush, times in order if rep % 2 == 0 else reversed(order):
                        db.audit.flush = flush
                        times.append(await timed(lambda f=first: read_all(client, token, f), first))  # type: ignore[misc]
                db.audit.flush = _real_flush
                on_ms, off_ms = statistics.median(on) * 1000, statistics.median(off) * 1000
                ratio = on_ms / off_ms
                worst = max(worst, ratio)
                verdict = "ok" if ratio <= 1.10 else "above target"
                print(
                    f"audit on/off first={first}: {on_ms:.1f} ms / {off_ms:.1f} ms = {ratio:.2f}x "
                    f"(median of {reps}; target <= 1.10x: {verdict})",
                    flush=True,
                )
            db.audit.flush = _real_flush
            before = await read_events(tenant)
            await read_all(client, token, 100)
            written = await read_events(tenant) - before
            async with session_factory(tenant.engine)() as session:
                chain = await db.audit.verify_chain(session)
            print(
                f"check: one request of 100 wrote {written} READ events; chain ok={chain.ok} "
                f"({chain.checked_batches} batches)"
            )
    finally:
        db.audit.flush = _real_flush
        await main.close_runtime(runtime)
        await drop_databases(ep, settings.db_prefix)
    return worst


async def drop_databases(ep: main.Endpoints, prefix: str) -> None:
    for server in set(ep.regions.values()):
        engine = create_async_engine(database_url(server, "postgres"), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            names = (
                (
                    await conn.execute(
                        text("select datname from pg_database where datname like :p"), {"p": f"{prefix}\\_%"}
                    )
                )
                .scalars()
                .all()
            )
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per side and page size")
    args = parser.parse_args()
    settings = Settings()
    try:
        with main.endpoints(settings) as ep:
            worst = asyncio.run(bench(settings, ep, args.reps))
    finally:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    return 0 if worst <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(run())
