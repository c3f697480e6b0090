"""Shared helpers of the privacy tests: raw SQL on a workspace database, table dumps, a movable clock."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import text

from resolvers.contacts.validation import hkid_check_digit
from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, Workspace

# Raw tables searched for canary values after an erasure (custom fields live in contacts.custom_fields).
PII_TABLES = ("contacts", "activities", "contact_history", "attachments", "consents", "audit_events")


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    errors = body.get("errors") or []
    assert len(errors) == 1, body
    return errors[0]  # type: ignore[no-any-return]


async def sql(runtime: Runtime, slug: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    tenant = await runtime.directory.get(slug)
    assert tenant is not None
    async with tenant.owner_engine.begin() as conn:  # the owner: tests tamper and alter
        result = await conn.execute(text(statement), params or {})
        return list(result.all()) if result.returns_rows else []


async def dump(runtime: Runtime, slug: str, table: str) -> str:
    """Every row of a raw table as PostgreSQL's text form (bytea as hex), one per line."""
    rows = await sql(runtime, slug, f"SELECT t::text FROM {table} t")
    return "\n".join(r[0] for r in rows)


def canary(tag: str = "") -> str:
    return f"Zq{tag}{secrets.token_hex(4)}"


def hong_kong_mobile() -> str:
    while True:
        number = f"+8529{random.randrange(10**7):07d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(number)):
            return number


def random_hkid() -> str:
    digits = f"{random.randrange(10**6):06d}"
    return f"K{digits}({hkid_check_digit('K', digits)})"


@contextmanager
def frozen(runtime: Runtime, at: datetime) -> Iterator[None]:
    """The business clock stands at `at` for everything the runtime decides (deadlines, retention ages)."""
    previous = runtime.clock
    runtime.clock = lambda: at
    try:
        yield
    finally:
        runtime.clock = previous


async def admin_id(gql: GraphQLClient, ws: Workspace) -> str:
    return str((await gql.ok("{ me { id } }", token=ws.admin_token))["me"]["id"])
