"""Privacy operations benchmark: `eraseContact` of one contact with 1,000 activities (median of 5, with its SQL
statement count), and retention runs over 100,000 contacts (dry run and real run, ARCHIVE then ANONYMISE) in
rows per second. Everything goes over HTTP (GraphQL, authz, audit) against real PostgreSQL.

    .venv/bin/python bench/privacy_ops.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from harness import Bench, bench_app, bulk_activities, bulk_contacts
from sqlalchemy import event, select, text

from db.models import Contact
from db.sessions import session_factory
from db.tenancy import Tenant
from schema.ids import to_global

ERASE = "mutation($id:ID!){ eraseContact(id:$id, reason:\"benchmark\"){ id firstName anonymisedAt } }"
RUN = "mutation($p:[ID!],$d:Boolean!){ runRetention(dryRun:$d, policyIds:$p){ affected { count } } }"
POLICY = "mutation($i:RetentionPolicyInput!){ createRetentionPolicy(input:$i){ id } }"
ERASURES = 5
ACTIVITIES = 1_000
CONTACTS = 100_000


class StatementCounter:
    def __init__(self, tenant: Tenant) -> None:
        self.count = 0
        event.listen(tenant.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1


async def contact_ids(tenant: Tenant) -> list[Any]:
    async with session_factory(tenant.engine)() as session:
        return list((await session.execute(select(Contact.id).order_by(Contact.created_at))).scalars())


async def erasure(b: Bench) -> None:
    tenant, admin = await b.workspace()
    await bulk_contacts(tenant, ERASURES)
    ids = await contact_ids(tenant)
    for contact_id in ids:
        await bulk_activities(tenant, contact_id, ACTIVITIES)
    counter = StatementCounter(tenant)
    samples, statements = [], []
    for contact_id in ids:
        before = counter.count
        start = time.perf_counter()
        body = await b.gql(ERASE, {"id": to_global("Contact", contact_id)}, admin)
        samples.append((time.perf_counter() - start) * 1000)
        statements.append(counter.count - before)
        assert body["data"]["eraseContact"]["firstName"] == "Erased", body
    print(f"eraseContact, one contact with {ACTIVITIES:,} activities: median {statistics.median(samples):.1f} ms "
          f"(min {min(samples):.1f}, max {max(samples):.1f}, {ERASURES} contacts), "
          f"{statistics.median(statements):.0f} SQL statements per request", flush=True)


async def retention(b: Bench) -> None:
    tenant, admin = await b.workspace()
    start = time.perf_counter()
    await bulk_contacts(tenant, CONTACTS)
    async with session_factory(tenant.engine)() as session, session.begin():
        await session.execute(text("UPDATE contacts SET stage = 'COLD', last_activity_at = now() - interval '3 years'"))
        await session.execute(text("ANALYZE contacts"))
    print(f"(setup: {CONTACTS:,} contacts in {time.perf_counter() - start:.1f} s)", flush=True)
    policies = {}
    for name, action in (("Archive cold", "ARCHIVE"), ("Anonymise cold", "ANONYMISE")):
        given = {"name": name, "entity": "contact", "condition": "stage = COLD and lastActivityAt older than 2 years",
                 "afterDays": 730, "action": action}
        policies[action] = (await b.gql(POLICY, {"i": given}, admin))["data"]["createRetentionPolicy"]["id"]
    for label, action, dry in (
        ("dry run, ARCHIVE", "ARCHIVE", True),
        ("ARCHIVE", "ARCHIVE", False),
        ("dry run, ANONYMISE", "ANONYMISE", True),
        ("ANONYMISE", "ANONYMISE", False),
    ):
        start = time.perf_counter()
        body = await b.gql(RUN, {"p": [policies[action]], "d": dry}, admin)
        seconds = time.perf_counter() - start
        count = body["data"]["runRetention"]["affected"][0]["count"]
        assert count == CONTACTS, body
        how = "done in a savepoint, rolled back" if dry else "committed, every row audited with its policy"
        print(f"retention {label} over {CONTACTS:,} contacts: {seconds:.2f} s = {count / seconds:,.0f} rows/s "
              f"(one runRetention request; {how})", flush=True)


async def run() -> None:
    async with bench_app() as b:
        await erasure(b)
        await retention(b)


if __name__ == "__main__":
    asyncio.run(run())
