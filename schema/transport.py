"""The GraphQL endpoint's HTTP envelope: a request id, no-cache and no-sniff headers, a body cap.

Every response of `/graphql` carries `Cache-Control: no-store`, `X-Content-Type-Options: nosniff` and
`X-Request-Id`, the id the audit log records for the request (the client's own when it sends a short,
plain one, else a new one). The body is read while it streams in and refused with 413, in JSON, as soon
as it passes `max_body_bytes` (or at once when `Content-Length` says so): a 30 MB body is never held. A large
answer is written in pieces, with the event loop free between them.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
JSON = "application/json"


WRITE_CHUNK = 64 * 1024


async def _send_in_pieces(send: Send, message: Message) -> None:
    """A large body in pieces of `WRITE_CHUNK`, the loop free between two: one socket write of half a megabyte
    (a heavy query's answer) held the event loop 2-5 ms, in the kernel, while every other request waited."""
    body: bytes = message["body"]
    more = message.get("more_body", False)
    view = memoryview(body)
    for start in range(0, len(body), WRITE_CHUNK):
        piece = bytes(view[start : start + WRITE_CHUNK])
        last = start + WRITE_CHUNK >= len(body)
        await send({"type": "http.response.body", "body": piece, "more_body": more or not last})
        if not last:
            await asyncio.sleep(0)


def replaying(first: Message, receive: Receive) -> Receive:
    """`receive` that gives `first` once, then whatever follows (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return first

    return replay


def error_body(message: str, code: str = "BAD_USER_INPUT", **extensions: str) -> bytes:
    """A transport error in the shape of a GraphQL response: one error with a contract code (and `extensions`)."""
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}).encode()


def request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if REQUEST_ID.match(given):
                return given
    return uuid.uuid4().hex


class GraphQLTransport:
    """ASGI middleware in front of the GraphQL view."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        headers = [(k, v) for k, v in scope["headers"] if k != b"x-request-id"]
        scope = {**scope, "headers": [*headers, (b"x-request-id", request_id.encode())]}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["cache-control"] = "no-store"
                out["x-content-type-options"] = "nosniff"
                out["x-request-id"] = request_id
            elif message["type"] == "http.response.body" and len(message.get("body", b"")) > WRITE_CHUNK:
                await _send_in_pieces(send, message)
                return
            await send(message)

        if self._declared_length(scope) > self.max_body_bytes:
            await self._too_large(send_with_headers)
            return
        body = await self._read_capped(receive)
        if body is None:
            await self._too_large(send_with_headers)
            return
        await self.app(scope, replaying({"type": "http.request", "body": body, "more_body": False}, receive),
                       send_with_headers)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _read_capped(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it passes the cap (the rest is never read)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        body = error_body(f"the request body is larger than {self.max_body_bytes} bytes")
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": body})
