"""The Schema: every capability's queries and mutations merged, hardened, with the unit-of-work extension."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import DisableIntrospection
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, Info

from authz.permissions import SIGNED_IN
from schema.access_review import AccessReviewQueries
from schema.activities import Activity, ActivityMutations, ActivityQueries
from schema.admin import AdminMutations, AdminQueries
from schema.audit import AuditMutations, AuditQueries
from schema.compiled.documents import CachedDocuments, DocumentCache, schema_version
from schema.contacts import Contact, ContactMutations, ContactQueries
from schema.context import Context
from schema.data_requests import DataRequestMutations, DataRequestQueries
from schema.documents import TrustedDocumentMutations, TrustedDocumentQueries
from schema.errors import UnitOfWork
from schema.execution import TurnTakingExecutionContext
from schema.exports import ExportMutations, ExportQueries
from schema.history import HistoryQueries
from schema.identity import IdentityMutations, IdentityQueries, Team, User, team_of, user_of
from schema.ids import from_global
from schema.imports import ImportMutations, ImportQueries
from schema.limits import DEFAULT_MAX_COST, limit_extensions
from schema.merge import MergeMutations, MergeQueries
from schema.nodes import Node
from schema.people import PeopleMutations, PeopleQueries
from schema.policies import PolicyMutations, PolicyQueries
from schema.privacy import PrivacyMutations, PrivacyQueries
from schema.retention import RetentionMutations, RetentionQueries
from schema.roles import RoleMutations, RoleQueries
from schema.scalars import SCALAR_OVERRIDES
from schema.selection import names, node_fields
from schema.strings import StringRules, StringVariables
from schema.webhooks import WebhookMutations, WebhookQueries
from schema.workspace import WorkspaceLifeMutations, WorkspaceLifeQueries


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any object by its global ID, under the same record scope and field rules as its own query. "
        + SIGNED_IN
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        type_name, raw_id = from_global(str(id))
        loaders = info.context.loaders
        fields = names(node_fields(info))
        if type_name == "Contact":
            record = await loaders.contacts_by_id.load((raw_id, fields.names))
        elif type_name == "Activity":
            record = await loaders.activities_by_id.load((raw_id, fields.names))
        elif type_name == "User":
            return await user_of(info, raw_id)
        elif type_name == "Team":
            return await team_of(info, raw_id)
        else:
            return None
        if record is not None:
            info.context.redact_record(info, record)
        return Contact.wrap(record) if type_name == "Contact" else Activity.wrap(record)


# One capability per line: a new capability adds its import and one line in each tuple.
QUERIES: tuple[type, ...] = (
    NodeQuery,
    IdentityQueries,
    ContactQueries,
    ActivityQueries,
    PolicyQueries,
    RoleQueries,
    AdminQueries,
    AuditQueries,
    ExportQueries,
    HistoryQueries,
    WorkspaceLifeQueries,
    DataRequestQueries,
    RetentionQueries,
    PrivacyQueries,
    PeopleQueries,
    AccessReviewQueries,
    WebhookQueries,
    TrustedDocumentQueries,
    ImportQueries,
    MergeQueries,
)
MUTATIONS: tuple[type, ...] = (
    IdentityMutations,
    ContactMutations,
    ActivityMutations,
    PolicyMutations,
    RoleMutations,
    AdminMutations,
    AuditMutations,
    ExportMutations,
    WorkspaceLifeMutations,
    DataRequestMutations,
    RetentionMutations,
    PrivacyMutations,
    PeopleMutations,
    WebhookMutations,
    TrustedDocumentMutations,
    ImportMutations,
    MergeMutations,
)
Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS)


class CrmSchema(strawberry.Schema):
    documents: DocumentCache  # parsed and validated documents, and the compiled plans (`schema.compiled`)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Expected errors (typed, denied) are not logged; the UnitOfWork extension logs unexpected ones."""


def build_schema(*, production: bool = False, max_cost: int = DEFAULT_MAX_COST) -> CrmSchema:
    unit = type("ProductionUnitOfWork" if production else "UnitOfWork", (UnitOfWork,), {"production": production})
    extensions: list[Any] = [unit, *limit_extensions(max_cost), StringRules, StringVariables]
    if production:
        extensions.append(DisableIntrospection)
    extensions.append(CachedDocuments)  # last: every rule and parse option is in place when it runs
    schema = CrmSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        types=[Contact, Activity, User, Team],
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        execution_context_class=TurnTakingExecutionContext,  # objects completed in fair turns of the loop
    )
    schema.documents = DocumentCache(schema._schema, schema_version(str(schema)))
    return schema


def sdl() -> str:
    return str(build_schema()) + "\n"


__all__: list[Any] = ["build_schema", "sdl"]
