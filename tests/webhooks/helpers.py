"""A real HTTP receiver on loopback for webhook tests (a thread running http.server), and GraphQL snippets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from resolvers.runtime import Runtime
from tests.factories.workspaces import GraphQLClient, Workspace

ALL_EVENTS = ["contact.created", "contact.updated", "contact.erased", "activity.created", "data_request.created",
              "policy.changed"]
CREATE = "mutation($i:WebhookInput!){createWebhook(input:$i){secret webhook{id url events active}}}"
DELIVERIES = """query($w:ID){webhookDeliveries(webhookId:$w, first:50){edges{node{
  id eventId eventType status attempts responseCode latencyMs lastError nextAttemptAt deliveredAt}}}}"""


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (then 200); `hold` blocks the first request until set."""

    statuses: list[int] = field(default_factory=list)
    hold: threading.Event | None = None
    requests: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/crm"


@contextmanager
def receiver(statuses: list[int] | None = None, hold: threading.Event | None = None) -> Iterator[Receiver]:
    state = Receiver(list(statuses or []), hold)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                state.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                first = len(state.requests) == 1
                status = state.statuses.pop(0) if state.statuses else 200
            state.arrived.set()
            if first and state.hold is not None:
                state.hold.wait(120)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()


@contextmanager
def webhook_options(runtime: Runtime, **changes: Any) -> Iterator[None]:
    previous = runtime.webhooks
    runtime.webhooks = replace(previous, **changes)
    try:
        yield
    finally:
        runtime.webhooks = previous


async def create_webhook(
    gql: GraphQLClient, ws: Workspace, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    data = await gql.ok(CREATE, {"i": {"url": url, "events": events or ALL_EVENTS, "description": "test receiver"}},
                        ws.admin_token)
    return data["createWebhook"]  # type: ignore[no-any-return]


async def deliveries(gql: GraphQLClient, ws: Workspace, webhook_id: str) -> list[dict[str, Any]]:
    data = await gql.ok(DELIVERIES, {"w": webhook_id}, ws.admin_token)
    return [e["node"] for e in data["webhookDeliveries"]["edges"]]
