"""Seeing the rules: what a role or user gets per field (`effectiveAccess`), a contact as another user would
receive it (`previewAs`), an access decision on one record, and the effect of a rule change before saving it.

Every answer comes from the decision tables the API enforces (`authz.effective` reads them back); nothing
here re-implements the precedence. All of it needs `policy read`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from authz import effective
from authz import rules as rulebook
from authz.access import Access
from authz.fields import ENTITIES, FieldSpec
from authz.masking import mask_value
from authz.principal import Principal
from authz.rules import Effect
from authz.store import WorkspacePolicy
from db.audit import AuditBuffer
from db.models import Contact, User
from resolvers import policies
from resolvers.contacts import contacts
from resolvers.errors import BadInput, NotFound
from resolvers.identity.accounts import get_user
from resolvers.projection import CUSTOM_FIELDS, DENIED, MASKED_SUFFIX, Selection
from resolvers.runtime import Caller

RELATIONS = frozenset({"User", "Team", "Consent", "Attachment"})


def _principal(policy: WorkspacePolicy, user: User) -> Principal:
    roles = policy.roles_of(policies.user_subject(user.id))
    return Principal("user", user.id, roles, user.team_id, label=user.email)


async def effective_access(
    session: AsyncSession, caller: Caller, entity: str, role: str | None, user_id: uuid.UUID | None
) -> list[effective.FieldAccess]:
    caller.access.require("policy", "read")
    if entity not in ENTITIES:
        raise BadInput(f"entity is one of {', '.join(ENTITIES)}", field="entity")
    if (role is None) == (user_id is None):
        raise BadInput("give either role or userId", field="role" if role is None else "userId")
    policy = await policies.current_policy(session, caller)
    if role is not None:
        if role not in policy.all_roles():
            raise BadInput(f"unknown role {role!r}", field="role")
        roles = frozenset({role})
    else:
        assert user_id is not None
        roles = _principal(policy, await get_user(session, user_id)).roles
    return effective.effective_fields(policy.table(roles), entity)


@dataclass(frozen=True)
class Preview:
    visible: bool
    fields: dict[str, Any] | None
    denied: list[str]


def _plain(value: Any) -> Any:
    if value is DENIED:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return getattr(value, "value", value)  # enums


async def preview_as(session: AsyncSession, caller: Caller, user_id: uuid.UUID, contact_id: uuid.UUID) -> Preview:
    """The contact as the user would receive it, never more than the caller may see themselves.

    Both projections use scratch audit buffers (nothing of theirs leaves as such); what does leave is one READ
    event of the caller naming the PII fields shown, with `details.previewAs`.
    """
    caller.access.require("policy", "read")
    policy = await policies.current_policy(session, caller)
    target = _principal(policy, await get_user(session, user_id))
    registry = policy.registry
    specs = [s for s in registry.of("contact").values() if not s.custom and s.type not in RELATIONS]
    # `salaryMasked`, `dateOfBirthMasked`: where the user's rule masks a non-text field they get the mask there.
    companions = {s.name + MASKED_SUFFIX: s for s in specs if s.pii and s.mask and s.masked_as_text}
    names = [s.name for s in specs]
    selection = Selection(frozenset([*names, *companions, CUSTOM_FIELDS]))
    own = await contacts.get_contact(session, replace(caller, audit=_scratch(caller)), contact_id, selection)
    as_target = replace(caller, principal=target, access=Access(target, policy.table(target.roles)),
                        audit=_scratch(caller))
    try:
        theirs = await contacts.get_contact(session, as_target, contact_id, selection)
    except NotFound:
        return Preview(False, None, [])
    shown: dict[str, Any] = {}
    denied = sorted(set(theirs.denied) | set(own.denied))
    for name in [*names, *companions]:
        spec = companions.get(name) or registry.get("contact", name)
        shown[name] = _plain(_stronger(spec, own.values.get(name), theirs.values.get(name)))
    mine = own.values.get(CUSTOM_FIELDS) or {}
    custom: dict[str, Any] = {}
    for key, value in (theirs.values.get(CUSTOM_FIELDS) or {}).items():
        kept = _stronger(registry.get("contact", key), mine.get(key), value)
        if kept is not None:
            custom[key] = _plain(kept)
    shown[CUSTOM_FIELDS] = custom
    read_fields: list[str] = []
    categories: list[str] = []
    for spec in registry.of("contact").values():
        if spec.custom:
            present = custom.get(spec.name)
        else:
            present = shown.get(spec.name)
            if present is None:
                present = shown.get(spec.name + MASKED_SUFFIX)
        if spec.pii and present is not None:
            read_fields.append(f"{CUSTOM_FIELDS}.{spec.name}" if spec.custom else spec.name)
            categories.append(spec.pii)
    caller.audit.event("READ", entity_type="contact", entity_id=str(contact_id), fields=read_fields,
                       categories=categories, details={"previewAs": str(user_id)})
    return Preview(True, shown, denied)


def _scratch(caller: Caller) -> AuditBuffer:
    return AuditBuffer(caller.audit.actor)


def _stronger(spec: FieldSpec | None, my_value: Any, their_value: Any) -> Any:
    """The target's value, but never more than the caller's own: where the caller sees a mask and the target
    the clear value, the caller's mask is shown."""
    if my_value is None or my_value is DENIED or their_value is None or their_value is DENIED:
        return None
    if my_value == their_value or spec is None or spec.pii is None:
        return their_value
    if their_value == mask_value(spec.mask or "free_text", my_value):  # the caller sees it in clear, the target masked
        return their_value
    return my_value  # the caller's own view is the masked one


async def explain_record(
    session: AsyncSession, caller: Caller, user: User, resource: str, action: str, contact_id: uuid.UUID
) -> policies.AccessExplanation:
    """`explainAccess` on one contact: is it in the user's record scope, and what does the field rule give on it."""
    caller.access.require("policy", "read")
    await contacts.get_contact(session, caller, contact_id, Selection(frozenset()))  # NOT_FOUND unless visible
    policy = await policies.current_policy(session, caller)
    principal = _principal(policy, user)
    access = Access(principal, policy.table(principal.roles))
    kind = rulebook.resource_kind(resource)
    visible = bool(await session.scalar(
        select(access.record_filter("contact", "read" if kind == "field" else action)).where(Contact.id == contact_id)
    ))
    base = await policies.explain(session, caller, user, resource, action)
    if kind == "record":
        effect = Effect.ALLOW if visible else Effect.DENY
        reason = "this contact is in the user's record scope" if visible else "this contact is outside their scope"
        return replace(base, effect=effect, reason=reason)
    if kind != "field" or not resource.startswith("contact."):
        raise BadInput("with contactId, resource is `contact` or a contact field", field="resource")
    if not visible:
        return replace(base, effect=Effect.DENY, reason="this contact is outside the user's record scope")
    ruling = access.field("contact", resource.removeprefix("contact."), action)
    flags = access.scope_columns("contact", ruling.scopes)
    held: dict[str, bool] = {}
    if flags:
        row = (await session.execute(select(*flags.values()).where(Contact.id == contact_id))).one()
        held = dict(zip(flags, row, strict=True))
    effect, rule = ruling.decide(lambda s: held.get(s, False))
    reason = (f"{effect.value.upper()} by {rule.role}: {rule.resource} ({rule.scope}) on this contact" if rule
              else "no rule applies on this contact: " + ("denied (PII)" if effect is Effect.DENY else "follows the "
                                                          "record rule"))
    return replace(base, effect=effect, reason=reason, rules=[rule] if rule else [])
