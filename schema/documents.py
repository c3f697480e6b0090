"""Trusted documents: register GraphQL documents by SHA-256 and pin API keys to them. Adapters only."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from db.models import TrustedDocument as TrustedDocumentRow
from resolvers import documents
from schema.context import Context
from schema.ids import uuid_of


@strawberry.type(description="A registered GraphQL document; send `{\"documentId\": id}` instead of its text.")
class TrustedDocument:
    id: str = strawberry.field(description="`sha256:` and the hex SHA-256 of the document's UTF-8 text.")
    name: str | None
    document: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: TrustedDocumentRow) -> TrustedDocument:
        return cls(id=documents.PREFIX + row.sha256, name=row.name, document=row.body, created_at=row.created_at)


@strawberry.type
class TrustedDocumentQueries:
    @strawberry.field(description="Registered documents, oldest first. Requires `api_key read`.")
    async def trusted_documents(self, info: Info[Context, None]) -> list[TrustedDocument]:
        async with info.context.db() as (session, caller):
            return [TrustedDocument.of(r) for r in await documents.listed(session, caller)]


@strawberry.type
class TrustedDocumentMutations:
    @strawberry.mutation(
        description="Register a document (it must validate against this schema); the same text twice is the "
        "same document. Requires `api_key write`."
    )
    async def register_trusted_document(
        self, info: Info[Context, None], document: str, name: str | None = None
    ) -> TrustedDocument:
        async with info.context.mutation() as (session, caller):
            row = await documents.register(session, caller, info.schema._schema, document, name)
            return TrustedDocument.of(row)

    @strawberry.mutation(
        description="Pin an API key to registered documents: from then on it runs only those (FORBIDDEN with "
        "`reason: DOCUMENT_NOT_TRUSTED` otherwise). An empty list lifts the pin. Returns the ids pinned. "
        "Requires `api_key write`."
    )
    async def set_api_key_documents(
        self, info: Info[Context, None], api_key_id: strawberry.ID, document_ids: list[str]
    ) -> list[str]:
        key_id = uuid_of(str(api_key_id), "ApiKey", "apiKeyId")
        async with info.context.mutation() as (session, caller):
            return await documents.pin(session, caller, key_id, document_ids)
