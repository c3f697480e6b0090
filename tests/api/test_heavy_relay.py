"""Heavy operations are relayed to the heavy-lane process (`schema.heavy_relay`): over real HTTP, a front server on
loopback and the heavy-lane app on a Unix socket, each uvicorn with its own loop and runtime, as `serve` runs them.

The relayed request is the client's: its request id, its address (in X-Forwarded-For, which the heavy lane
trusts), one rate-limit count; light operations never leave the front; an unreachable heavy lane means the
operation runs in the front; a heavy lane that breaks after the request was delivered is answered INTERNAL,
never run a second time.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

import main
from resolvers.runtime import Runtime
from settings import Settings
from tests.api.helpers import serving
from tests.audit.helpers import execute, rows
from tests.factories.workspaces import Workspace, WorkspaceFactory

HEAVY = "{ contacts(first: 20) { edges { node { id firstName hkid } } } }"  # cost 101: heavy at a threshold of 100
LIGHT = "{ me { id } }"


@pytest.fixture(scope="module")
async def ws(workspaces: WorkspaceFactory) -> Workspace:
    ws = await workspaces.create()
    for i in range(3):
        await ws.contact(firstName=f"Relay{i}", lastName="Chan", hkid="A123456(3)")
    return ws


@pytest.fixture
def lowered(settings: Settings) -> Settings:
    return settings.model_copy(update={"heavy_query_cost": 100})


@contextmanager
def heavy_lane(settings: Settings, endpoints: main.Endpoints, path: str) -> Iterator[None]:
    """The heavy-lane app on `path`, configured as `cli.heavy_lane.serve_heavy_lane` configures it."""
    config = uvicorn.Config(main.create_app(settings, endpoints), uds=path, log_level="warning", lifespan="on",
                            proxy_headers=True, forwarded_allow_ips="*")
    with serving(config):
        yield


@asynccontextmanager
async def front(settings: Settings, endpoints: main.Endpoints, path: str) -> AsyncIterator[httpx.AsyncClient]:
    """An API server on loopback relaying heavy operations to `path`, and a client of it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = main.create_app(settings, endpoints, heavy_lane_socket=path)
    with serving(uvicorn.Config(app, log_level="warning", lifespan="on"), sock):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=30) as client:
            yield client
    sock.close()


@pytest.fixture
def socket_path() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="crm-heavy-test-") as directory:
        yield str(Path(directory) / "graphql.sock")


def names(body: dict) -> list[str]:
    return sorted(e["node"]["firstName"] for e in body["data"]["contacts"]["edges"])


async def test_a_heavy_operation_is_answered_by_the_heavy_lane_as_the_clients_request(
    lowered: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace, socket_path: str
) -> None:
    with heavy_lane(lowered, endpoints, socket_path):
        async with front(lowered, endpoints, socket_path) as client:
            auth = {"Authorization": f"Bearer {ws.admin_token}"}
            r = await client.post("/graphql", json={"query": HEAVY}, headers={**auth, "X-Request-Id": "relay-1"})
            assert r.status_code == 200 and r.headers.get("x-crm-lane") == "heavy-process", r.text
            assert names(r.json()) == ["Relay0", "Relay1", "Relay2"]
            assert r.headers["x-request-id"] == "relay-1" and r.headers["cache-control"] == "no-store"
            assert r.headers["content-type"] == "application/json"
            light = await client.post("/graphql", json={"query": LIGHT}, headers=auth)
            assert light.json()["data"]["me"]["id"] and "x-crm-lane" not in light.headers

            # One rate-limit count per request, taken where it ran (the front counted neither).
            second = await client.post("/graphql", json={"query": HEAVY}, headers=auth)
            assert second.headers.get("x-crm-lane") == "heavy-process"
            counts = [int(x.headers["ratelimit-remaining"]) for x in (r, light, second)]
            assert counts[0] - counts[2] == 2 and counts[0] - counts[1] == 1, counts

    reads = await rows(runtime, ws.slug, request_id="relay-1", action="READ")
    assert len(reads) == 3 and all(e.client_ip == "127.0.0.1" for e in reads)  # the client's, not the socket's
    assert all("hkid" in e.fields for e in reads)


async def test_without_the_heavy_lane_a_heavy_operation_runs_in_the_front(
    lowered: Settings, endpoints: main.Endpoints, ws: Workspace, socket_path: str
) -> None:
    async with front(lowered, endpoints, socket_path) as client:  # nothing listens on the socket
        r = await client.post("/graphql", json={"query": HEAVY}, headers={"Authorization": f"Bearer {ws.admin_token}"})
    assert r.status_code == 200 and "x-crm-lane" not in r.headers
    assert names(r.json()) == ["Relay0", "Relay1", "Relay2"]


async def test_a_heavy_lane_that_breaks_after_delivery_is_answered_internal_and_not_run_here(
    lowered: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace, socket_path: str
) -> None:
    delivered = asyncio.Event()

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request arrived ...
        delivered.set()
        writer.close()  # ... and the process died before answering

    server = await asyncio.start_unix_server(hang_up, socket_path)
    try:
        async with front(lowered, endpoints, socket_path) as client:
            r = await client.post("/graphql", json={"query": HEAVY},
                                  headers={"Authorization": f"Bearer {ws.admin_token}", "X-Request-Id": "relay-cut"})
    finally:
        server.close()
    assert delivered.is_set()
    error = r.json()["errors"][0]
    assert r.status_code == 200 and error["extensions"] == {"code": "INTERNAL", "requestId": "relay-cut"}
    assert r.json().get("data") is None
    assert await rows(runtime, ws.slug, request_id="relay-cut") == []  # not run a second time in the front


async def test_what_the_relay_cannot_estimate_stays_in_the_front(
    lowered: Settings, endpoints: main.Endpoints, ws: Workspace, socket_path: str
) -> None:
    with heavy_lane(lowered, endpoints, socket_path):
        async with front(lowered, endpoints, socket_path) as client:
            auth = {"Authorization": f"Bearer {ws.admin_token}"}
            json_type = {**auth, "Content-Type": "application/json"}
            broken = await client.post("/graphql", content=b"{not json", headers=json_type)
            invalid = await client.post("/graphql", json={"query": "{ contacts(first: 20) { nope } }"}, headers=auth)
            batch = await client.post("/graphql", json=[{"query": HEAVY}], headers=auth)
    for r in (broken, invalid, batch):
        assert "x-crm-lane" not in r.headers
        assert r.json()["errors"][0]["extensions"]["code"] in {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, r.text


def _heavy_document() -> tuple[str, str]:
    """A heavy document of its own (an operation name no other test uses: a text this process has not seen) and
    its id."""
    text = f"query Heavy{secrets.token_hex(4)} " + HEAVY
    return text, "sha256:" + hashlib.sha256(text.encode()).hexdigest()


async def test_a_heavy_document_sent_by_its_id_is_relayed_once_this_process_knows_it(
    lowered: Settings, endpoints: main.Endpoints, runtime: Runtime, ws: Workspace, socket_path: str
) -> None:
    registered, registered_id = _heavy_document()
    elsewhere, elsewhere_id = _heavy_document()
    # Registered by another process: only the database has it.
    await execute(runtime, ws.slug, "insert into trusted_documents (sha256, body, created_at) values (:h, :b, now())",
                  {"h": elsewhere_id.removeprefix("sha256:"), "b": elsewhere})
    with heavy_lane(lowered, endpoints, socket_path):
        async with front(lowered, endpoints, socket_path) as client:
            auth = {"Authorization": f"Bearer {ws.admin_token}"}
            mutation = "mutation($d: String!){ registerTrustedDocument(document: $d) { id } }"
            done = await client.post("/graphql", json={"query": mutation, "variables": {"d": registered}}, headers=auth)
            assert done.json()["data"]["registerTrustedDocument"]["id"] == registered_id, done.text
            by_id = await client.post("/graphql", json={"documentId": registered_id}, headers=auth)
            first = await client.post("/graphql", json={"documentId": elsewhere_id}, headers=auth)
            second = await client.post("/graphql", json={"documentId": elsewhere_id}, headers=auth)
            light = await client.post("/graphql", json={"documentId": "sha256:" + "0" * 64}, headers=auth)
    # Registered here: relayed from its first use; looked up here once: relayed from then on.
    assert by_id.headers.get("x-crm-lane") == "heavy-process" and names(by_id.json()) == ["Relay0", "Relay1", "Relay2"]
    assert "x-crm-lane" not in first.headers and names(first.json()) == ["Relay0", "Relay1", "Relay2"]
    assert second.headers.get("x-crm-lane") == "heavy-process" and second.json() == first.json()
    assert "x-crm-lane" not in light.headers  # an unknown id: nothing to estimate, answered here
    assert light.json()["errors"][0]["extensions"]["reason"] == "PERSISTED_DOCUMENT_NOT_FOUND"
