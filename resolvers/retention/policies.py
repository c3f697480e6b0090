"""Retention policies (DPP2, s.26): definitions, their validation, dry runs and real runs.

A policy acts on the rows of its entity that match its condition (`resolvers.retention_language`) and are
older than `afterDays` (contacts: since their last activity, or creation; activities: since they occurred;
consents: since granted). Actions per entity: `resolvers.retention_actions`; a CLEAR_FIELDS policy names the
contact `fields` it clears. No policy may undercut a minimum-retention guard (`resolvers.retention.guards`):
writing one that would is BAD_USER_INPUT, and at run time guarded rows are skipped and counted.

Policies are edited (`updateRetentionPolicy`: only the inputs given change, then the whole policy is validated
again) and deleted (`deleteRetentionPolicy`); both need `retention_policy write` and are audited (UPDATE,
DELETE) like the create (CREATE).

A dry run is the real run inside a SAVEPOINT that is rolled back (and audits nothing but itself), so its
counts and sample ids are exactly what the real run at the same time does, policies that feed each other
included. The scheduler runs the enabled policies daily (`workers.privacy`). A new workspace gets three
default policies, all disabled until an admin enables them; older workspaces get them when they first list
or run their policies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

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
from resolvers.retention import guards
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
    fields: tuple[str, ...] = ()


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
    fields: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: RetentionPolicy) -> Policy:
        return cls(
            row.id, row.name, row.entity, row.condition, row.after_days, row.action, row.enabled, row.last_run_at,
            tuple(row.fields or ()),
        )

    def as_input(self) -> PolicyInput:
        return PolicyInput(self.name, self.entity, self.condition, self.after_days, self.action, self.enabled,
                           self.fields)


@dataclass(frozen=True)
class PolicyRun:
    policy: Policy
    count: int
    sample_ids: list[uuid.UUID]
    guarded: int = 0
    sample_contact_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class RunResult:
    dry_run: bool
    ran_at: datetime
    policies: list[PolicyRun]


def _validated(data: PolicyInput, registry: FieldRegistry, minimums: list[guards.Minimum]) -> PolicyInput:
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
    fields = _fields(data, registry)
    condition = data.condition.strip()
    try:
        parsed = parse(condition, entity)
    except ConditionError as exc:
        raise BadInput(f"condition: {exc}", field="condition") from exc
    guards.check_policy(minimums, registry, entity=entity, action=data.action, condition=parsed,
                        after_days=data.after_days, fields=list(fields))
    return PolicyInput(name, entity, condition, data.after_days, data.action, data.enabled, fields)


def _fields(data: PolicyInput, registry: FieldRegistry) -> tuple[str, ...]:
    """CLEAR_FIELDS names at least one clearable contact field; other actions name none."""
    names = tuple(dict.fromkeys(n.strip() for n in data.fields))
    if data.action != "CLEAR_FIELDS":
        if names:
            raise BadInput("only a CLEAR_FIELDS policy names fields", field="fields")
        return ()
    if not names:
        raise BadInput("a CLEAR_FIELDS policy names the fields it clears, e.g. [\"hkid\"]", field="fields")
    for name in names:
        if not retention_actions.clearable(registry, name):
            raise BadInput(
                f"{name!r} is not a personal-data field of contact that can be cleared (PII-tagged fields such as "
                "hkid, taxId, dateOfBirth, bio, or custom fields tagged as PII)",
                field="fields",
            )
    return names


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
    data = _validated(data, caller.access.table.registry, await guards.minimums(session))
    await _name_free(session, data.name)
    row = RetentionPolicy(
        id=uuid.uuid4(),
        name=data.name,
        entity=data.entity,
        condition=data.condition,
        after_days=data.after_days,
        action=data.action,
        enabled=data.enabled,
        fields=list(data.fields) or None,
    )
    session.add(row)
    await session.flush()
    caller.audit.event(
        "CREATE",
        entity_type=RESOURCE,
        entity_id=str(row.id),
        details={"name": row.name, "entity": row.entity, "action": row.action, "enabled": row.enabled,
                 **({"fields": row.fields} if row.fields else {})},
    )
    return Policy.of(row)


async def _name_free(session: AsyncSession, name: str, policy_id: uuid.UUID | None = None) -> None:
    stmt = select(RetentionPolicy.id).where(RetentionPolicy.name == name)
    if policy_id is not None:
        stmt = stmt.where(RetentionPolicy.id != policy_id)
    if await session.scalar(stmt):
        raise Conflict(f"a retention policy named {name!r} exists already", field="name")


async def _row(session: AsyncSession, policy_id: uuid.UUID) -> RetentionPolicy:
    row = await session.get(RetentionPolicy, policy_id)
    if row is None:
        raise NotFound("no such retention policy")
    return row


async def update_policy(session: AsyncSession, caller: Caller, policy_id: uuid.UUID, given: dict[str, Any]) -> Policy:
    """`updateRetentionPolicy`: `given` holds only the inputs sent (PolicyInput names); the policy that results
    is validated whole, guards included. Changing the action away from CLEAR_FIELDS drops its fields."""
    caller.access.require(RESOURCE, Action.WRITE)
    row = await _row(session, policy_id)
    current = Policy.of(row).as_input()
    if "action" in given and given["action"] != "CLEAR_FIELDS" and "fields" not in given:
        given = {**given, "fields": ()}
    merged = replace(current, **{k: v for k, v in given.items() if v is not None})
    data = _validated(merged, caller.access.table.registry, await guards.minimums(session))
    if data.name != row.name:
        await _name_free(session, data.name, row.id)
    before = Policy.of(row).as_input()
    changed = [k for k in ("name", "entity", "condition", "after_days", "action", "enabled", "fields")
               if getattr(before, k) != getattr(data, k)]
    if not changed:
        return Policy.of(row)
    row.name, row.entity, row.condition, row.after_days = data.name, data.entity, data.condition, data.after_days
    row.action, row.enabled, row.fields = data.action, data.enabled, list(data.fields) or None
    await session.flush()
    camel = {"after_days": "afterDays"}
    caller.audit.event(
        "UPDATE",
        entity_type=RESOURCE,
        entity_id=str(row.id),
        details={"name": row.name, "entity": row.entity, "action": row.action, "enabled": row.enabled,
                 "changed": [camel.get(k, k) for k in changed], **({"fields": row.fields} if row.fields else {})},
    )
    return Policy.of(row)


async def delete_policy(session: AsyncSession, caller: Caller, policy_id: uuid.UUID) -> Policy:
    """`deleteRetentionPolicy`: the policy goes (its past runs stay in the audit trail); returns what it was."""
    caller.access.require(RESOURCE, Action.WRITE)
    row = await _row(session, policy_id)
    gone = Policy.of(row)
    await session.delete(row)
    await session.flush()
    caller.audit.event("DELETE", entity_type=RESOURCE, entity_id=str(gone.id),
                       details={"name": gone.name, "entity": gone.entity, "action": gone.action})
    return gone


async def set_enabled(session: AsyncSession, caller: Caller, policy_id: uuid.UUID, enabled: bool) -> Policy:
    caller.access.require(RESOURCE, Action.WRITE)
    row = await _row(session, policy_id)
    if row.enabled != enabled:
        if enabled:  # a guard lengthened since the policy was written refuses it now
            _validated(Policy.of(row).as_input(), caller.access.table.registry, await guards.minimums(session))
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
                 "affected": [r.count for r in result.policies], "guarded": [r.guarded for r in result.policies]},
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
    minimums = await guards.minimums(session)
    for row in policies:
        policy = Policy.of(row)
        condition = parse(row.condition, row.entity)(now)
        outcome = await retention_actions.apply(session, audit, registry, row, condition, now, minimums)
        files += outcome.files
        runs.append(PolicyRun(policy, outcome.count, outcome.sample, outcome.guarded, tuple(outcome.contacts)))
        if audit is not None:
            row.last_run_at = now
            row.last_result = {"affected": outcome.count, "at": now.isoformat()}
            audit.event(
                "UPDATE",
                entity_type=RESOURCE,
                entity_id=str(row.id),
                details={"run": True, "action": row.action, "entity": row.entity, "affected": outcome.count,
                         "guarded": outcome.guarded},
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
