"""Workspaces: creation (its own database, keys, default policies, first admin) and migration of all."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from authz.defaults import ADMIN_ROLE
from authz.fields import BUILTIN_FIELDS
from db import crypto, migrate, tenancy
from db.models import DataKey, FieldDefinition, User, Workspace, WorkspaceStatus
from db.units import Units
from resolvers import policies
from resolvers.contacts.validation import InvalidValue, normalize_name
from resolvers.errors import BadInput, Conflict
from resolvers.identity import accounts as identity
from resolvers.retention import policies as retention

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


@dataclass(frozen=True)
class NewWorkspace:
    slug: str
    name: str
    region: str
    admin_email: str
    admin_password: str
    admin_name: str = "Administrator"


async def create_workspace(directory: tenancy.TenantDirectory, data: NewWorkspace) -> tenancy.Tenant:
    """Create the database, migrate it, register it with its keys, seed policies and the first admin.

    Two databases, three steps, each idempotent: the catalog row is registered first as CREATING (nobody can
    sign in), then the database is created, migrated and seeded (skipped when its admin exists), then the
    row becomes ACTIVE. A run that crashed half-way leaves a CREATING row: `workspace create` with the same
    slug finishes it. A failure (an exception) drops the database and the catalog row again.
    """
    if not SLUG.match(data.slug):
        raise BadInput("slugs are 3-32 characters: a-z, 0-9 and '-', starting with a letter", field="slug")
    try:
        name = normalize_name(data.name)
    except InvalidValue as exc:
        raise BadInput(str(exc), field="name") from exc
    try:
        server = directory.server_for(data.region)
    except tenancy.UnknownRegion as exc:
        raise BadInput(str(exc), field="region") from exc
    identity.validate_new_user(
        identity.NewUser(data.admin_email, data.admin_password, data.admin_name, [ADMIN_ROLE], None)
    )
    units = Units(directory)
    database = directory.database_name(data.slug)
    workspace_id = await _register(units, data, name, database)
    try:
        await tenancy.create_database(server, database)
        await migrate.upgrade(
            directory.router.owner_engine(server, database), "workspace", grant_to=directory.router.login_role
        )
        engine = directory.router.engine(server, database)
        async with units.workspace(engine) as unit:
            admin = select(User.id).where(func.lower(User.email) == data.admin_email.strip().lower())
            if not await unit.session.scalar(admin):  # seeded by a run that crashed before the last step
                await seed(unit.session, data)
        async with units.catalog() as conn:
            await conn.execute(
                update(Workspace)
                .where(Workspace.id == workspace_id, Workspace.status == WorkspaceStatus.CREATING)
                .values(status=WorkspaceStatus.ACTIVE)
            )
        directory.invalidate(data.slug)
    except BaseException:
        async with units.catalog() as conn:
            await conn.execute(delete(DataKey).where(DataKey.workspace_id == workspace_id))
            await conn.execute(delete(Workspace).where(Workspace.id == workspace_id))
        directory.invalidate(data.slug)
        await directory.router.forget(server, database)
        await tenancy.drop_database(server, database)
        raise
    tenant = await directory.get(data.slug)
    assert tenant is not None
    return tenant


async def _register(units: Units, data: NewWorkspace, name: str, database: str) -> uuid.UUID:
    """The catalog row (CREATING) and the first data key; an unfinished creation of the slug is resumed."""
    async with units.catalog() as conn:
        found = (
            await conn.execute(
                select(Workspace.id, Workspace.status, Workspace.region).where(Workspace.slug == data.slug)
            )
        ).one_or_none()
        if found is not None and (found.status != WorkspaceStatus.CREATING or found.region != data.region):
            raise Conflict(f"the workspace {data.slug!r} exists already", field="slug")
        if found is not None:
            return found.id
        workspace_id = uuid.uuid4()
        master_key = units.directory.master_key
        data_key, index_key = crypto.generate_data_key(), crypto.generate_index_key()
        await conn.execute(
            insert(Workspace).values(
                id=workspace_id,
                slug=data.slug,
                name=name,
                region=data.region,
                database_name=database,
                status=WorkspaceStatus.CREATING,
                current_key_version=1,
                wrapped_index_key=crypto.wrap_index_key(master_key, data.slug, index_key),
            )
        )
        await conn.execute(
            insert(DataKey).values(
                workspace_id=workspace_id, version=1, wrapped=crypto.wrap_data_key(master_key, data.slug, data_key, 1)
            )
        )
    return workspace_id


async def seed(session: AsyncSession, data: NewWorkspace) -> None:
    await session.execute(
        insert(FieldDefinition),
        [
            {"entity": spec.entity, "name": spec.name, "type": spec.type, "custom": False, "pii_category": spec.pii}
            for specs in BUILTIN_FIELDS.values()
            for spec in specs
        ],
    )
    await policies.seed_defaults(session)
    await retention.seed_defaults(session)
    policy = policies.build_policy(1, await policies.q.load_policy_lines(session), [])
    await identity.insert_user(
        session,
        None,
        identity.NewUser(data.admin_email, data.admin_password, data.admin_name, [ADMIN_ROLE], None),
        policy=policy,
    )


@dataclass(frozen=True)
class MigrationSummary:
    migrated: int
    failed: int


async def migrate_all(
    directory: tenancy.TenantDirectory, report: Callable[[str], Awaitable[None] | None]
) -> MigrationSummary:
    """Upgrade every workspace database, one after another (Alembic's context is process-global).

    A workspace that cannot be reached (its region is not configured here, its server is down) is reported
    and skipped; the others are still migrated.
    """
    migrated = failed = 0
    for slug in await directory.all_slugs():
        try:
            tenant = await directory.get(slug)
            if tenant is None:
                continue
            before, after = await migrate.upgrade(
                tenant.owner_engine, "workspace", grant_to=directory.router.login_role
            )
        except Exception as exc:  # one unreachable workspace must not stop the others
            failed += 1
            line = f"workspace {slug}: FAILED ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        else:
            migrated += 1
            line = (f"workspace {slug}: {before or 'empty'} -> {after}" if before != after
                    else f"workspace {slug}: up to date ({after})")
        result = report(line)
        if result is not None:
            await result
    return MigrationSummary(migrated, failed)
