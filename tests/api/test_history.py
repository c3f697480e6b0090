"""The change history keeps old and new values (encrypted at rest), for admins only, and reading it is audited."""

from __future__ import annotations

from sqlalchemy import text

from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory

HISTORY = "query($id:ID!){contactHistory(contactId:$id){field oldValue newValue actorKind}}"


async def test_admin_reads_old_and_new_values_and_sales_may_not(
    workspaces: WorkspaceFactory, gql: GraphQLClient, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    sales = await ws.user("sales", ["sales"], team="East")
    cid = await ws.contact(sales["token"], firstName="Mei", phone="9123 4567")
    await gql.ok("mutation($id:ID!){updateContact(id:$id,input:{phone:\"6123 4567\",hkid:\"A1234563\"}){id}}",
                 {"id": cid}, ws.admin_token)

    changes = (await gql.ok(HISTORY, {"id": cid}, ws.admin_token))["contactHistory"]
    assert {"field": "phone", "oldValue": "+85291234567", "newValue": "+85261234567", "actorKind": "user"} in changes
    assert {"field": "hkid", "oldValue": None, "newValue": "A123456(3)", "actorKind": "user"} in changes
    assert {"field": "firstName", "oldValue": None, "newValue": "Mei", "actorKind": "user"} in changes

    denied = await gql.raw(HISTORY, {"id": cid}, sales["token"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    tenant = await runtime.directory.get(ws.slug)
    assert tenant is not None
    async with tenant.engine.connect() as conn:
        dump = " ".join(str(r) for r in (await conn.execute(text("select * from contact_history"))).all())
        reads = (await conn.execute(text(
            "select fields from audit_events where action = 'READ' and 'history.phone' = any(fields)"))).all()
    # values are ciphertext at rest (whole values: a random id may hold any short digit run)
    assert "+85261234567" not in dump and "A123456(3)" not in dump and "+85291234567" not in dump
    assert len(reads) == 1
