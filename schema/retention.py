"""Retention policies and runs. Adapters only: parse, call one resolver, wrap."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.retention import actions as retention_actions
from resolvers.retention import policies as retention
from schema.context import Context
from schema.ids import to_global, uuid_of

CONDITION_HELP = (
    "Over the entity's fields, e.g. `stage = COLD and lastActivityAt older than 730 days`, "
    "`kind = PURCHASE`, `consent email is not active`; and, or, not, parentheses, `in (...)`, "
    "`before/after YYYY-MM-DD`, `is null`."
)


@strawberry.enum
class RetentionAction(enum.Enum):
    ARCHIVE = "ARCHIVE"
    ANONYMISE = "ANONYMISE"
    DELETE = "DELETE"


@strawberry.type
class RetentionPolicy:
    id: strawberry.ID
    name: str
    entity: str = strawberry.field(description="contact | activity | consent")
    condition: str
    after_days: int = strawberry.field(
        description="Age in days: contacts since their last activity (or creation), activities since they "
        "occurred, consents since granted."
    )
    action: RetentionAction = strawberry.field(
        description="contact: ARCHIVE, ANONYMISE, DELETE (only when nothing links to it); activity: ANONYMISE "
        "(clears its text), DELETE; consent: ARCHIVE (expires it: it needs a refresh)."
    )
    enabled: bool
    last_run_at: dt.datetime | None

    @classmethod
    def of(cls, p: retention.Policy) -> RetentionPolicy:
        return cls(
            id=strawberry.ID(to_global("RetentionPolicy", p.id)),
            name=p.name,
            entity=p.entity,
            condition=p.condition,
            after_days=p.after_days,
            action=RetentionAction(p.action),
            enabled=p.enabled,
            last_run_at=p.last_run_at,
        )


@strawberry.input
class RetentionPolicyInput:
    name: str
    entity: str
    condition: str = strawberry.field(description=CONDITION_HELP)
    after_days: int
    action: RetentionAction
    enabled: bool | None = False

    def to_input(self) -> retention.PolicyInput:
        return retention.PolicyInput(
            self.name, self.entity, self.condition, self.after_days, self.action.value, bool(self.enabled)
        )


@strawberry.type
class RetentionAffected:
    policy: RetentionPolicy
    count: int
    sample_ids: list[strawberry.ID] = strawberry.field(description="Up to 10 of the affected records.")


@strawberry.type
class RetentionRun:
    dry_run: bool
    ran_at: dt.datetime
    affected: list[RetentionAffected]

    @classmethod
    def of(cls, result: retention.RunResult) -> RetentionRun:
        affected = []
        for run in result.policies:
            type_name = retention_actions.NODE_TYPES[run.policy.entity]
            ids = [strawberry.ID(to_global(type_name, i)) for i in run.sample_ids]
            affected.append(RetentionAffected(policy=RetentionPolicy.of(run.policy), count=run.count, sample_ids=ids))
        return cls(dry_run=result.dry_run, ran_at=result.ran_at, affected=affected)


@strawberry.type
class RetentionQueries:
    @strawberry.field(
        description="The workspace's retention policies. " + requires(Resource.RETENTION_POLICY, Action.READ)
    )
    async def retention_policies(self, info: Info[Context, None]) -> list[RetentionPolicy]:
        async with info.context.db() as (session, caller):
            return [RetentionPolicy.of(p) for p in await retention.list_policies(session, caller)]


@strawberry.type
class RetentionMutations:
    @strawberry.mutation(description="Adds a retention policy. " + requires(Resource.RETENTION_POLICY, Action.WRITE))
    async def create_retention_policy(self, info: Info[Context, None], input: RetentionPolicyInput) -> RetentionPolicy:
        data = input.to_input()
        async with info.context.mutation() as (session, caller):
            return RetentionPolicy.of(await retention.create_policy(session, caller, data))

    @strawberry.mutation(
        description="Enables or disables a retention policy. " + requires(Resource.RETENTION_POLICY, Action.WRITE)
    )
    async def set_retention_policy_enabled(
        self, info: Info[Context, None], id: strawberry.ID, enabled: bool
    ) -> RetentionPolicy:
        policy_id = uuid_of(str(id), "RetentionPolicy", "id")
        async with info.context.mutation() as (session, caller):
            return RetentionPolicy.of(await retention.set_enabled(session, caller, policy_id, enabled))

    @strawberry.mutation(
        description="Runs the enabled policies (or exactly `policyIds`, enabled or not). A dry run does the same "
        "work in a savepoint and rolls it back: its counts are what the real run does. "
        + requires(Resource.RETENTION_POLICY, Action.WRITE)
        + " A dry run needs `retention_policy read`."
    )
    async def run_retention(
        self, info: Info[Context, None], dry_run: bool, policy_ids: list[strawberry.ID] | None = None
    ) -> RetentionRun:
        ids = None if policy_ids is None else [uuid_of(str(i), "RetentionPolicy", "policyIds") for i in policy_ids]
        async with info.context.mutation() as (session, caller):
            return RetentionRun.of(await retention.run(session, caller, dry_run=dry_run, policy_ids=ids))
