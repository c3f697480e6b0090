"""Foundation benchmark: 100 and 1,000 contacts over HTTP (GraphQL, authz, decryption, audit) vs. the same
rows fetched by raw asyncpg, in one run. Pages hold at most 200 contacts (the contract), so 1,000 contacts
are 5 requests following `endCursor`. Prints medians and the ratio.

    .venv/bin/python bench/contacts_http.py
"""

from __future__ import annotations

import asyncio

import asyncpg
from harness import bench_app, bulk_contacts, timed

from db.sessions import database_url

QUERY = """query($n:Int!,$a:String){contacts(first:$n,after:$a){pageInfo{endCursor}edges{node{id firstName
 lastName email phone hkid salary dateOfBirth company stage}}}}"""


async def fetch(b: object, token: str, total: int) -> int:
    """Every contact up to `total`, in pages of at most 200."""
    seen, after = 0, None
    while seen < total:
        body = await b.gql(QUERY, {"n": min(200, total - seen), "a": after}, token)  # type: ignore[attr-defined]
        page = body["data"]["contacts"]
        seen += len(page["edges"])
        after = page["pageInfo"]["endCursor"]
    return seen
REPEAT = 15


async def run() -> None:
    async with bench_app() as b:
        tenant, admin = await b.workspace()
        await bulk_contacts(tenant, 1000)
        dsn = database_url(tenant.server_url, tenant.database_name).set(drivername="postgresql")
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            for n in (100, 1000):
                assert await fetch(b, admin, n) == n

                async def http(n: int = n) -> None:
                    await fetch(b, admin, n)

                async def raw(n: int = n) -> None:
                    await conn.fetch(
                        "select id, first_name, last_name, email, phone, hkid_enc, salary_enc, date_of_birth_enc,"
                        " company, stage from contacts order by created_at, id limit $1", n)

                http_ms, raw_ms = await timed(http, REPEAT), await timed(raw, REPEAT)
                print(f"{n} contacts over HTTP: {http_ms:.1f} ms; raw asyncpg: {raw_ms:.2f} ms; "
                      f"ratio {http_ms / raw_ms:.1f}x", flush=True)
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(run())
