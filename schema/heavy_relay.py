"""Heavy operations answered by the heavy-lane process: a bulkhead between them and every other request.

One event loop serves every workspace of an API process. Turns, slices and the in-process heavy lane
(`resolvers.heavy_lane`) bound how long a heavy operation holds it, but every cheap request still waits behind
a slice of it at each of its own steps, and its garbage feeds the process's collections: with four clients
sending the most expensive accepted query, `/healthz` p99 went from about 1 ms to 12-24 ms (bench/abuse.py).
So `serve` runs a second process of the same app, at a lower OS priority (`cli.heavy_lane`), listening on a
Unix socket in a directory only this user can enter, and `HeavyRelay` sends it every POSTed operation whose
static cost is at least the heavy threshold: the same request (headers, body, the request id), with the
client's address in `X-Forwarded-For`, which that process trusts because nothing else can reach its socket.
It authenticates, rate-limits, executes and audits the operation itself, in its own lane; this process only
passes bytes, so its loop stays free for everyone else.

* The cost is the view's own estimate (`CrmGraphQL.cost_of`, from the document cache); anything it cannot
  estimate (not JSON, a document that does not validate) stays here, where the view answers or refuses it as
  before. A persisted `documentId` is estimated from its text once this process knows it (it registered the
  document, or answered it once: `resolvers.documents.known_text`); until then it runs here, in this process's
  lane.
* When the heavy-lane process cannot be reached (starting, restarting after a crash), the operation runs here,
  in this process's lane: nothing was delivered, so nothing runs twice.
* Once the request was delivered, a broken or late answer is answered INTERNAL with the request id and never
  retried here: the other process may have run it.
* Outside production a relayed answer carries `X-Crm-Lane: heavy-process` (for tests and benches).
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers import documents
from schema.http_view import CrmGraphQL
from schema.transport import JSON, error_body, replaying, request_id_of

log = logging.getLogger("crm.heavy_relay")
LANE_HEADER = b"x-crm-lane"
# Hop-by-hop headers (RFC 9110 7.6.1) and those the relay sets itself: never passed through.
_REQUEST_DROPPED = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"upgrade", b"host",
    b"content-length", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded",
})
_RESPONSE_DROPPED = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"date", b"server"})
# Connections to the heavy-lane process a relay keeps: more than its lane runs at once, so queued operations
# wait there (within the operation timeout), not here.
MAX_CONNECTIONS = 64
UNREACHABLE_LOG_EVERY_S = 30.0


class HeavyRelay:
    """ASGI middleware in front of the GraphQL view, behind `GraphQLTransport` (which has read the whole body)."""

    def __init__(self, app: ASGIApp, *, view: CrmGraphQL, socket_path: str) -> None:
        self.app = app
        self.view = view
        self.socket_path = socket_path
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._unreachable_logged = float("-inf")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        first = await receive()
        body: bytes = first.get("body", b"")
        replay = replaying(first, receive)
        if not self._is_heavy(body):
            await self.app(scope, replay, send)
            return
        try:
            await self._relay(scope, body, send)
        except httpx.ConnectError:  # nothing delivered: run it here, in this process's own lane
            self._log_unreachable()
            await self.app(scope, replay, send)

    def _is_heavy(self, body: bytes) -> bool:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        query, name = data.get("query"), data.get("operationName")
        if query is None and isinstance(data.get("documentId"), str):
            query = documents.known_text(data["documentId"])  # None until this process has seen the document
        if not isinstance(query, str) or not isinstance(name, str | None) or len(query) > self.view.max_document_chars:
            return False
        cost = self.view.cost_of(query, name)
        return cost is not None and cost >= self.view.heavy_cost

    async def _relay(self, scope: Scope, body: bytes, send: Send) -> None:
        request_id = request_id_of(scope)  # the transport's, already in the headers
        started = False
        try:
            async with self._client().stream(
                "POST", _target(scope), content=body, headers=_forwarded_headers(scope)
            ) as upstream:
                headers = [(k.lower(), v) for k, v in upstream.headers.raw if k.lower() not in _RESPONSE_DROPPED]
                if not self.view.production:
                    headers.append((LANE_HEADER, b"heavy-process"))
                await send({"type": "http.response.start", "status": upstream.status_code, "headers": headers})
                started = True
                async for chunk in upstream.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.ConnectError:
            raise
        except httpx.HTTPError as exc:
            log.warning("request %s: the heavy-lane process did not answer (%s)", request_id, type(exc).__name__)
            if started:
                raise  # part of the answer left: the server closes the connection, the client sees it cut
            await _internal(send, request_id, "the operation could not be completed; it may or may not have run")

    def _client(self) -> httpx.AsyncClient:
        """This loop's client (a client's connections belong to the loop that opened them; tests serve apps
        from several)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for other in [other for other in self._clients if other.is_closed()]:
                del self._clients[other]
            timeout = self.view.operation_timeout_s + 15  # the other process's own timeout answers first
            client = self._clients[loop] = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=self.socket_path, retries=0),
                base_url="http://heavy-lane",
                timeout=httpx.Timeout(timeout, connect=2.0),
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
            )
        return client

    async def aclose(self) -> None:
        """Close the running loop's client (the app's shutdown)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def _log_unreachable(self) -> None:
        now = time.monotonic()
        if now - self._unreachable_logged >= UNREACHABLE_LOG_EVERY_S:
            self._unreachable_logged = now
            log.warning("the heavy-lane process at %s cannot be reached: heavy operations run here until it is back",
                        self.socket_path)


def _target(scope: Scope) -> str:
    query: bytes = scope.get("query_string", b"")
    path = scope.get("root_path", "") + scope["path"]
    return f"{path}?{query.decode('latin-1')}" if query else path


def _forwarded_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The client's headers, less hop-by-hop ones, plus the address and scheme this process saw."""
    headers = [(k, v) for k, v in scope["headers"] if k not in _REQUEST_DROPPED]
    client = scope.get("client")
    if client:
        headers.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode("latin-1")))
    return headers


async def _internal(send: Send, request_id: str, message: str) -> None:
    body = error_body(message, "INTERNAL", requestId=request_id)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
