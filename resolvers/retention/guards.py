"""Minimum-retention guards: records a business must keep for a while (finance: 7 years, IRO s.51C) that no
retention policy may anonymise, delete or clear sooner.

    guard    covers                                                        counted from        default
    finance  activities of kind PURCHASE or with an amount (records);      the activity's      2557 days
             contact fields tagged `financial` (salary, custom ones),       `occurredAt`; a     (7 years and
             while the contact has such a record under the guard            contact: its last   their 2 leap
                                                                            such record         days)

A workspace may lengthen a guard (`setRetentionMinimum`), never shorten it below the default.

Two checks, one rule:
- writing a policy (create, update, enable): a policy aimed at guarded data younger than the minimum is refused
  with BAD_USER_INPUT naming the guard: an activity ANONYMISE or DELETE whose condition can match a PURCHASE
  within the minimum (`language.Condition.judge`: `kind = NOTE` cannot, `kind = PURCHASE and occurredAt older
  than 8 years` cannot), or a CLEAR_FIELDS policy clearing a financial field. Contact ANONYMISE/DELETE
  policies are not aimed at financial data and stay allowed ("cold leads after 2 years").
- running a policy: every row the guard holds is skipped (a contact with a guarded record is not anonymised;
  a guarded activity is neither cleared nor deleted; CLEAR_FIELDS keeps the financial fields of a guarded
  contact and clears the others) and counted in `guarded`, whatever the policy (older policies, a lengthened
  minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from authz.fields import FieldRegistry
from authz.permissions import Action, Resource
from db.models import Activity, RetentionMinimum
from resolvers.errors import BadInput
from resolvers.retention.language import Condition, Facts
from resolvers.runtime import Caller

MAX_DAYS = 36_500


@dataclass(frozen=True)
class Guard:
    name: str
    pii_category: str  # contact fields of this category are guarded
    record_kinds: tuple[str, ...]  # activities of these kinds (or with an amount) are guarded records
    default_days: int
    description: str


GUARDS: dict[str, Guard] = {
    "finance": Guard(
        "finance",
        "financial",
        ("PURCHASE",),
        7 * 365 + 2,
        "financial records (purchases, amounts) and financial fields: 7 years for tax (IRO s.51C)",
    ),
}


@dataclass(frozen=True)
class Minimum:
    guard: Guard
    days: int

    @property
    def name(self) -> str:
        return self.guard.name


async def minimums(session: AsyncSession) -> list[Minimum]:
    """Each guard's minimum in this workspace (never below its default)."""
    rows = {r.category: r.min_days for r in (await session.execute(select(RetentionMinimum))).scalars()}
    return [Minimum(g, max(g.default_days, rows.get(g.name, 0))) for g in GUARDS.values()]


async def list_minimums(session: AsyncSession, caller: Caller) -> list[Minimum]:
    caller.access.require(Resource.RETENTION_POLICY, Action.READ)
    return await minimums(session)


async def set_minimum(session: AsyncSession, caller: Caller, name: str, days: int) -> Minimum:
    """Lengthen (or bring back to its default) a guard's minimum; shorter than the default is refused."""
    caller.access.require(Resource.RETENTION_POLICY, Action.WRITE)
    guard = GUARDS.get(name.strip().lower())
    if guard is None:
        raise BadInput(f"unknown retention guard {name!r}; one of {', '.join(GUARDS)}", field="category")
    if not guard.default_days <= days <= MAX_DAYS:
        raise BadInput(
            f"the {guard.name} minimum is between its default {guard.default_days} days and {MAX_DAYS} days",
            field="days",
        )
    now = caller.runtime.now()
    await session.execute(
        insert(RetentionMinimum)
        .values(category=guard.name, min_days=days, updated_at=now)
        .on_conflict_do_update(index_elements=["category"], set_={"min_days": days, "updated_at": now})
    )
    caller.audit.event("UPDATE", entity_type="retention_minimum", entity_id=guard.name, details={"minDays": days})
    return Minimum(guard, days)


# ------------------------------------------------------------------------------------------- policy check


def guarded_fields(registry: FieldRegistry, guard: Guard, names: list[str]) -> list[str]:
    return [n for n in names if (spec := registry.get("contact", n)) is not None and spec.pii == guard.pii_category]


def check_policy(
    found: list[Minimum],
    registry: FieldRegistry,
    *,
    entity: str,
    action: str,
    condition: Condition,
    after_days: int,
    fields: list[str],
) -> None:
    """BAD_USER_INPUT (on `afterDays`, detail MINIMUM_RETENTION) when the policy would undercut a guard."""
    for minimum in found:
        if after_days >= minimum.days:
            continue
        guard = minimum.guard
        if entity == "activity" and action in ("ANONYMISE", "DELETE"):
            young = Facts({"kind": guard.record_kinds[0]}, {"occurredAt": minimum.days})
            if condition.judge(young) is not False:
                raise _undercut(minimum, f"{action.lower()} {guard.record_kinds[0]} activities", after_days)
        if entity == "contact" and action == "CLEAR_FIELDS":
            hit = guarded_fields(registry, guard, fields)
            young = Facts({}, {"lastActivityAt": minimum.days})
            if hit and condition.judge(young) is not False:
                raise _undercut(minimum, f"clear {', '.join(hit)}", after_days)


def _undercut(minimum: Minimum, what: str, after_days: int) -> BadInput:
    return BadInput(
        f"the {minimum.name} retention guard keeps {minimum.guard.description} for {minimum.days} days; this policy "
        f"would {what} after {after_days} days (set afterDays to at least {minimum.days}, or narrow the condition)",
        field="afterDays",
        detail="MINIMUM_RETENTION",
    )


# ------------------------------------------------------------------------------------------- run time


def guarded_activity(minimum: Minimum, now: datetime, activity: Any = Activity) -> ColumnElement[bool]:
    """The activity is a record the guard still holds at `now`."""
    return (  # type: ignore[no-any-return]
        or_(activity.kind.in_(minimum.guard.record_kinds), activity.amount_cents.is_not(None))
        & (activity.occurred_at >= now - timedelta(days=minimum.days))
    )


def guarded_contact(minimum: Minimum, now: datetime, contact_id: Any) -> ColumnElement[bool]:
    """The contact has a record the guard still holds at `now`."""
    return exists(select(Activity.id).where(Activity.contact_id == contact_id, guarded_activity(minimum, now)))
