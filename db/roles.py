"""Least privilege in PostgreSQL: the login role the API and workers use on workspace databases.

The server URLs in the settings (`DATABASE_URL`, `REGION_DATABASE_URLS`, or the embedded server) are the
*owner*: it creates databases, runs migrations and owns every table. The API and the workers open workspace
sessions as the *app role* instead (`CRM_DB_APP_ROLE`, default `<CRM_DB_PREFIX>_app`; password
`CRM_DB_APP_PASSWORD`, by default derived from `CRM_SECRET_KEY`), which owns nothing:

* it may SELECT, INSERT, UPDATE and DELETE the workspace's ordinary tables and use their sequences;
* on the audit tables (`audit_log`, every monthly partition, `audit_batches`) it may only SELECT and INSERT:
  no UPDATE, DELETE or TRUNCATE, and no DDL anywhere (no CREATE on the schema, it owns no table);
* partitions created later get SELECT and INSERT through the owner's default privileges; they are created by
  `audit_ensure_partition` / `audit_maintain`, which run as their owner (SECURITY DEFINER).

The catalog database (workspaces, their wrapped keys, support grants) is used through the app role as well:
it may SELECT, INSERT, UPDATE and DELETE the catalog's tables, and nothing else (no DDL, no migration table).

`ensure_role` creates (or updates) the role once per server at start-up, by the owner; `grant_workspace`
runs in every workspace database right after its migrations, and `grant_catalog` in the catalog after its own,
also by the owner. All are idempotent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from db.sessions import database_url, server_admin

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# The tables whose rows, once written, stay as they are (the partitions of audit_log are found by inheritance).
APPEND_ONLY_TABLES = ("audit_log", "audit_batches")
_ROLE_LOCK = 0x43524D52  # "CRMR": serialises role creation between processes starting together


@dataclass(frozen=True)
class AppRole:
    name: str
    password: str

    def __post_init__(self) -> None:
        if not ROLE_NAME.match(self.name):
            raise ValueError(f"CRM_DB_APP_ROLE {self.name!r}: lower-case letters, digits and '_' (at most 63)")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_role(server_url: str, role: AppRole, *, statement_timeout_ms: int | None = None) -> None:
    """Create the login role on the server if missing, or reset its password and attributes (by the owner).

    `statement_timeout_ms` (a server behind PgBouncer, where it cannot be a startup parameter): the role's own
    `statement_timeout`, so every session of the role has it; None resets it (sessions then send their own)."""
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
    password = _literal(role.password)
    if statement_timeout_ms is None:
        timeout = f'ALTER ROLE "{role.name}" RESET statement_timeout;'
    else:
        timeout = f"""ALTER ROLE "{role.name}" SET statement_timeout = {int(statement_timeout_ms)};"""
    statement = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {_literal(role.name)}) THEN
        CREATE ROLE "{role.name}" {attributes} PASSWORD {password};
        {timeout}
    ELSE
        BEGIN
            ALTER ROLE "{role.name}" {attributes} PASSWORD {password};
            {timeout}
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'role % exists and is managed elsewhere', {_literal(role.name)};
        END;
    END IF;
END $$
"""
    admin = create_async_engine(database_url(server_url, "postgres"))
    try:
        async with admin.begin() as conn:
            await conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _ROLE_LOCK})
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


async def drop_role(server_url: str, name: str) -> None:
    """Drop the role (test runs clean up with this, after dropping their databases)."""
    if not ROLE_NAME.match(name):
        raise ValueError(f"not a role name: {name!r}")
    async with server_admin(server_url) as conn:
        await conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))


def grant_statements(role: str) -> list[str]:
    """What the owner runs in a workspace database (after its migrations) for the app role `role`."""
    r = f'"{role}"'
    appendonly = ", ".join(APPEND_ONLY_TABLES)
    return [
        *_data_only(r, "alembic_version_workspace"),
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {r}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {appendonly} FROM {r}",
        f"""
DO $$
DECLARE part record;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit_log'::regclass LOOP
        EXECUTE format('REVOKE ALL ON TABLE %I FROM {r}', part.relname);
        EXECUTE format('GRANT SELECT, INSERT ON TABLE %I TO {r}', part.relname);
    END LOOP;
END $$""",
        # Tables the owner creates later (monthly partitions, new migrations' tables): read and append only;
        # the next `grant_workspace` adds UPDATE/DELETE on a new ordinary table.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {r}",
    ]


def catalog_grant_statements(role: str) -> list[str]:
    """What the owner runs in the catalog database (after its migrations) for the app role `role`."""
    return _data_only(f'"{role}"', "alembic_version_catalog")


def _data_only(r: str, version_table: str) -> list[str]:
    """The app role (quoted `r`) may connect, read and write the database's tables and use their sequences; no
    DDL in the schema, and the migration table `version_table` is read-only."""
    return [
        f"""DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {r}', current_database()); END $$""",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"REVOKE ALL ON SCHEMA public FROM {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {r}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {version_table} FROM {r}",
    ]


async def grant_catalog(conn: AsyncConnection, role: str) -> None:
    """Grant the app role its privileges in the catalog database of `conn` (an owner connection, in a transaction).
    The API and the workers start together and both grant: an advisory lock takes them one at a time (two GRANTs
    on one database at once fail with "tuple concurrently updated")."""
    if not ROLE_NAME.match(role):
        raise ValueError(f"not a role name: {role!r}")
    await conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": _ROLE_LOCK})
    for statement in catalog_grant_statements(role):
        await conn.execute(text(statement))


async def grant_workspace(conn: AsyncConnection, role: str) -> None:
    """Grant the app role its privileges in the workspace database of `conn` (an owner connection)."""
    if not ROLE_NAME.match(role):
        raise ValueError(f"not a role name: {role!r}")
    for statement in grant_statements(role):
        await conn.execute(text(statement))
