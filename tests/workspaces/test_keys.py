"""`rotate-keys`: a new data key, every encrypted value re-encrypted in batches; killed midway and run again,
it finishes the same rotation, and every value stays readable throughout. HKID lookups keep working."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

from sqlalchemy import select

from db import crypto
from db.models import DataKey
from db.models import Workspace as CatalogWorkspace
from resolvers.contacts.validation import hkid_check_digit
from resolvers.runtime import Runtime
from resolvers.workspaces import keys
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.workspaces.helpers import raw, run_cli, start_cli, tenant_of

COUNT = 12
PAGE = """query($f:ContactFilter){ contacts(first: 200, filter:$f){ totalCount edges { node {
  id hkid taxId salary dateOfBirth customFields } } } }"""
PROGRESS = re.compile(r"^\[[#.]+\]\s+\d+%\s+(\d+)/(\d+) rows")


def hkid(i: int) -> str:
    digits = f"{314000 + i:06d}"
    return f"C{digits}({hkid_check_digit('C', digits)})"


async def seed(gql: GraphQLClient, ws: Workspace) -> dict[str, dict[str, Any]]:
    await gql.ok(
        'mutation{ defineCustomField(entity:"contact", name:"passportNo", type:"String", piiCategory:"government_id",'
        ' purpose:"KYC"){ name } }',
        token=ws.admin_token,
    )
    expected: dict[str, dict[str, Any]] = {}
    for i in range(COUNT):
        values = {
            "hkid": hkid(i), "taxId": f"TAX-{i:08d}", "salary": 30000 + i, "dateOfBirth": f"19{70 + i}-0{1 + i % 9}-11",
            "customFields": {"passportNo": f"P{i:07d}"},
        }
        contact = await ws.contact(firstName=f"Person {i}", **values)
        if i % 2:
            values["salary"] += 1000  # history rows: old and new salary, encrypted
            await gql.ok("mutation($id:ID!,$s:Int){ updateContact(id:$id, input:{salary:$s}){ id } }",
                         {"id": contact, "s": values["salary"]}, ws.admin_token)
        expected[contact] = values
    return expected


async def stored_versions(runtime: Runtime, slug: str) -> Counter[int]:
    """The key version of every ciphertext in the workspace database, read from the raw bytes."""
    conn = await raw(await tenant_of(runtime, slug))
    try:
        seen: Counter[int] = Counter()
        contacts = "select hkid_enc, tax_id_enc, date_of_birth_enc, salary_enc, custom_fields from contacts"
        for row in await conn.fetch(contacts):
            blobs = [row[c] for c in ("hkid_enc", "tax_id_enc", "date_of_birth_enc", "salary_enc")]
            blobs += [bytes.fromhex(v["$enc"]) for v in _json(row["custom_fields"]).values() if isinstance(v, dict)]
            seen.update(crypto.key_version_of(b) for b in blobs if b is not None)
        for row in await conn.fetch("select old_enc, new_enc from contact_history"):
            seen.update(crypto.key_version_of(b) for b in (row["old_enc"], row["new_enc"]) if b is not None)
        return seen
    finally:
        await conn.close()


def _json(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value or {})


async def read_all(gql: GraphQLClient, ws: Workspace) -> dict[str, dict[str, Any]]:
    page = (await gql.ok(PAGE, token=ws.admin_token))["contacts"]
    return {
        e["node"]["id"]: {k: e["node"][k] for k in ("hkid", "taxId", "salary", "dateOfBirth", "customFields")}
        for e in page["edges"]
    }


async def data_keys(runtime: Runtime, slug: str) -> tuple[int, dict[int, bool]]:
    """(current version, {version: finished})."""
    async with runtime.directory.catalog.connect() as conn:
        ws = (await conn.execute(select(CatalogWorkspace).where(CatalogWorkspace.slug == slug))).one()
        rows = (await conn.execute(select(DataKey).where(DataKey.workspace_id == ws.id))).all()
    return ws.current_key_version, {r.version: r.reencrypted_at is not None for r in rows}


async def test_rotation_killed_midway_then_resumed_leaves_every_value_readable(
    gql: GraphQLClient, workspaces: WorkspaceFactory, runtime: Runtime
) -> None:
    ws = await workspaces.create()
    expected = await seed(gql, ws)
    assert set((await stored_versions(runtime, ws.slug)).keys()) == {1}

    proc = await start_cli("rotate-keys", "--workspace", ws.slug, "--batch-size", "2", "--pause", "1")
    assert proc.stderr is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while True:
            line = (await proc.stderr.readline()).decode()
            assert line, f"rotate-keys ended before its first batch: {seen}"
            seen.append(line)
            match = PROGRESS.match(line)
            if match and int(match.group(1)) > 0:
                break
    proc.kill()  # SIGKILL after the first batch, in the pause before the next one
    await proc.wait()

    halfway = await stored_versions(runtime, ws.slug)
    assert halfway[1] > 0 and halfway[2] > 0, halfway
    assert await data_keys(runtime, ws.slug) == (2, {1: False, 2: False})
    # Old and new ciphertexts side by side: every value reads (this process reloaded the keys within the TTL).
    assert await read_all(gql, ws) == expected

    run = await run_cli("rotate-keys", "--workspace", ws.slug, "--batch-size", "5")
    assert run.code == 0, run.err
    assert run.out.strip().startswith(f"workspace {ws.slug}: resumed, every value on key v2 (")
    bars = [m for m in map(PROGRESS.match, run.err_lines) if m]
    assert bars and bars[-1].group(1) == bars[-1].group(2)  # the bar reaches every row
    done = await stored_versions(runtime, ws.slug)
    assert set(done) == {2} and sum(done.values()) == sum(halfway.values())
    assert await data_keys(runtime, ws.slug) == (2, {1: False, 2: True})
    assert await read_all(gql, ws) == expected

    # Exact-match lookup by HKID uses the stable index key: unaffected by rotation.
    target = next(iter(expected))
    found = (await gql.ok(PAGE, {"f": {"hkid": expected[target]["hkid"]}}, ws.admin_token))["contacts"]
    assert found["totalCount"] == 1 and found["edges"][0]["node"]["id"] == target

    # The next rotation makes a new key (the last one finished) and re-encrypts everything.
    rotation = await keys.rotate(runtime.directory, ws.slug, batch_size=7, settle_seconds=0)
    assert (rotation.version, rotation.resumed, rotation.reencrypted) == (3, False, sum(done.values()))
    assert set(await stored_versions(runtime, ws.slug)) == {3}
    assert await read_all(gql, ws) == expected
    found = (await gql.ok(PAGE, {"f": {"hkid": expected[target]["hkid"]}}, ws.admin_token))["contacts"]
    assert found["totalCount"] == 1


async def test_rotate_keys_refuses_an_unknown_workspace_and_a_bad_batch_size(workspaces: WorkspaceFactory) -> None:
    run = await run_cli("rotate-keys", "--workspace", "no-such-ws")
    assert run.code != 0 and run.err_lines == ["error: no workspace 'no-such-ws'"]
    ws = await workspaces.create()
    run = await run_cli("rotate-keys", "--workspace", ws.slug, "--batch-size", "0")
    assert run.code != 0 and run.err_lines == ["error: the batch size is at least 1"]
