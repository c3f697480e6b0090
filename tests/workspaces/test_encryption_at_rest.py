"""High-risk PII never reaches the database in clear, and a ciphertext moved to another row fails loudly."""

from __future__ import annotations

import io

import pytest

from db import crypto
from db.queries import contacts as contact_q
from resolvers.contacts.validation import hkid_check_digit
from resolvers.runtime import Runtime
from schema.ids import from_global
from tests.factories.workspaces import GraphQLClient, WorkspaceFactory
from tests.workspaces.helpers import codes, raw, tenant_of

HKID = f"R482916({hkid_check_digit('R', '482916')})"
TAX_ID = "TAXCANARY8842"
SALARY = 918273645
BIRTH_DATE = "1957-08-19"
PASSPORT = "K77CANARY31"
NEW_SALARY = 918273646
CANARIES = [HKID, "R482916", TAX_ID, str(SALARY), str(NEW_SALARY), BIRTH_DATE, PASSPORT]
READ = "query($id:ID!){ contact(id:$id){ id firstName hkid taxId salary dateOfBirth customFields } }"


async def dump(runtime: Runtime, slug: str) -> str:
    """Every table of the workspace database as `COPY ... TO STDOUT` text, the way a stolen backup reads."""
    conn = await raw(await tenant_of(runtime, slug))
    try:
        tables = await conn.fetch(
            "select table_name from information_schema.tables where table_schema = 'public'"
            " and table_type = 'BASE TABLE' order by 1"
        )
        out = io.BytesIO()
        for (name,) in tables:
            out.write(f"-- {name}\n".encode())
            await conn.copy_from_query(f'SELECT * FROM "{name}"', output=out)
        return out.getvalue().decode()
    finally:
        await conn.close()


async def test_a_raw_dump_holds_no_high_risk_pii(gql: GraphQLClient, workspaces: WorkspaceFactory,
                                                 runtime: Runtime) -> None:
    ws = await workspaces.create()
    await gql.ok(
        'mutation{ defineCustomField(entity:"contact", name:"passportNo", type:"String", piiCategory:"government_id",'
        ' purpose:"KYC"){ name } }',
        token=ws.admin_token,
    )
    contact = await ws.contact(
        firstName="Plainname", lastName="Canary", hkid=HKID, taxId=TAX_ID, salary=SALARY, dateOfBirth=BIRTH_DATE,
        customFields={"passportNo": PASSPORT},
    )
    # History holds old and new values; reads and updates write audit rows.
    await gql.ok("mutation($id:ID!,$s:Int){ updateContact(id:$id, input:{salary:$s}){ id } }",
                 {"id": contact, "s": NEW_SALARY}, ws.admin_token)
    got = (await gql.ok(READ, {"id": contact}, ws.admin_token))["contact"]
    assert (got["hkid"], got["taxId"], got["salary"], got["dateOfBirth"]) == (HKID, TAX_ID, NEW_SALARY, BIRTH_DATE)
    assert got["customFields"] == {"passportNo": PASSPORT}

    text = await dump(runtime, ws.slug)
    assert "-- contacts" in text and "-- contact_history" in text and "-- audit_log" in text
    assert "Plainname" in text  # the dump is real: unencrypted fields are there
    for canary in CANARIES:
        assert canary not in text, canary
        assert canary.encode().hex() not in text, f"{canary} (as hex bytea)"
        assert canary.encode().hex().upper() not in text


async def test_a_ciphertext_copied_onto_another_row_fails_instead_of_reading_as_that_row(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    alice = await ws.contact(firstName="Alice", hkid="A123456(3)")
    bob = await ws.contact(firstName="Bob", hkid=f"B765432({hkid_check_digit('B', '765432')})")
    alice_id, bob_id = from_global(alice)[1], from_global(bob)[1]
    tenant = await tenant_of(runtime, ws.slug)
    conn = await raw(tenant)
    try:
        blob = await conn.fetchval("select hkid_enc from contacts where id = $1", alice_id)
        await conn.execute("update contacts set hkid_enc = $1 where id = $2", blob, bob_id)
    finally:
        await conn.close()

    with pytest.raises(crypto.DecryptionError):
        tenant.cipher.decrypt_str(contact_q.location("hkid_enc", bob_id), blob)
    body = await gql.raw(READ, {"id": bob}, ws.admin_token)
    assert codes(body) == ["INTERNAL"]
    assert "A123456" not in str(body) and "requestId" in body["errors"][0]["extensions"]
    # The row the ciphertext belongs to still reads fine.
    assert (await gql.ok(READ, {"id": alice}, ws.admin_token))["contact"]["hkid"] == "A123456(3)"
    # A ciphertext of another workspace (same table, column and row id) fails too.
    other = await tenant_of(runtime, (await workspaces.create()).slug)
    with pytest.raises(crypto.DecryptionError):
        other.cipher.decrypt_str(contact_q.location("hkid_enc", alice_id), blob)
