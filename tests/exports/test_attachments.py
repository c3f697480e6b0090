"""Attachment bytes over HTTP: `POST /attachments` (auth, content type checked against the bytes, size and
SHA-256), linking by `createActivity(attachmentIds)`, `GET /attachments/{id}` for whoever sees the activity
(404 otherwise), every download audited; and the attachment's bytes in the contact export."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import httpx
import pytest

from resolvers.runtime import Runtime
from schema.ids import from_global, to_global
from tests.exports.helpers import CONTACT_EXPORT, get, job, opened, run_job
from tests.factories.workspaces import GraphQLClient, Workspace, WorkspaceFactory
from tests.privacy.helpers import canary, sql

PDF = b"%PDF-1.4\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"%%EOF\n"
ACTIVITY = "mutation($i:ActivityInput!){ createActivity(input:$i){ id attachments { id filename sizeBytes sha256 } } }"


async def upload(http: httpx.AsyncClient, token: str | None, content: bytes, content_type: str = "application/pdf",
                 filename: str = "quote.pdf", part: str = "file") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.post("/attachments", files={part: (filename, content, content_type)}, headers=headers)


def code(response: httpx.Response) -> tuple[int, str, str | None]:
    ext: dict[str, Any] = response.json()["errors"][0]["extensions"]
    return response.status_code, ext["code"], ext.get("field")


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("seller", ["sales"], team="alpha")
    await ws.user("stranger", ["sales"], team="beta")
    await ws.user("marketer", ["marketing"])
    return ws


async def attachment_rows(runtime: Runtime, ws: Workspace) -> int:
    return int((await sql(runtime, ws.slug, "SELECT count(*) FROM attachments"))[0][0])


async def test_upload_link_and_download_round_trip(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    seller = ws.users["seller"]
    created = await upload(http, seller["token"], PDF, "application/pdf; charset=binary", "../../etc/quote.pdf")
    assert created.status_code == 201, created.text
    meta = created.json()
    assert meta["filename"] == "quote.pdf"  # path parts dropped
    assert (meta["contentType"], meta["sizeBytes"], meta["sha256"]) == (
        "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())

    # Before it is linked, only the uploader may fetch it.
    mine = await http.get(f"/attachments/{meta['id']}", headers={"Authorization": f"Bearer {seller['token']}"})
    assert mine.status_code == 200 and mine.content == PDF
    other = await http.get(f"/attachments/{meta['id']}", headers={"Authorization": f"Bearer {ws.admin_token}"})
    assert code(other) == (404, "NOT_FOUND", None)

    contact = await ws.contact(seller["token"], firstName=canary("At"))
    activity = (await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "subject": "Quote",
                                              "attachmentIds": [meta["id"]]}}, seller["token"]))["createActivity"]
    assert [a["id"] for a in activity["attachments"]] == [meta["id"]]

    for token in (seller["token"], ws.admin_token):  # the activity's readers
        response = await http.get(f"/attachments/{meta['id']}", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.content == PDF
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert 'filename="quote.pdf"' in response.headers["content-disposition"]
    for label in ("stranger", "marketer"):  # cannot see the contact, so not the activity or its file
        response = await http.get(f"/attachments/{meta['id']}",
                                  headers={"Authorization": f"Bearer {ws.users[label]['token']}"})
        assert code(response) == (404, "NOT_FOUND", None)
    exports = await sql(runtime, ws.slug, "SELECT count(*) FROM audit_events WHERE action = 'EXPORT' "
                        "AND entity_type = 'attachment' AND entity_id = :a", {"a": str(from_global(meta["id"])[1])})
    assert exports[0][0] == 3  # the uploader's early fetch and the two readers' downloads

    # Linked once: it cannot be linked to a second activity.
    again = await gql.raw(ACTIVITY, {"i": {"contactId": contact, "kind": "NOTE", "attachmentIds": [meta["id"]]}},
                          seller["token"])
    assert again["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "attachmentIds"}


async def test_the_contact_export_carries_the_attachment_bytes(
    gql: GraphQLClient, http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    text = f"minutes {canary('Tx')}\n".encode()
    meta = (await upload(http, ws.admin_token, text, "text/plain", "minutes.txt")).json()
    contact = await ws.contact(firstName=canary("Ex"))
    await gql.ok(ACTIVITY, {"i": {"contactId": contact, "kind": "MEETING", "attachmentIds": [meta["id"]]}},
                 ws.admin_token)
    queued = (await gql.ok(CONTACT_EXPORT, {"c": contact}, ws.admin_token))["requestContactExport"]
    await run_job(runtime, ws.slug, queued["id"])
    archive = opened(await get(http, (await job(gql, ws.admin_token, queued["id"]))["downloadUrl"]))
    [activity] = json.loads(archive.read("activities.json"))
    [listed] = activity["attachments"]
    assert (listed["sha256"], listed["sizeBytes"]) == (hashlib.sha256(text).hexdigest(), len(text))
    assert archive.read(listed["file"]) == text


async def test_bad_uploads_are_refused_and_store_nothing(
    http: httpx.AsyncClient, runtime: Runtime, ws: Workspace
) -> None:
    seller, before = ws.users["seller"]["token"], await attachment_rows(runtime, ws)
    assert code(await upload(http, None, PDF)) == (401, "UNAUTHENTICATED", None)
    assert code(await upload(http, seller, PDF, "application/x-msdownload", "run.exe")) == (
        400, "BAD_USER_INPUT", "file")
    assert code(await upload(http, seller, b"MZ\x90\x00 not a pdf", "application/pdf")) == (
        400, "BAD_USER_INPUT", "file")  # the bytes are not what the content type says
    assert code(await upload(http, seller, b"\x00\x01binary", "text/plain", "notes.txt")) == (
        400, "BAD_USER_INPUT", "file")
    assert code(await upload(http, seller, b"", "text/plain", "empty.txt")) == (400, "BAD_USER_INPUT", "file")
    assert code(await upload(http, seller, PDF, part="document")) == (400, "BAD_USER_INPUT", "file")
    marketer = ws.users["marketer"]["token"]  # no activity write
    assert code(await upload(http, marketer, PDF)) == (403, "FORBIDDEN", None)
    assert await attachment_rows(runtime, ws) == before


async def test_unknown_or_malformed_attachment_ids_are_not_found(http: httpx.AsyncClient, ws: Workspace) -> None:
    auth = {"Authorization": f"Bearer {ws.admin_token}"}
    assert code(await http.get("/attachments/nonsense", headers=auth)) == (404, "NOT_FOUND", None)
    from_contact = await ws.contact(firstName=canary("Id"))  # a real global id of another type
    assert code(await http.get(f"/attachments/{from_contact}", headers=auth)) == (404, "NOT_FOUND", None)
    unknown = to_global("Attachment", uuid.uuid4())
    assert code(await http.get(f"/attachments/{unknown}", headers=auth)) == (404, "NOT_FOUND", None)
    assert code(await http.get(f"/attachments/{unknown}")) == (401, "UNAUTHENTICATED", None)
