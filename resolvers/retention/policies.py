"""Retention policies (DPP2, s.26): definitions, their validation, dry runs and real runs.

A policy acts on the rows of its entity that match its condition (`resolvers.retention_language`) and are
older than `afterDays` (contacts: since their last activity, or creation; activities: since they occurred;
consents: since granted). Actions per entity: `resolvers.retention_actions`.

A dry run is the real run inside a SAVEPOINT that is rolled back (and audits nothing but itself), so its
counts and sample ids are exactly what the real run at the same time does, policies that feed each other
included. The scheduler runs the enabled policies daily (`workers.privacy`). A new workspace gets three
default policies, all disabled until an admin enables them; older workspaces get them when they first list
or run their policies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import FieldRegistry
from authz.permissions import Action, Resource
from db.audit import AuditBuffer
from db.models import RetentionPolicy
from resolvers.contacts.validation import InvalidValue, normalize_name
from resolvers.errors import BadInput, Conflict, NotFound
from resolvers.privacy import erasure
from resolvers.retention import actions as retention_actions
from resolvers.retention.language import ENTITIES, ConditionError, parse
from resolvers.runtime import Caller

RESOURCE = Resource.RETENTION_POLICY
MAX_AFTER_DAYS = 36_500
# name, entity, condition, afterDays, action (all disabled)
DEFAULTS: tuple[tuple[str, str, str, int, str], ...] = (
    ("Cold leads after 2 years", "contact", "stage = COLD", 730, "ANONYMISE"),
    ("Marketing consent older than 1 year needs refresh", "consent", "consent is active", 365, "ARCHIVE"),
    ("Purchase records kept 7 years", "activity", "kind = PURCHASE", 7 * 365 + 2, "DELETE"),
)


@dataclass(frozen=True)
class PolicyInput:
    name: str
    entity: str
    condition: str
    after_days: int
    action: str
    enabled: bool = False


@dataclass(frozen=True)
class Policy:
    """A snapshot of a policy row (safe to read after the session moved on)."""

    id: uuid.UUID
    name: str
    entity: str
    condition: str
    after_days: int
    action: str
    enabled: bool
    last_run_at: datetime | None

    @classmethod
    def of(cls, row: RetentionPolicy) -> Policy:
        return cls(
            row.id, row.name, row.entity, row.condition, row.after_days, row.action, row.enabled, row.last_run_at
        )


@dataclass(frozen=True)
class PolicyRun:
    policy: Policy
    count: int
    sample_ids: list[uuid.UUID]


@dataclass(frozen=True)
class RunResult:
    dry_run: bool
    ran_at: datetime
    policies: list[PolicyRun]


def _validated(data: PolicyInput) -> PolicyInput:
    try:
        name = normalize_name(data.name)
    except InvalidValue as exc:
        raise BadInput(f"name: {exc}", field="name") from exc
    entity = data.entity.strip().lower()
    if entity not in ENTITIES:
        raise BadInput(f"unknown entity {data.entity!r}; one of {', '.join(ENTITIES)}", field="entity")
    if not retention_actions.valid_action(entity, data.action):
        allowed = ", ".join(retention_actions.ACTIONS[entity])
        raise BadInput(f"a {entity} policy takes the actions {allowed}", field="action")
    if not 0 <= data.after_days <= MAX_AFTER_DAYS:
        raise BadInput(f"afterDays is between 0 and {MAX_AFTER_DAYS}", field="afterDays")
    condition = data.condition.strip()
    try:
        parse(condition, entity)
    except ConditionError as exc:
        raise BadInput(f"condition: {exc}", field="condition") from exc
    return PolicyInput(name, entity, condition, data.after_days, data.action, data.enabled)


async def seed_defaults(session: AsyncSession) -> None:
    rows = [
        {"id": uuid.uuid4(), "name": n, "entity": e, "condition": c, "after_days": d, "action": a, "enabled": False}
        for n, e, c, d, a in DEFAULTS
    ]
    await session.execute(insert(RetentionPolicy).values(rows).on_conflict_do_nothing(index_elements=["name"]))


async def ensure_defaults(session: AsyncSession) -> None:
    """Workspaces created before retention existed get the defaults once (a workspace never has zero)."""
    if not await session.scalar(select(func.count()).select_from(RetentionPolicy)):
        await seed_defaults(session)


async def list_policies(session: AsyncSession, caller: Caller) -> list[Policy]:
    caller.access.require(RESOURCE, Action.READ)
    await ensure_defaults(session)
    rows = await session.execute(select(RetentionPolicy).order_by(RetentionPolicy.created_at, RetentionPolicy.name))
    return [Policy.of(r) for r in rows.scalars()]


async def create_policy(session: AsyncSession, caller: Caller, data: PolicyInput) -> Policy:
    caller.access.require(RESOURCE, Action.WRITE)
    data = _validated(data)
    if await session.scalar(select(RetentionPolicy.id).where(RetentionPolicy.name == data.name)):
        raise Conflict(f"a retention policy named {data.name!r} exists already", field="name")
    row = RetentionPolicy(
        id=uuid.uuid4(),
        name=data.name,
        entity=data.entity,
        condition=data.condition,
        after_days=data.after_days,
        action=data.action,
        enabled=data.enabled,
    )
    session.add(row)
    await session.flush()
    caller.audit.event(
        "CREATE",
        entity_type=RESOURCE,
        entity_id=str(row.id),
        details={"name": row.name, "entity": row.entity, "action": row.action, "enabled": row.enabled},
    )
    return Policy.of(row)


async def set_enabled(session: AsyncSession, caller: Caller, policy_id: uuid.UUID, enabled: bool) -> Policy:
    caller.access.require(RESOURCE, Action.WRITE)
    row = await session.get(RetentionPolicy, policy_id)
    if row is None:
        raise NotFound("no such retention policy")
    if row.enabled != enabled:
        row.enabled = enabled
        await session.flush()
        caller.audit.event("UPDATE", entity_type=RESOURCE, entity_id=str(row.id), details={"enabled": enabled})
    return Policy.of(row)


async def run(
    session: AsyncSession, caller: Caller, *, dry_run: bool, policy_ids: Sequence[uuid.UUID] | None = None
) -> RunResult:
    """`runRetention`: the enabled policies, or exactly `policy_ids` (enabled or not: a manual run)."""
    caller.access.require(RESOURCE, Action.READ if dry_run else Action.WRITE)
    await ensure_defaults(session)
    stmt = select(RetentionPolicy).order_by(RetentionPolicy.created_at, RetentionPolicy.name)
    if policy_ids is None:
        stmt = stmt.where(RetentionPolicy.enabled.is_(True))
    else:
        stmt = stmt.where(RetentionPolicy.id.in_(list(policy_ids)))
    policies = list((await session.execute(stmt)).scalars())
    if policy_ids is not None and len(policies) != len(set(policy_ids)):
        raise NotFound("no such retention policy")
    result, files = await run_policies(
        session, caller.audit, caller.access.table.registry, policies, caller.runtime.now(), dry_run=dry_run
    )
    erasure.remove_after_commit(caller, files)
    return result


async def run_policies(
    session: AsyncSession,
    audit: AuditBuffer,
    registry: FieldRegistry,
    policies: Sequence[RetentionPolicy],
    now: datetime,
    *,
    dry_run: bool,
) -> tuple[RunResult, list[str]]:
    """Apply `policies` in order at `now`; a dry run rolls everything back. Returns the file keys to delete
    after commit (none for a dry run)."""
    if not dry_run:
        return await _apply_all(session, audit, registry, policies, now, dry_run=False)
    savepoint = await session.begin_nested()
    try:
        result, _ = await _apply_all(session, None, registry, policies, now, dry_run=True)
    finally:
        await savepoint.rollback()
    audit.event(
        "READ",
        entity_type=RESOURCE,
        details={"dryRun": True, "policies": [str(r.policy.id) for r in result.policies],
                 "affected": [r.count for r in result.policies]},
    )
    return result, []


async def _apply_all(
    session: AsyncSession,
    audit: AuditBuffer | None,
    registry: FieldRegistry,
    policies: Sequence[RetentionPolicy],
    now: datetime,
    *,
    dry_run: bool,
) -> tuple[RunResult, list[str]]:
    runs: list[PolicyRun] = []
    files: list[str] = []
    for row in policies:
        policy = Policy.of(row)
        condition = parse(row.condition, row.entity)(now)
        outcome = await retention_actions.apply(session, audit, registry, row, condition, now)
        files += outcome.files
        runs.append(PolicyRun(policy, outcome.count, outcome.sample))
        if audit is not None:
            row.last_run_at = now
            row.last_result = {"affected": outcome.count, "at": now.isoformat()}
            audit.event(
                "UPDATE",
                entity_type=RESOURCE,
                entity_id=str(row.id),
                details={"run": True, "action": row.action, "entity": row.entity, "affected": outcome.count},
            )
    if audit is not None:
        await session.flush()
    return RunResult(dry_run, now, runs), files


async def enabled_ids(session: AsyncSession) -> list[uuid.UUID]:
    stmt = select(RetentionPolicy.id).where(RetentionPolicy.enabled.is_(True)).order_by(RetentionPolicy.created_at)
    return list((await session.execute(stmt)).scalars())


async def run_scheduled(
    session: AsyncSession, audit: AuditBuffer, policy_id: uuid.UUID, now: datetime
) -> tuple[RunResult, list[str]] | None:
    """One enabled policy, as the scheduler runs it (a disabled or deleted one is a no-op)."""
    row = await session.get(RetentionPolicy, policy_id)
    if row is None or not row.enabled:
        return None
    registry = await erasure.registry_of(session)
    return await run_policies(session, audit, registry, [row], now, dry_run=False)
