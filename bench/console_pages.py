"""Console render times on the demo workspace (200 contacts, 1,000 activities): each page's median
milliseconds, side by side with the GraphQL query that reads the same data for the same user (paired,
interleaved samples), and their ratio. The console adds HTML rendering and a cookie session; the data work is
the same resolvers.

    .venv/bin/python bench/console_pages.py
"""

from __future__ import annotations

import asyncio
import re

from harness import bench_app, paired

from resolvers.workspaces import demo

REPEAT = 15
PAGES: tuple[tuple[str, str], ...] = (
    ("/admin/", "{dataRequests(status:OPEN,first:50){totalCount edges{node{id requesterName dueAt daysRemaining}}}"
                " retentionPolicies{lastRunAt} auditChain{ok} supportGrants{active expiresAt} workspace{status}}"),
    ("/admin/requests", "{dataRequests(status:OPEN,first:200){totalCount edges{node{id requesterName kind receivedAt"
                        " dueAt daysRemaining}}}}"),
    ("/admin/contacts?by=name&q=Chan", '{contacts(first:50,filter:{search:"Chan"}){edges{node{id firstName'
                                      " lastName email phone hkid company}}}}"),
    ("/admin/retention", "{retentionPolicies{id name entity condition afterDays action enabled lastRunAt}}"),
    ("/admin/audit", "{auditEvents(first:100){totalCount edges{node{occurredAt actorId action entityType entityId"
                     " fields}}}}"),
    ("/admin/permissions", "{policies{role resource action effect scope} roles}"),
    ("/admin/inventory", "{fieldDefinitions{entity name type piiCategory purpose} piiInventory{entity field"
                         " recordsWithValue} en: privacyNotice(language:EN){title} zh: privacyNotice(language:ZH)"
                         "{title}}"),
    ("/admin/workspace", "{workspace{slug name region status} supportGrants{reason active}}"),
)


async def run() -> None:
    async with bench_app() as b:
        await demo.ensure_demo(b.runtime.directory)
        email = f"admin@{demo.SLUG}.example.com"
        token = await b.gql(
            "mutation($w:String!,$e:String!,$p:String!){login(workspace:$w,email:$e,password:$p){token}}",
            {"w": demo.SLUG, "e": email, "p": demo.PASSWORD},
        )
        bearer = token["data"]["login"]["token"]
        form = await b.http.get("/admin/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = await b.http.post("/admin/login", data={"csrf": csrf.group(1), "workspace": demo.SLUG,
                                                            "email": email, "password": demo.PASSWORD})
        assert signed_in.status_code == 303, signed_in.text
        print(f"{'page':<34} {'console ms':>10} {'GraphQL ms':>10} {'ratio':>6}")
        for path, query in PAGES:
            async def console(path: str = path) -> None:
                response = await b.http.get(path)
                assert response.status_code == 200, (path, response.text[:500])

            async def graphql(query: str = query) -> None:
                body = await b.gql(query, token=bearer)
                assert not body.get("errors"), body["errors"]

            page_ms, gql_ms = await paired(console, graphql, REPEAT)
            print(f"{path:<34} {page_ms:>10.1f} {gql_ms:>10.1f} {page_ms / gql_ms:>6.2f}")


if __name__ == "__main__":
    asyncio.run(run())
