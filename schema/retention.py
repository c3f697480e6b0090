"""Retention policies and runs. Adapters only: parse, call one resolver, wrap."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import strawberry
from strawberry.types import Info

from authz.permissions import Action, Resource, requires
from resolvers.retention import actions as retention_actions
from resolvers.retention import guards
from resolvers.retention import policies as retention
from schema.contacts import Contact, contacts_by_ids
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
    CLEAR_FIELDS = strawberry.enum_value(
        "CLEAR_FIELDS", description="contact: sets the policy's `fields` to null (e.g. hkid once KYC is done)."
    )

FIELDS_HELP = (
    "CLEAR_FIELDS: the contact fields it clears (GraphQL names of PII-tagged fields, e.g. `hkid`; custom fields by "
    "name). Empty for the other actions."
)


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
        description="contact: ARCHIVE, ANONYMISE, DELETE (only when nothing links to it), CLEAR_FIELDS; activity: "
        "ANONYMISE (clears its text), DELETE; consent: ARCHIVE (expires it: it needs a refresh)."
    )
    enabled: bool
    last_run_at: dt.datetime | None
    fields: list[str] = strawberry.field(description=FIELDS_HELP)

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
            fields=list(p.fields),
        )


@strawberry.input
class RetentionPolicyInput:
    name: str
    entity: str
    condition: str = strawberry.field(description=CONDITION_HELP)
    after_days: int
    action: RetentionAction
    enabled: bool | None = False
    fields: list[str] | None = strawberry.field(default=None, description=FIELDS_HELP)

    def to_input(self) -> retention.PolicyInput:
        return retention.PolicyInput(
            self.name, self.entity, self.condition, self.after_days, self.action.value, bool(self.enabled),
            tuple(self.fields or ()),
        )


@strawberry.input(description="The changes to a retention policy: only the inputs given change.")
class RetentionPolicyUpdateInput:
    name: str | None = strawberry.UNSET
    entity: str | None = strawberry.UNSET
    condition: str | None = strawberry.field(default=strawberry.UNSET, description=CONDITION_HELP)
    after_days: int | None = strawberry.UNSET
    action: RetentionAction | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    fields: list[str] | None = strawberry.field(default=strawberry.UNSET, description=FIELDS_HELP)

    def given(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in ("name", "entity", "condition", "after_days", "enabled"):
            value = getattr(self, name)
            if value is not strawberry.UNSET and value is not None:
                out[name] = value
        if self.action is not strawberry.UNSET and self.action is not None:
            out["action"] = self.action.value
        if self.fields is not strawberry.UNSET:
            out["fields"] = tuple(self.fields or ())
        return out


@strawberry.type
class RetentionAffected:
    policy: RetentionPolicy
    count: int
    sample_ids: list[strawberry.ID] = strawberry.field(description="Up to 10 of the affected records.")
    guarded: int = strawberry.field(
        description="Rows a minimum-retention guard kept from this policy (skipped; for CLEAR_FIELDS, contacts "
        "whose guarded fields were kept)."
    )
    contact_ids: strawberry.Private[list[uuid.UUID]]

    @strawberry.field(
        description="Up to 10 contacts the policy acts on (for activity and consent policies, whose records they "
        "are), as the caller may read them: names and other fields follow the caller's field rules, and are "
        "audited as reads. Deleted contacts are not in it."
    )
    async def sample(self, info: Info[Context, None]) -> list[Contact]:
        return await contacts_by_ids(info, list(self.contact_ids))


@strawberry.type(description="A minimum-retention guard: records no policy may anonymise, delete or clear sooner.")
class RetentionMinimum:
    category: str = strawberry.field(description="The guard, e.g. `finance`.")
    days: int = strawberry.field(description="This workspace's minimum, in days (never below `defaultDays`).")
    default_days: int = strawberry.field(description="The statutory default (finance: 2557 days, 7 years).")
    description: str

    @classmethod
    def of(cls, m: guards.Minimum) -> RetentionMinimum:
        return cls(category=m.name, days=m.days, default_days=m.guard.default_days, description=m.guard.description)


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
            affected.append(RetentionAffected(policy=RetentionPolicy.of(run.policy), count=run.count, sample_ids=ids,
                                              guarded=run.guarded, contact_ids=list(run.sample_contact_ids)))
        return cls(dry_run=result.dry_run, ran_at=result.ran_at, affected=affected)


@strawberry.type
class RetentionQueries:
    @strawberry.field(
        description="The workspace's retention policies. " + requires(Resource.RETENTION_POLICY, Action.READ)
    )
    async def retention_policies(self, info: Info[Context, None]) -> list[RetentionPolicy]:
        async with info.context.db() as (session, caller):
            return [RetentionPolicy.of(p) for p in await retention.list_policies(session, caller)]

    @strawberry.field(
        description="The minimum-retention guards and this workspace's periods. "
        + requires(Resource.RETENTION_POLICY, Action.READ)
    )
    async def retention_minimums(self, info: Info[Context, None]) -> list[RetentionMinimum]:
        async with info.context.db() as (session, caller):
            return [RetentionMinimum.of(m) for m in await guards.list_minimums(session, caller)]


@strawberry.type
class RetentionMutations:
    @strawberry.mutation(description="Adds a retention policy. " + requires(Resource.RETENTION_POLICY, Action.WRITE))
    async def create_retention_policy(self, info: Info[Context, None], input: RetentionPolicyInput) -> RetentionPolicy:
        data = input.to_input()
        async with info.context.mutation() as (session, caller):
            return RetentionPolicy.of(await retention.create_policy(session, caller, data))

    @strawberry.mutation(
        description="Changes a retention policy (only the inputs given); the result is validated like a new one, "
        "minimum-retention guards included. " + requires(Resource.RETENTION_POLICY, Action.WRITE)
    )
    async def update_retention_policy(
        self, info: Info[Context, None], id: strawberry.ID, input: RetentionPolicyUpdateInput
    ) -> RetentionPolicy:
        policy_id = uuid_of(str(id), "RetentionPolicy", "id")
        given = input.given()
        async with info.context.mutation() as (session, caller):
            return RetentionPolicy.of(await retention.update_policy(session, caller, policy_id, given))

    @strawberry.mutation(
        description="Deletes a retention policy (its past runs stay in the audit trail). "
        + requires(Resource.RETENTION_POLICY, Action.WRITE)
    )
    async def delete_retention_policy(self, info: Info[Context, None], id: strawberry.ID) -> bool:
        policy_id = uuid_of(str(id), "RetentionPolicy", "id")
        async with info.context.mutation() as (session, caller):
            await retention.delete_policy(session, caller, policy_id)
        return True

    @strawberry.mutation(
        description="Sets a minimum-retention guard's period for this workspace (`category`: `finance`); never "
        "below its statutory default. " + requires(Resource.RETENTION_POLICY, Action.WRITE)
    )
    async def set_retention_minimum(self, info: Info[Context, None], category: str, days: int) -> RetentionMinimum:
        async with info.context.mutation() as (session, caller):
            return RetentionMinimum.of(await guards.set_minimum(session, caller, category, days))

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
