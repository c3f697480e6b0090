"""What an import leaves behind besides its contacts: the same change history `createContact` / `updateContact`
record (one row per field, values sealed, read back through `contactHistory`), webhook events only of the types
an active webhook subscribes to, and (db/bulk.py `copy_many`) a refused COPY raised as SQLAlchemy's `DBAPIError`
with nothing of it kept."""

from __future__ import annotations

import uuid
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Table, text
from sqlalchemy.exc import DBAPIError

from db import bulk
from db.models import ContactHistory
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.imports.test_imports import run_import, upload
from tests.privacy.helpers import hong_kong_mobile, sql
from tests.webhooks.helpers import create_webhook, webhook_options

HISTORY = "query($c:ID!){contactHistory(contactId:$c){field oldValue newValue actorKind}}"
HISTORY_TABLE = cast(Table, ContactHistory.__table__)


async def history(gql: GraphQLClient, ws: Workspace, contact_id: str) -> list[tuple[Any, ...]]:
    data = await gql.ok(HISTORY, {"c": contact_id}, ws.admin_token)
    changes = ((c["field"], c["oldValue"], c["newValue"], c["actorKind"]) for c in data["contactHistory"])
    return sorted(changes, key=repr)


async def test_an_import_records_what_create_and_update_record_and_only_subscribed_events(
    http: httpx.AsyncClient, gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    with webhook_options(runtime, allow_private=True):
        await create_webhook(gql, ws, "http://127.0.0.1:9/hook", ["contact.updated"])
    phone = hong_kong_mobile()
    reference = await ws.contact(firstName="Ref", lastName="Chan", email="ref@records.example.com", phone=phone,
                                 company="Kowloon Trading")
    old = await ws.contact(firstName="Old", email="old@records.example.com")
    data = (f"firstName,lastName,email,phone,company\nNew,Chan,new@records.example.com,{phone[4:8]} {phone[8:]},"
            "Kowloon Trading\nOld,,OLD@records.example.com,,New Co\n").encode()
    response = await upload(http, ws.admin_token, "records.csv", data)
    _, report = await run_import(http, gql, runtime, ws, response.json()["uploadId"], False, k=["email"])
    assert [r["action"] for r in report] == ["created", "updated"]
    created, updated = report[0]["contactId"], report[1]["contactId"]
    assert updated == old

    def renamed(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        values = {"Ref": "New", "ref@records.example.com": "new@records.example.com"}
        return [(f, o, values.get(n, n), k) for f, o, n, k in rows]

    assert await history(gql, ws, created) == renamed(await history(gql, ws, reference))  # as createContact
    assert ("company", None, "New Co", "user") in await history(gql, ws, old)  # as updateContact
    events = await sql(runtime, ws.slug, "SELECT type, entity_id FROM webhook_events ORDER BY occurred_at")
    assert events == [("contact.updated", str(from_global(old)[1]))]  # nobody subscribes to contact.created


async def test_a_refused_copy_is_a_dbapi_error_and_leaves_nothing(
    workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    contact = uuid.UUID(str(from_global(await ws.contact(firstName="Kept"))[1]))

    def row(contact_id: uuid.UUID) -> dict[str, Any]:
        return {"id": uuid.uuid4(), "contact_id": contact_id, "occurred_at": runtime.now(), "actor_id": None,
                "actor_kind": "system", "field": "firstName", "old_enc": None, "new_enc": b"x", "request_id": None}

    async with runtime.units.session(tenant.engine) as session:
        assert await bulk.copy_many(session, HISTORY_TABLE, [row(contact)]) == 1  # starts the transaction itself
        with pytest.raises(DBAPIError):
            async with session.begin_nested():
                await bulk.copy_many(session, HISTORY_TABLE, [row(contact), row(uuid.uuid4())])  # no such contact
        assert await bulk.copy_many(session, HISTORY_TABLE, [row(contact)]) == 1  # the session goes on
        counted = await session.scalar(text("SELECT count(*) FROM contact_history WHERE actor_kind = 'system'"))
        assert counted == 2
