"""Authorization benchmark, in one run: 100 and 1,000 contacts read by a restricted role (record scope in SQL,
conditional field rules, masks, denials) vs. the same requests with authorization bypassed *in this process
only* (monkeypatched here; no bypass exists in the product); then the policy-reload latency between two
independent runtimes (two "processes": own Redis connections, own policy caches).

    .venv/bin/python bench/authz_overhead.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from harness import Bench, bench_app, bulk_contacts, paired
from sqlalchemy import true

from authz.access import Access, FieldPlan
from authz.decisions import FieldRuling
from authz.fields import FieldSpec
from authz.rules import Effect
from schema.ids import from_global

# The fields a client of this role asks for: clear (names, phone), conditional (email: clear on own rows,
# masked elsewhere) and masked (hkid, salary). DENIED_QUERY adds a field the role may not read, which costs a
# DENIED audit event per record on top (the contract asks for one): printed as a separate line.
FIELDS = "id firstName lastName email phone hkid salaryMasked company stage"
QUERY = "query($n:Int!,$a:String){contacts(first:$n,after:$a){pageInfo{endCursor}edges{node{" + FIELDS + "}}}}"
DENIED_QUERY = QUERY.replace("company", "company dateOfBirth")
RULES = [  # a restricted role: its team's contacts, a conditional email rule, masks and denials
    ("contact", "read", "allow", "team"),
    ("pii:name", "read", "allow", "all"),
    ("pii:contact", "read", "allow", "all"),
    ("contact.email", "read", "allow", "own"),
    ("contact.email", "read", "mask", "all"),
    ("pii:government_id", "read", "mask", "all"),
    ("pii:financial", "read", "mask", "all"),
]
REPEAT = 21


async def fetch(b: Bench, token: str, total: int, query: str = QUERY) -> int:
    seen, after = 0, None
    while seen < total:
        body = await b.gql(query, {"n": min(200, total - seen), "a": after}, token)
        page = body["data"]["contacts"]
        seen += len(page["edges"])
        after = page["pageInfo"]["endCursor"]
    return seen


class Bypass:
    """Replaces the record filter and the field plan with allow-everything, for the comparison arm only."""

    def __enter__(self) -> None:
        self.saved = (Access.record_filter, Access.plan, Access.require_readable)

        def plan(self: Access, entity: str, names: Any, action: str = "read") -> FieldPlan:
            specs = [self.table.registry.get(entity, n) or FieldSpec(entity, n, "String") for n in names]
            return FieldPlan(entity, tuple(FieldRuling(s, action, (), Effect.ALLOW) for s in specs))

        Access.record_filter = lambda self, entity, action="read": true()  # type: ignore[method-assign]
        Access.plan = plan  # type: ignore[method-assign]
        Access.require_readable = lambda self, *a: None  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        Access.record_filter, Access.plan, Access.require_readable = self.saved  # type: ignore[method-assign]


async def add_rule(b: Bench, admin: str, role: str, resource: str, action: str, effect: str, scope: str) -> None:
    await b.gql(
        "mutation($r:PolicyRuleInput!){addPolicy(rule:$r){role}}",
        {"r": {"role": role, "resource": resource, "action": action, "effect": effect.upper(), "scope": scope}},
        admin,
    )


async def reload_latency(b: Bench, admin: str, token: str, other: Any) -> list[float]:
    """Change a rule through this runtime; poll the other runtime's app until it enforces the change."""
    samples = []
    for i in range(5):
        field = ("contact.company", "contact.stage")[i % 2]
        effect = "deny"
        start = time.perf_counter()
        await add_rule(b, admin, "analyst", field, "read", effect, "all")
        name = field.split(".")[1]
        while True:
            body = await other.gql(f"{{contacts(first:1){{edges{{node{{id {name}}}}}}}}}", None, token)
            if body.get("errors"):
                break
            await asyncio.sleep(0.005)
        samples.append((time.perf_counter() - start) * 1000)
        await b.gql(
            "mutation($r:PolicyRuleInput!){removePolicy(rule:$r)}",
            {"r": {"role": "analyst", "resource": field, "action": "read", "effect": "DENY", "scope": "all"}},
            admin,
        )
        await asyncio.sleep(1.2)
    return samples


async def run() -> None:
    async with bench_app() as b:
        tenant, admin = await b.workspace()
        team = (await b.gql('mutation{createTeam(name:"Bench team"){id}}', None, admin))["data"]["createTeam"]["id"]
        for resource, action, effect, scope in RULES:
            await add_rule(b, admin, "analyst", resource, action, effect, scope)
        _, token = await b.user(tenant, admin, ["analyst"], team)
        team_id = from_global(team)[1]
        await bulk_contacts(tenant, 1000, team=team_id)
        bypass = Bypass()

        def toggle(on: bool) -> None:
            bypass.__enter__() if on else bypass.__exit__()

        for n in (100, 1000):
            assert await fetch(b, token, n) == n
            with_authz, without = await paired(
                lambda n=n: fetch(b, token, n), lambda n=n: fetch(b, token, n), REPEAT, around=toggle
            )
            print(
                f"authz on/off, {n} contacts: {with_authz:.1f} ms / {without:.1f} ms = {with_authz / without:.2f}x",
                flush=True,
            )
        with_denied, without = await paired(
            lambda: fetch(b, token, 1000, DENIED_QUERY),
            lambda: fetch(b, token, 1000, DENIED_QUERY),
            REPEAT,
            around=toggle,
        )
        print(
            f"authz on/off, 1000 contacts, a denied field selected too: {with_denied:.1f} ms / {without:.1f} ms"
            f" = {with_denied / without:.2f}x",
            flush=True,
        )
        async with bench_app(owner=False) as other:
            samples = await reload_latency(b, admin, token, other)
        print(
            f"policy reload across runtimes: median {statistics.median(samples):.0f} ms, "
            f"max {max(samples):.0f} ms (contract: <= 2000 ms)",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(run())
