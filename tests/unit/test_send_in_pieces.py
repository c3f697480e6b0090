"""A large answer leaves in pieces of WRITE_CHUNK with the loop free between them; small ones in one message."""

from __future__ import annotations

import os
from typing import Any

from schema.transport import WRITE_CHUNK, GraphQLTransport


async def _answer(body: bytes) -> list[dict[str, Any]]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}
    await GraphQLTransport(app, max_body_bytes=1024)(scope, receive, send)
    return sent


async def test_a_large_answer_is_sent_in_pieces_that_add_up_to_it() -> None:
    body = os.urandom(5 * WRITE_CHUNK + 123)
    sent = await _answer(body)
    pieces = [m for m in sent if m["type"] == "http.response.body"]
    assert len(pieces) == 6
    assert all(len(p["body"]) <= WRITE_CHUNK for p in pieces)
    assert b"".join(p["body"] for p in pieces) == body
    assert [p["more_body"] for p in pieces] == [True] * 5 + [False]
    start = sent[0]
    assert start["type"] == "http.response.start" and (b"cache-control", b"no-store") in start["headers"]


async def test_a_small_answer_is_one_message() -> None:
    body = b'{"data":{}}'
    pieces = [m for m in await _answer(body) if m["type"] == "http.response.body"]
    assert pieces == [{"type": "http.response.body", "body": body}]
