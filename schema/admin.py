"""Workspace administration: the workspace itself, field definitions and the PII inventory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from authz.fields import PII_CATEGORIES
from authz.permissions import SIGNED_IN, Action, Resource, requires
from resolvers import fields
from schema import selection
from schema.context import Context
from schema.enums import WorkspaceStatus


@strawberry.type
class Workspace:
    slug: str
    name: str
    region: str
    status: WorkspaceStatus
    purge_after: dt.datetime | None


PII_CATEGORY_DOC = ("The field's PII category, one of: " + ", ".join(PII_CATEGORIES) + " (health, biometric, children "
                    "and criminal_records are sensitive: encrypted at rest); null when not personal data.")


@strawberry.type
class FieldDefinition:
    entity: str
    name: str
    type: str
    custom: bool
    pii_category: str | None = strawberry.field(description=PII_CATEGORY_DOC)
    purpose: str | None

    @classmethod
    def from_model(cls, f: Any) -> FieldDefinition:
        return cls(
            entity=f.entity, name=f.name, type=f.type, custom=f.custom, pii_category=f.pii_category, purpose=f.purpose
        )


@strawberry.type
class PiiInventoryRow:
    entity: str
    field: str
    pii_category: str
    records_with_value: int = strawberry.field(description="Records holding a value (erased contacts hold none).")
    purpose: str | None
    encrypted: bool = strawberry.field(description="Stored AES-256-GCM encrypted in the application.")
    custom: bool
    readable_by: list[str] = strawberry.field(
        description="Roles that can read the field (in clear or masked) on some record they may read, from the "
        "compiled decisions, each role on its own. Selecting it " + requires(Resource.POLICY, Action.READ))
    masked_for: list[str] = strawberry.field(
        description="Of readableBy, the roles that only ever get it masked. Selecting it "
        + requires(Resource.POLICY, Action.READ))


@strawberry.type
class AdminQueries:
    @strawberry.field(description="The workspace signed in to: slug, name, region, status. " + SIGNED_IN)
    async def workspace(self, info: Info[Context, None]) -> Workspace:
        caller = await info.context.caller()
        t = caller.tenant
        return Workspace(
            slug=t.slug, name=t.name, region=t.region, status=WorkspaceStatus(t.status), purge_after=t.purge_after
        )

    @strawberry.field(
        description="What the CRM stores: every field, its type and PII category. "
        + requires(Resource.FIELD_DEFINITION, Action.READ)
    )
    async def field_definitions(self, info: Info[Context, None], entity: str | None = None) -> list[FieldDefinition]:
        async with info.context.db() as (session, caller):
            return [FieldDefinition.from_model(f) for f in await fields.definitions(session, caller, entity)]

    @strawberry.field(
        description="Per PII field, how many records the caller may read hold a value. "
        + requires(Resource.FIELD_DEFINITION, Action.READ)
    )
    async def pii_inventory(self, info: Info[Context, None]) -> list[PiiInventoryRow]:
        wanted = set(selection.names(selection.node_fields(info)).names)
        async with info.context.db() as (session, caller):
            rows = await fields.inventory(session, caller, with_readers=bool({"readableBy", "maskedFor"} & wanted))
        return [
            PiiInventoryRow(
                entity=r.entity,
                field=r.field,
                pii_category=r.pii_category,
                records_with_value=r.records_with_value,
                purpose=r.purpose,
                encrypted=r.encrypted,
                custom=r.custom,
                readable_by=list(r.readable_by),
                masked_for=list(r.masked_for),
            )
            for r in rows
        ]


@strawberry.type
class AdminMutations:
    @strawberry.mutation(
        description="Adds a custom field, tagged with its PII category and purpose. "
        + requires(Resource.FIELD_DEFINITION, Action.WRITE)
    )
    async def define_custom_field(
        self,
        info: Info[Context, None],
        entity: str,
        name: str,
        type: str,
        pii_category: str | None = None,
        purpose: str | None = None,
    ) -> FieldDefinition:
        async with info.context.mutation() as (session, caller):
            row = await fields.define_custom_field(session, caller, entity, name, type, pii_category, purpose)
        return FieldDefinition.from_model(row)

    @strawberry.mutation(
        description="Sets a field's PII category. " + requires(Resource.FIELD_DEFINITION, Action.WRITE)
    )
    async def tag_field(
        self, info: Info[Context, None], entity: str, name: str, pii_category: str | None = None
    ) -> FieldDefinition:
        async with info.context.mutation() as (session, caller):
            return FieldDefinition.from_model(await fields.tag_field(session, caller, entity, name, pii_category))

    @strawberry.mutation(
        description="Removes a custom field and its values. " + requires(Resource.FIELD_DEFINITION, Action.WRITE)
    )
    async def remove_custom_field(self, info: Info[Context, None], entity: str, name: str) -> bool:
        async with info.context.mutation() as (session, caller):
            return await fields.remove_custom_field(session, caller, entity, name)
