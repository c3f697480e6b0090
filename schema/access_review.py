"""Seeing the rules: `effectiveAccess`, `previewAs`, `previewPolicyChange`. Adapters only."""

from __future__ import annotations

import enum
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from authz import effective
from resolvers import access_review, policy_preview
from schema.context import Context
from schema.enums import Effect
from schema.ids import to_global, uuid_of
from schema.policies import PolicyRuleInput


@strawberry.type(description="The compiled effect on rows in one scope.")
class ScopedEffect:
    scope: str = strawberry.field(description="A record scope (`all`: every other visible row).")
    effect: Effect

    @classmethod
    def many(cls, chain: tuple[effective.ScopedEffect, ...]) -> list[ScopedEffect]:
        return [cls(scope=s.scope, effect=Effect(s.effect.value)) for s in chain]


@strawberry.type(
    description="One field's compiled decisions, after precedence. Each list is a first-match chain: the first "
    "scope that holds for a row gives its effect; the closing `all` entry covers every other row."
)
class FieldAccess:
    field: str
    pii_category: str | None
    custom: bool
    read: list[ScopedEffect]
    write: list[ScopedEffect]

    @classmethod
    def from_access(cls, a: effective.FieldAccess) -> FieldAccess:
        return cls(field=a.field, pii_category=a.pii_category, custom=a.custom, read=ScopedEffect.many(a.read),
                   write=ScopedEffect.many(a.write))


@strawberry.type(description="A contact as another user would receive it.")
class ContactPreview:
    visible: bool = strawberry.field(description="False when the contact is outside the user's record scope.")
    fields: JSON | None = strawberry.field(
        description="Field -> value as they would get it (masked values masked, denied ones null); never more "
        "than the caller may see."
    )
    denied_fields: list[str] = strawberry.field(description="Fields denied to them (or to you) on this contact.")


@strawberry.enum(description="Whether `previewPolicyChange` adds or removes the rule.")
class PolicyChange(enum.Enum):
    ADD = "add"
    REMOVE = "remove"


@strawberry.type(description="One decision that would change.")
class AccessChange:
    resource: str = strawberry.field(description="A field (`contact.email`), a record rule or an operation.")
    action: str
    before: list[ScopedEffect]
    after: list[ScopedEffect]


@strawberry.type(description="A user or API key whose access would change.")
class AccessImpact:
    principal_kind: str = strawberry.field(description="`user` or `api_key`.")
    principal_id: strawberry.ID
    label: str = strawberry.field(description="The user's email or the key's name.")
    roles: list[str]
    changes: list[AccessChange]
    records: int | None = strawberry.field(
        description="Records of the entity in their scope (after the change) where the rule's scope holds."
    )

    @classmethod
    def from_impact(cls, i: Any) -> AccessImpact:
        type_name = "User" if i.kind == "user" else "ApiKey"
        changes = [AccessChange(resource=c.resource, action=c.action, before=ScopedEffect.many(c.before),
                                after=ScopedEffect.many(c.after)) for c in i.changes]
        return cls(principal_kind=i.kind, principal_id=strawberry.ID(to_global(type_name, i.id)), label=i.label,
                   roles=i.roles, changes=changes, records=i.records)


@strawberry.type
class AccessReviewQueries:
    @strawberry.field(
        description="Per field (built-in and custom) of an entity: PII category and the compiled read and write "
        "effect per scope, for a role or a user's roles. Requires `policy read`."
    )
    async def effective_access(
        self,
        info: Info[Context, None],
        entity: Annotated[str, strawberry.argument(description="`contact` or `activity`.")],
        role: Annotated[str | None, strawberry.argument(description="One role (or give userId).")] = None,
        user_id: Annotated[strawberry.ID | None, strawberry.argument(description="A user's roles.")] = None,
    ) -> list[FieldAccess]:
        uid = uuid_of(str(user_id), "User", "userId") if user_id else None
        async with info.context.db() as (session, caller):
            rows = await access_review.effective_access(session, caller, entity, role, uid)
        return [FieldAccess.from_access(r) for r in rows]

    @strawberry.field(
        description="A contact exactly as that user would receive it; audited as your READ with "
        "`details.previewAs`. Requires `policy read`."
    )
    async def preview_as(self, info: Info[Context, None], user_id: strawberry.ID, contact_id: strawberry.ID
                         ) -> ContactPreview:
        uid, cid = uuid_of(str(user_id), "User", "userId"), uuid_of(str(contact_id), "Contact", "contactId")
        async with info.context.db() as (session, caller):
            p = await access_review.preview_as(session, caller, uid, cid)
        fields = None if p.fields is None else JSON(p.fields)
        return ContactPreview(visible=p.visible, fields=fields, denied_fields=p.denied)

    @strawberry.field(
        description="Before saving: which users and API keys would gain or lose which effect on which fields, and "
        "on how many records. Nothing is changed. Requires `policy read`."
    )
    async def preview_policy_change(
        self, info: Info[Context, None], rule: PolicyRuleInput, change: PolicyChange
    ) -> list[AccessImpact]:
        async with info.context.db() as (session, caller):
            impacts = await policy_preview.preview(session, caller, rule.to_rule(), change is PolicyChange.ADD,
                                                   caller.runtime.now())
        return [AccessImpact.from_impact(i) for i in impacts]
