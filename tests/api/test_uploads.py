"""The streamed upload both file routes share (`POST /attachments`, `POST /imports`, schema.routes.receive_file):
a body over the route's limit is a 413 BAD_USER_INPUT naming `file`, whether its Content-Length says so up front
or it streams without one, and nothing is stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest

from resolvers.contacts import attachments
from resolvers.imports import jobs as imports
from resolvers.runtime import Runtime
from tests.factories.workspaces import Workspace, WorkspaceFactory
from tests.privacy.helpers import sql

LIMIT = 1024  # the routes add 64 KiB of multipart framing to it
BOUNDARY = "upload-test-boundary"
ROUTES = [
    pytest.param("/attachments", attachments, "attachments", "text/plain", id="attachments"),
    pytest.param("/imports", imports, "import_uploads", "text/csv", id="imports"),
]


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    await ws.user("manager", ["manager"])  # may write activities and import contacts
    return ws


def multipart(content_type: str, content: bytes) -> tuple[bytes, bytes]:
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="people.csv"\r\n'
            f"Content-Type: {content_type}\r\n\r\n").encode()
    return head + content, f"\r\n--{BOUNDARY}--\r\n".encode()


async def rows(runtime: Runtime, ws: Workspace, table: str) -> int:
    return int((await sql(runtime, ws.slug, f"SELECT count(*) FROM {table}"))[0][0])


def refused(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"}


@pytest.mark.parametrize(("path", "module", "table", "content_type"), ROUTES)
async def test_an_upload_over_the_limit_is_413_and_stores_nothing(
    http: httpx.AsyncClient, runtime: Runtime, ws: Workspace, monkeypatch: pytest.MonkeyPatch,
    path: str, module: ModuleType, table: str, content_type: str,
) -> None:
    monkeypatch.setattr(module, "MAX_BYTES", LIMIT)
    headers = {"Authorization": f"Bearer {ws.users['manager']['token']}",
               "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    before = await rows(runtime, ws, table)
    big = b"firstName\n" + b"A\n" * 100 * 1024
    head, tail = multipart(content_type, big)

    refused(await http.post(path, content=head + tail, headers=headers))  # declared length

    sent = [0]

    async def streamed() -> AsyncIterator[bytes]:
        yield head[: len(head) - len(big)]
        for _ in range(100):
            sent[0] += 1
            yield b"a" * 8192
        yield tail

    refused(await http.post(path, content=streamed(), headers=headers))  # no Content-Length
    assert sent[0] < 100, "the body was read to the end"
    assert await rows(runtime, ws, table) == before

    small, end = multipart(content_type, b"firstName\nA\n")
    assert (await http.post(path, content=small + end, headers=headers)).status_code == 201
